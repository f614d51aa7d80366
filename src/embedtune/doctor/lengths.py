"""Texts longer than ``max_seq_length`` tokens, which the model silently truncates [``long_texts``]."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from embedtune.base_model import DEFAULT_BASE_MODEL, load_tokenizer
from embedtune.data.records import Pair
from embedtune.doctor.findings import Finding, FindingCode, percent

#: Warn when more than this share of anchors or positives exceed ``max_seq_length`` tokens.
LONG_TEXT_WARN_SHARE = 0.10
#: At most this many distinct texts per column are tokenized (a fixed-seed sample beyond that).
MAX_TOKENIZED_TEXTS = 10_000


@lru_cache(maxsize=2)
def load_base_tokenizer(model: str = DEFAULT_BASE_MODEL) -> Any:
    """The base model's tokenizer (:func:`embedtune.base_model.load_tokenizer`), loaded once per process."""
    return load_tokenizer(model)


def _token_lengths(texts: Sequence[str], tokenizer: Any) -> tuple[list[int], bool]:
    """Token counts (with special tokens, as sentence-transformers counts them) per row of ``texts``.

    Distinct texts are tokenized once; beyond :data:`MAX_TOKENIZED_TEXTS` distinct texts a
    fixed-seed sample of rows is measured instead, and the second value says so.
    """
    rows = list(texts)
    sampled = False
    if len(set(rows)) > MAX_TOKENIZED_TEXTS:
        rows = random.Random(0).sample(rows, MAX_TOKENIZED_TEXTS)
        sampled = True
    distinct = sorted(set(rows))
    lengths: dict[str, int] = {}
    for start in range(0, len(distinct), 1024):
        chunk = distinct[start : start + 1024]
        encoded = tokenizer(chunk, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        lengths.update(zip(chunk, (len(ids) for ids in encoded), strict=True))
    return [lengths[t] for t in rows], sampled


def _percentiles(values: Sequence[int]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
        "mean": round(float(arr.mean()), 1),
    }


def check_lengths(
    pairs: Sequence[Pair], tokenizer: Any, max_seq_length: int, stats: dict[str, Any]
) -> list[Finding]:
    findings: list[Finding] = []
    stats["max_seq_length"] = max_seq_length
    for column in ("anchor", "positive"):
        texts = [getattr(p, column) for p in pairs]
        lengths, sampled = _token_lengths(texts, tokenizer)
        over = sum(1 for n in lengths if n > max_seq_length)
        share = over / len(lengths)
        pct = _percentiles(lengths)
        stats[f"{column}_tokens"] = pct
        stats[f"{column}_truncated_share"] = round(share, 4)
        if sampled:
            stats[f"{column}_tokens_sampled"] = len(lengths)
        if share > LONG_TEXT_WARN_SHARE:
            findings.append(
                Finding(
                    FindingCode.LONG_TEXTS,
                    "warning",
                    f"{over:,} of {len(lengths):,} {column}s{' sampled' if sampled else ''} ({percent(share)}) are "
                    f"longer than max_seq_length="
                    f"{max_seq_length} tokens (p50 {pct['p50']:g}, p95 {pct['p95']:g}, max {pct['max']:g}) and are "
                    "truncated: the model never sees their ends. Split long texts into passages, or raise "
                    "--max-seq-length (MiniLM supports up to 512; slower).",
                    {
                        "column": column,
                        "n_over": over,
                        "n_rows": len(lengths),
                        "share": round(share, 4),
                        "max_seq_length": max_seq_length,
                        **pct,
                        "sampled": sampled,
                    },
                )
            )
    return findings
