"""SciFact supervised hybrid, dev only: what each fusion setting reaches on the dev split (never reads test).

For each model given, ranks the data folder's ``dev`` split with the model and with BM25 (the default
k1/b and the ``--bm25`` grid), then lets :func:`embedtune.fusion.choose_fusion` pick the best weighted
sum (both normalisations) and, separately, the best RRF, at each candidate depth. The figure to compare
models and settings by is the dev NDCG@10 of the chosen hybrid — the same number ``fusion.json``
records as ``dev_metric.hybrid`` when ``embedtune eval`` chooses the fusion on that split.

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/hybrid_dev.py --data bench/out/scifact-e3keep/data \\
        --model bench/out/scifact-e3keep/model --depths 50,100,200 --bm25 1.2:0.75,0.9:0.4

``--third PATH`` also fuses three parts per model — the model, a second dense model (e.g. the base model) and
BM25 — chosen the same way, to see whether the base model adds to the fine-tune's hybrid.

``--model PATH@512`` scores the same model with documents encoded up to 512 tokens (the model's own
``max_seq_length`` otherwise), to see whether truncation costs it.

Each model's hybrid at the documented default fusion (z-score 0.7 / 0.3: what a folder without real dev
queries gets) is scored too. With ``--compare``, each model's hybrid (the product's choice: default BM25, the
first depth, weighted sum; and the documented default) is also compared with the first model's by the paired bootstrap over the dev queries, so a difference
between two recipes can be read against its noise.

Results: ``bench/out/hybrid/dev-<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

OUT = Path(__file__).resolve().parent / "out" / "hybrid"


def main() -> None:
    parser = dev_parser(__doc__)
    parser.add_argument("--model", action="append", required=True,
                        help="repeatable; PATH@N encodes queries and documents with at most N tokens instead of the "
                             "model's own max_seq_length")
    parser.add_argument("--depths", default="100", help="comma-separated candidates per part")
    parser.add_argument("--bm25", default="", help="extra k1:b pairs, comma-separated (1.5:0.75 is always run)")
    parser.add_argument("--third", default=None, help="a second dense model fused as a third part (model, PATH, bm25)")
    parser.add_argument("--compare", action="store_true",
                        help="paired bootstrap (NDCG@10 per dev query) of each model's hybrid against the first model's")
    args = parse_dev_args(parser)

    from embedtune import bm25
    from embedtune.eval.bootstrap import compare
    from embedtune.eval.systems import BM25System, DenseSystem
    from embedtune.fusion import DEFAULT_FUSION, choose_fusion, fuse_runs

    depths = [int(d) for d in args.depths.split(",")]
    top = max(depths)
    ret, qrels, relevant = load_dev(args.data, args.split)
    grid = [(bm25.K1, bm25.B)] + [tuple(float(x) for x in kb.split(":")) for kb in args.bm25.split(",") if kb]
    lexical = {f"bm25 k1={k1:g} b={b:g}": BM25System(k1, b).rank(ret, top) for k1, b in grid}
    result: dict = {"data": str(args.data), "split": args.split, "n_queries": len(qrels), "models": {}}
    third = DenseSystem("third", args.third).rank(ret, top) if args.third else None  # ranked once for all models
    product_ndcg: dict[str, list[float]] = {}  # model -> NDCG@10 per dev query of the product's hybrid
    default_ndcg: dict[str, list[float]] = {}  # the same at the documented default fusion (no dev queries to choose on)
    for model in args.model:
        path, _, tokens = model.partition("@")
        dense = DenseSystem("model", path, max_seq_length=int(tokens) if tokens else None).rank(ret, top)
        rows = []
        for lex_name, lex_run in lexical.items():
            for depth in depths:
                runs = {"model": dense, "bm25": lex_run}
                for methods in (("wsum",), ("rrf",)):
                    spec = choose_fusion(runs, qrels, split=args.split, data=str(args.data), depth=depth,
                                         methods=methods)
                    if methods == ("wsum",) and lex_name == next(iter(lexical)) and depth == depths[0]:
                        product_ndcg[model] = per_query_ndcg(fuse_runs(spec, runs, k=depth), ret.query_ids, relevant)
                    rows.append({"lexical": lex_name, "depth": depth, "fusion": spec.describe(),
                                 **{k: spec.dev_metric[k] for k in ("hybrid", "model", "bm25")}})
                    print(f"{model} | {lex_name} | depth {depth} | {spec.describe():32s} | hybrid "
                          f"{spec.dev_metric['hybrid']:.4f} model {spec.dev_metric['model']:.4f} "
                          f"bm25 {spec.dev_metric['bm25']:.4f}", flush=True)
        fused = fuse_runs(DEFAULT_FUSION, {"model": dense, "bm25": next(iter(lexical.values()))}, k=top)
        default_ndcg[model] = per_query_ndcg(fused, ret.query_ids, relevant)
        rows.append({"lexical": next(iter(lexical)), "depth": top, "fusion": f"{DEFAULT_FUSION.describe()} (documented default)",
                     "hybrid": sum(default_ndcg[model]) / len(default_ndcg[model])})
        print(f"{model} | documented default {DEFAULT_FUSION.describe()} | hybrid {rows[-1]['hybrid']:.4f}", flush=True)
        if args.third:
            runs3 = {"model": dense, "third": third, "bm25": next(iter(lexical.values()))}
            for depth in depths:
                spec = choose_fusion(runs3, qrels, split=args.split, data=str(args.data), depth=depth, methods=("wsum",))
                rows.append({"lexical": next(iter(lexical)), "depth": depth, "fusion": spec.describe(), "parts": 3,
                             **{k: spec.dev_metric[k] for k in ("hybrid", "model", "third", "bm25")}})
                print(f"{model} + {args.third} + bm25 | depth {depth} | {spec.describe():48s} | hybrid "
                      f"{spec.dev_metric['hybrid']:.4f} third {spec.dev_metric['third']:.4f}", flush=True)
        result["models"][model] = rows
    if args.compare:
        first = args.model[0]
        result["comparisons"] = []
        for model in args.model[1:]:
            c = compare(f"hybrid of {model}", f"hybrid of {first}", "ndcg@10", product_ndcg[model], product_ndcg[first])
            result["comparisons"].append(c.to_dict())
            print(c.sentence(), flush=True)
            c = compare(f"default-fusion hybrid of {model}", f"default-fusion hybrid of {first}", "ndcg@10",
                        default_ndcg[model], default_ndcg[first])
            result["comparisons"].append(c.to_dict())
            print(c.sentence(), flush=True)
    write_result(result, f"dev-{args.name}")


def dev_parser(doc: str | None) -> argparse.ArgumentParser:
    """The arguments every dev-only SciFact bench takes: ``--data``, ``--split`` (never test), ``--name``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--name", default="scifact", help="names the result file")
    return parser


def parse_dev_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse; a test split is refused (these scripts choose on dev — test is read once, by embedtune eval)."""
    args = parser.parse_args()
    if args.split == "test":
        parser.error("this script chooses on dev; the test split is evaluated once, with embedtune eval")
    return args


def write_result(result: dict, stem: str) -> Path:
    """``bench/out/hybrid/<stem>.json``."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def load_dev(data: Path, split: str):
    """The split, its qrels (``{query: {doc: grade}}``) and each query's relevant documents."""
    from embedtune.data.beir import load_retrieval_split

    ret = load_retrieval_split(data, split)
    return ret, {q: dict(ret.qrels[q]) for q in ret.query_ids}, {q: ret.relevant(q) for q in ret.query_ids}


def per_query_ndcg(run, query_ids: list[str], relevant: dict) -> list[float]:
    """NDCG@10 of ``run`` per query, in ``query_ids`` order (what the paired bootstrap compares)."""
    from embedtune.metrics import per_query_metrics

    per_query = per_query_metrics({q: [d for d, _ in run.get(q, [])] for q in query_ids}, relevant)
    return [per_query[q]["ndcg@10"] for q in query_ids]


if __name__ == "__main__":
    main()
