"""Benchmark (lent GPU; dev claims only): does the corpus-only site recipe gain from scale?

Every corpus-only run so far (docs/benchmarks.md, "(3)"–"(3e)") trained on 1,500 sampled generated queries, one
epoch, batch 32 — what this CPU affords. This asks what a GPU would buy a site owner: all the generated queries
(21,778 from the default generators, 14,576 from ``titles,cloze``), more in-batch negatives (batch 256–1024) and
more epochs, each with the site recipe's mined hard negative and its merge with the base model.

Two steps::

    # here (CPU): the inputs, into a folder the device tool carries (.gpu is in .git/info/exclude)
    embedtune site build ../shared/data/scifact/corpus.jsonl -o bench/out/gpu/data-default --max-train-pairs 1000000 \\
        --max-tokens 512 --seed 42 --overwrite -q
    embedtune site build ... -o bench/out/gpu/data-tc --generators titles,cloze ...   # same flags
    .venv/bin/python bench/gpu_site_scale.py prepare --site bench/out/gpu/data-default --site bench/out/gpu/data-tc \\
        --split bench/out/gpu/sf-split --out .gpu
    # on the device (its python3 has torch and sentence-transformers; embedtune is not installed there)
    python3 bench/gpu_site_scale.py run --inputs .gpu --out $OUT

``run`` trains each variant with sentence-transformers' model modules and MNRL as ``embedtune train`` does (scale
20, no-duplicates batches, AdamW with weight decay 0.01, linear schedule after 10% warmup, bf16 autocast), mines
one hard negative per pair with the base model as ``embedtune train`` does (ranks 10–50, relative margin 0.05,
random corpus negatives where none qualifies), merges 0.5 with the base model, and screens the tuned and the
merged model on the 81 real dev claims of ``bench/scifact.py``'s split: dense NDCG@10, and the hybrid with BM25 at
the documented default fusion (z-score, 0.7 / 0.3, top 100 of each). The test claims are not carried. The
candidate with the best dev hybrid at the default fusion comes back as fp16 safetensors in parts
(``model.safetensors.part*``; ``reassemble`` rebuilds a model folder here), to be scored by ``bench/hybrid_dev.py``
and, only if its gate is met, on test by ``embedtune eval``.

The base model's weights travel as fp16 (the tool carries 64 MiB; the fp32 file is 87 MiB): on the device the base,
the starting point and the merge partner are the fp16-rounded weights, cast back to fp32. The screening numbers
include the base model so the rounding's effect is visible against the CPU's fp32 figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PART_BYTES = 15 * 2**20


def prepare(args: argparse.Namespace) -> None:
    import numpy as np
    from safetensors.numpy import load_file, save_file

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scifact import make_split  # the dev claims every SciFact dev-only bench uses

    from embedtune.base_model import bundled_model_dir
    from embedtune.data.beir import load_retrieval_split, read_corpus, read_qrels, read_queries
    from embedtune.eval.systems import BM25System

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = bundled_model_dir()
    model_dir = out / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(base, model_dir, ignore=shutil.ignore_patterns("model.safetensors", "README.md", "data_config.json"))
    weights = load_file(str(base / "model.safetensors"))
    save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()},
              str(model_dir / "model.safetensors"))

    # Texts: the site's passages first (the mining pool), then the positives that are no passage (titles and
    # cloze cut their query out of the passage). A row: [query, positive's index, source passage's index].
    passages: dict[str, int] = {}
    for site in args.site:
        for doc in read_corpus(Path(site) / "corpus.jsonl").values():
            passages.setdefault(doc.full_text, len(passages))
    n_corpus = len(passages)
    sets: dict[str, list[list]] = {}
    for site in map(Path, args.site):
        corpus = read_corpus(site / "corpus.jsonl")
        queries = read_queries(site / "queries.jsonl")
        source = {queries[qid]: passages[corpus[doc_id].full_text]
                  for qid, docs in read_qrels(site / "qrels" / "train.tsv", corpus, queries).items() for doc_id in docs}
        rows = []
        with open(site / "pairs.jsonl", encoding="utf-8") as f:
            for line in f:
                pair = json.loads(line)
                rows.append([pair["anchor"], passages.setdefault(pair["positive"], len(passages)), source[pair["anchor"]]])
        name = ",".join(json.loads((site / "embedtune.json").read_text())["generators"])
        sets[name] = rows
        print(f"{site}: {len(rows)} pairs ({name}), {sum(r[1] != r[2] for r in rows)} with a cut-out positive")
    texts = [t for t, _ in sorted(passages.items(), key=lambda kv: kv[1])]
    with gzip.open(out / "train.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"passages": texts, "n_corpus": n_corpus, "sets": sets}, f)

    split_dir = Path(args.split)
    if not (split_dir / "qrels" / "dev.tsv").exists():
        make_split(Path(args.scifact), split_dir, 0.1, 42)
    dev = load_retrieval_split(split_dir, "dev")
    bm25 = BM25System().rank(dev, 100)
    doc_ids = list(dev.corpus)
    evaluation = {
        "doc_ids": doc_ids,
        "doc_texts": [dev.corpus[d].full_text for d in doc_ids],
        "query_ids": list(dev.query_ids),
        "queries": [dev.queries[q] for q in dev.query_ids],
        "qrels": {q: dict(dev.qrels[q]) for q in dev.query_ids},
        "bm25": {q: [[d, float(s)] for d, s in bm25[q]] for q in dev.query_ids},
    }
    with gzip.open(out / "eval.json.gz", "wt", encoding="utf-8") as f:
        json.dump(evaluation, f)
    print(f"{len(texts)} passages, {len(doc_ids)} eval documents, {len(dev.query_ids)} dev claims -> {out}")


# ---------------------------------------------------------------------------------------------- device side


def ndcg10(ranked: list[str], rel: dict[str, int]) -> float:
    dcg = sum((2 ** rel.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def normalise(scores: dict[str, float], norm: str) -> dict[str, float]:
    values = list(scores.values())
    if norm == "zmuv":
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        return {d: (s - mean) / std for d, s in scores.items()}
    lo, hi = min(values), max(values)
    return {d: (s - lo) / ((hi - lo) or 1.0) for d, s in scores.items()}


def fuse(dense: dict[str, float], lexical: dict[str, float], w: float, norm: str) -> list[str]:
    a, b = normalise(dense, norm), normalise(lexical, norm)
    fused = {d: w * a.get(d, 0.0) + (1 - w) * b.get(d, 0.0) for d in set(a) | set(b)}
    return sorted(fused, key=lambda d: -fused[d])


def run(args: argparse.Namespace) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import get_linear_schedule_with_warmup

    start = time.time()
    inputs, out = Path(args.inputs), Path(args.out)
    torch.backends.cuda.matmul.allow_tf32 = True
    with gzip.open(inputs / "train.json.gz", "rt", encoding="utf-8") as f:
        train = json.load(f)
    with gzip.open(inputs / "eval.json.gz", "rt", encoding="utf-8") as f:
        ev = json.load(f)
    passages: list[str] = train["passages"]
    device = args.device
    if args.smoke:  # a CPU check of the whole step on a sliver of the data
        ev["doc_texts"], ev["doc_ids"] = ev["doc_texts"][:300], ev["doc_ids"][:300]
        keep = {j for v in train["sets"].values() for r in v[:60] for j in r[1:]}
        train["sets"] = {k: v[:60] for k, v in train["sets"].items()}
        passages = [t if j in keep or j < 400 else "" for j, t in enumerate(passages)]
    model = SentenceTransformer(str(inputs / "model"), device=device).float()
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    print(f"loaded in {time.time() - start:.0f} s; max_seq_length {model.max_seq_length}; "
          f"{torch.cuda.get_device_name() if device == 'cuda' else device}", flush=True)

    def encode(texts: list[str]) -> torch.Tensor:
        with torch.autocast(device, dtype=torch.bfloat16):
            return model.encode(texts, batch_size=256, convert_to_tensor=True, normalize_embeddings=True).float()

    def screen(tag: str) -> dict:
        model.eval()
        docs = encode(ev["doc_texts"])
        queries = encode(ev["queries"])
        top = torch.topk(queries @ docs.T, 100, dim=1)
        dense_runs = {q: {ev["doc_ids"][j]: float(s) for s, j in zip(top.values[i].tolist(), top.indices[i].tolist(), strict=True)}
                      for i, q in enumerate(ev["query_ids"])}
        result = {"dense": _mean(ndcg10(list(r), ev["qrels"][q]) for q, r in dense_runs.items())}
        grid = {}
        for norm in ("zmuv", "min-max"):
            for w10 in range(11):
                w = w10 / 10
                grid[f"{norm} {w:.1f}"] = _mean(
                    ndcg10(fuse(dense_runs[q], dict(ev["bm25"][q]), w, norm), ev["qrels"][q]) for q in ev["query_ids"])
        best = max(grid, key=lambda k: grid[k])
        result.update({"hybrid_default": grid["zmuv 0.7"], "hybrid_best": grid[best], "hybrid_best_fusion": best,
                       "bm25": grid["zmuv 0.0"]})
        print(f"  {tag:40s} dense {result['dense']:.4f}  hybrid@z0.7 {result['hybrid_default']:.4f}  "
              f"best {result['hybrid_best']:.4f} ({best})", flush=True)
        return result

    results: dict = {"base": screen("base (fp16-rounded weights)"), "variants": {}}
    model.max_seq_length = 256
    n_corpus = train["n_corpus"]
    all_emb = encode(passages)  # the base model's texts: passages (the mining pool) and cut-out positives
    passage_emb, pos_emb = all_emb[:n_corpus], all_emb

    def mined(rows: list[list], seed: int) -> tuple[list[tuple[str, int, int]], int]:
        rng = random.Random(seed)
        own: dict[str, set[int]] = {}  # a query's positives and source passages: never its negative
        for anchor, p, src in rows:
            own.setdefault(anchor, set()).update((p, src))
        q = encode([a for a, _, _ in rows])
        triples, n_random = [], 0
        for lo in range(0, len(rows), 4096):
            sims = q[lo:lo + 4096] @ passage_emb.T
            ranked = torch.topk(sims, 50, dim=1).indices.tolist()
            for i, cand in enumerate(ranked):
                anchor, pos, _ = rows[lo + i]
                pos_sim = float(q[lo + i] @ pos_emb[pos]) if pos >= n_corpus else float(sims[i, pos])
                neg = next((j for j in cand[10:50] if j not in own[anchor] and float(sims[i, j]) < 0.95 * pos_sim), None)
                if neg is None:
                    n_random += 1
                    neg = rng.choice([j for j in rng.sample(range(n_corpus), 8) if j not in own[anchor]])
                triples.append((anchor, pos, neg))
        return triples, n_random

    def batches(triples: list, size: int, rng: random.Random) -> list[list]:
        order = list(range(len(triples)))
        rng.shuffle(order)
        # sentence-transformers' no-duplicates sampler: no text twice in a batch (a repeated passage would be a
        # false negative); an item that clashes waits for the next batch.
        out_batches: list[list] = []
        batch: list = []
        seen: set = set()
        pending: list[int] = []
        for i in order:
            for j in [*pending, i] if not batch else [i]:
                a, p, n = triples[j]
                keys = (("q", a), ("p", p), ("p", n))
                if any(k in seen for k in keys):
                    if j == i:
                        pending.append(i)
                    continue
                batch.append(triples[j])
                seen.update(keys)
                if j != i:
                    pending.remove(j)
                if len(batch) == size:
                    out_batches.append(batch)
                    batch, seen = [], set()
        leftover = [triples[j] for j in pending]
        if batch or leftover:
            out_batches.append(batch + leftover[: max(0, size - len(batch))])
        return out_batches

    def train_variant(name: str, sets: list[str], n_pairs: int | None, batch_size: int, lr: float, epochs: int,
                      seed: int = 42) -> None:
        t0 = time.time()
        model.load_state_dict(base_state)
        rows = [r for s in sets for r in train["sets"][s]]
        rng = random.Random(seed)
        if n_pairs:
            rows = rng.sample(rows, n_pairs)
        triples, n_random = mined(rows, seed)
        torch.manual_seed(seed)
        plan = [batches(triples, batch_size, rng) for _ in range(epochs)]
        steps = sum(len(p) for p in plan)
        decay = [p for n, p in model.named_parameters() if not any(k in n for k in ("bias", "LayerNorm"))]
        no_decay = [p for n, p in model.named_parameters() if any(k in n for k in ("bias", "LayerNorm"))]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
        sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
        model.train()
        losses = []
        for plan_epoch in plan:
            for batch in plan_epoch:
                anchors = [a for a, _, _ in batch]
                cands = [passages[p] for _, p, _ in batch] + [passages[n] for _, _, n in batch]
                with torch.autocast(device, dtype=torch.bfloat16):
                    qa = model(_to(tokenize(anchors), device))["sentence_embedding"]
                    ca = model(_to(tokenize(cands), device))["sentence_embedding"]
                    logits = 20.0 * torch.nn.functional.normalize(qa.float(), dim=-1) @ \
                        torch.nn.functional.normalize(ca.float(), dim=-1).T
                loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch), device=device))
                loss.backward()
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                losses.append(float(loss))
        train_s = time.time() - t0
        tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
        row = {"sets": sets, "pairs": len(triples), "random_negatives": n_random, "batch_size": batch_size, "lr": lr,
               "epochs": epochs, "steps": steps, "loss_first_10pct": _mean(losses[: max(1, steps // 10)]),
               "loss_last_10pct": _mean(losses[-max(1, steps // 10):]), "train_s": round(train_s, 1)}
        print(f"{name}: {len(triples)} pairs ({n_random} random negatives), {steps} steps, loss "
              f"{row['loss_first_10pct']:.3f} -> {row['loss_last_10pct']:.3f}, {train_s:.0f} s", flush=True)
        row["tuned"] = screen(f"{name} tuned")
        model.load_state_dict({k: 0.5 * base_state[k] + 0.5 * tuned[k] if tuned[k].is_floating_point() else tuned[k]
                               for k in tuned})
        row["merged"] = screen(f"{name} merged 0.5")
        row["state"] = {"tuned": tuned}
        results["variants"][name] = row

    default, tc = "headings,keywords,sentences", "titles,cloze"
    plan = [
        ("repro-1500-b32", [default], 1500, 32, 2e-5, 1),
        ("default-all-b32", [default], None, 32, 2e-5, 1),
        ("default-all-b256", [default], None, 256, 5e-5, 1),
        ("mixed-all-b256", [default, tc], None, 256, 5e-5, 1),
        ("tc-all-b256", [tc], None, 256, 5e-5, 1),
        ("mixed-all-b256-e3", [default, tc], None, 256, 5e-5, 3),
        ("default-all-b1024-e2", [default], None, 1024, 1e-4, 2),
    ]
    if args.smoke:
        plan = [(name, sets, None, 8, lr, 1) for name, sets, _, _, lr, _ in plan[:2]]
    for name, sets, n, bs, lr, ep in plan:
        if time.time() - start > args.budget_s:
            print(f"time budget reached: {name} and later variants not run", flush=True)
            break
        train_variant(name, sets, n, bs, lr, ep)

    # The candidate that comes back: the best dev hybrid at the documented default fusion (tuned or merged).
    candidates = [(row[kind]["hybrid_default"], row[kind]["dense"], name, kind)
                  for name, row in results["variants"].items() for kind in ("tuned", "merged")]
    _, _, name, kind = max(candidates)
    tuned = results["variants"][name]["state"]["tuned"]
    state = tuned if kind == "tuned" else {k: 0.5 * base_state[k] + 0.5 * tuned[k] if tuned[k].is_floating_point()
                                           else tuned[k] for k in tuned}
    from safetensors.torch import load_file, save

    # Saved through sentence-transformers so that the file has the model folder's own tensor names.
    model.load_state_dict(state)
    model.save(str(out / "chosen"))
    blob = save({k: v.half().contiguous() for k, v in load_file(str(out / "chosen" / "model.safetensors")).items()})
    shutil.rmtree(out / "chosen")
    for i in range(0, len(blob), PART_BYTES):
        (out / f"model.safetensors.part{i // PART_BYTES}").write_bytes(blob[i:i + PART_BYTES])
    for row in results["variants"].values():
        row.pop("state")
    results["chosen"] = {"variant": name, "kind": kind, "rule": "best dev hybrid at z-score 0.7 / 0.3"}
    results["wall_s"] = round(time.time() - start, 1)
    (out / "screen.json").write_text(json.dumps(results, indent=1))
    print(f"chosen: {name} ({kind}); {results['wall_s']} s", flush=True)


def _to(features: dict, device: str) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def reassemble(args: argparse.Namespace) -> None:
    """Parts (fp16) → a model folder here: the carried base folder's files, the weights cast back to fp32."""
    import numpy as np
    from safetensors.numpy import load, save_file

    from embedtune.base_model import bundled_model_dir

    parts = sorted(Path(args.parts).glob("model.safetensors.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1]))
    weights = load(b"".join(p.read_bytes() for p in parts))
    out = Path(args.out)
    shutil.copytree(bundled_model_dir(), out, ignore=shutil.ignore_patterns("model.safetensors"), dirs_exist_ok=True)
    save_file({k: v.astype(np.float32) for k, v in weights.items()}, str(out / "model.safetensors"))
    print(f"{len(weights)} tensors from {len(parts)} parts -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--site", action="append", required=True, help="a site build's DATA_DIR (repeatable)")
    p.add_argument("--split", required=True, help="bench/scifact.py's split of SciFact (made here if absent)")
    p.add_argument("--scifact", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"))
    p.add_argument("--out", default=".gpu")
    r = sub.add_parser("run")
    r.add_argument("--inputs", default=".gpu")
    r.add_argument("--out", required=True)
    r.add_argument("--budget-s", type=float, default=420, help="start no variant after this many seconds")
    r.add_argument("--device", default="cuda")
    r.add_argument("--smoke", action="store_true", help="a few pairs and documents, to check the step on a CPU")
    a = sub.add_parser("reassemble")
    a.add_argument("--parts", required=True)
    a.add_argument("--out", required=True)
    args = parser.parse_args()
    {"prepare": prepare, "run": run, "reassemble": reassemble}[args.step](args)


if __name__ == "__main__":
    main()
