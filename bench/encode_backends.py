"""Encode throughput of each backend beside stock SentenceTransformer.encode, in the same run.

    nice -n 10 .venv/bin/python bench/encode_backends.py --n 1000 --batch-size 32

Texts: the first N SciFact abstract sentences (~35 tokens, like MEASUREMENTS.md). Each backend
encodes the same texts; agreement with the stock fp32 model is mean cosine, top-10 overlap and
top-1 agreement when every text is used as a query against the others. Encoders use all cores.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from embedtune.encoders import OnnxEncoder, OpenVinoEncoder, TorchEncoder, check_agreement

SCIFACT = Path("/work/shared/data/scifact")


def sentences(n: int) -> list[str]:
    out: list[str] = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", json.loads(line)["text"]):
                if 60 <= len(s) <= 300:
                    out.append(s)
                    if len(out) == n:
                        return out
    return out


def timed(fn, texts, repeats: int) -> tuple[float, object]:
    fn(texts[:64])  # warm-up
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and onnxruntime (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    texts = sentences(args.n)
    stock = TorchEncoder(args.model)
    rate, reference = timed(lambda t: stock.model.encode(t, batch_size=args.batch_size, normalize_embeddings=True), texts, args.repeats)
    rows = [{"backend": "stock SentenceTransformer.encode (torch fp32)", "sentences_per_s": round(rate, 1), "speedup": 1.0}]
    stock_rate = rate
    for name, enc in (("embedtune torch", stock), ("onnx", OnnxEncoder(args.model, threads=args.threads)),
                      ("onnx-int8", OnnxEncoder(args.model, quantized=True, threads=args.threads)),
                      ("openvino (fp32 forced)", OpenVinoEncoder(args.model, threads=args.threads, precision="f32")),
                      ("openvino (default precision)", OpenVinoEncoder(args.model, threads=args.threads))):
        rate, vectors = timed(lambda t, e=enc: e.encode(t, batch_size=args.batch_size), texts, args.repeats)
        a = check_agreement(reference, vectors, name)
        rows.append({"backend": name, "sentences_per_s": round(rate, 1), "speedup": round(rate / stock_rate, 2),
                     "mean_cosine": round(a.mean_cosine, 5), "top10_overlap": round(a.top10_overlap, 3), "top1_same": round(a.top1_same, 3)})
    print(f"{len(texts)} sentences, batch {args.batch_size}, best of {args.repeats}, threads {args.threads or 'all'}")
    print("| backend | sentences/s | vs stock | mean cosine | top-10 overlap | top-1 same |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['sentences_per_s']} | {r['speedup']}x | {r.get('mean_cosine', '-')} | "
              f"{r.get('top10_overlap', '-')} | {r.get('top1_same', '-')} |")


if __name__ == "__main__":
    main()
