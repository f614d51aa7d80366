"""Run every check: the registry of checks, what they see, and ``diagnose`` / ``diagnose_path``.

A check is a small callable from :class:`DoctorData` (and, for per-split checks, one eval split) to
a list of findings, empty when it does not apply; :data:`CHECKS` lists them in the order their
findings are reported within one severity, each with the finding codes it can report.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from embedtune.data.beir import available_splits, is_beir_dir, load_retrieval_split, read_corpus, read_queries
from embedtune.data.pairs import load_training_pairs
from embedtune.data.records import Pair, RetrievalSplit
from embedtune.doctor.containment import check_containment, check_eval_containment
from embedtune.doctor.duplicates import check_corpus_duplicates, check_duplicates
from embedtune.doctor.fields import check_fields
from embedtune.doctor.findings import DoctorReport, Finding, FindingCode, by_severity
from embedtune.doctor.lengths import check_lengths, load_base_tokenizer
from embedtune.doctor.markup import check_markup
from embedtune.doctor.overlap import check_eval_overlap
from embedtune.doctor.size import check_size
from embedtune.text import normalize


@dataclass
class DoctorData:
    """What the checks see: the training pairs, the eval splits, the run's settings, and the stats
    the report carries (checks may add to them)."""

    pairs: list[Pair]
    eval_splits: Sequence[RetrievalSplit] = ()
    batch_size: int = 32
    max_seq_length: int = 256
    given_tokenizer: Any = None
    stats: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def anchors(self) -> list[str]:
        return [p.anchor for p in self.pairs]

    @cached_property
    def positives(self) -> list[str]:
        return [p.positive for p in self.pairs]

    @property
    def tokenizer(self) -> Any:
        return self.given_tokenizer if self.given_tokenizer is not None else load_base_tokenizer()

    def text_columns(self) -> list[tuple[str, Sequence[str]]]:
        """Anchors, positives and, with eval splits, every corpus document once."""
        columns: list[tuple[str, Sequence[str]]] = [("anchor", self.anchors), ("positive", self.positives)]
        corpora = {id(s.corpus): s.corpus for s in self.eval_splits}
        if corpora:
            columns.append(("corpus", [d.full_text for corpus in corpora.values() for d in corpus.values()]))
        return columns


@dataclass(frozen=True)
class Check:
    """One check: its name, the finding codes it can report and the callable that looks."""

    name: str
    codes: tuple[FindingCode, ...]
    run: Callable[..., list[Finding]]
    #: called once per eval split as ``run(data, split)`` instead of once as ``run(data)``
    per_split: bool = False


C = FindingCode
CHECKS: tuple[Check, ...] = (
    Check("size", (C.TOO_FEW_PAIRS,), lambda d: check_size(d.pairs, d.batch_size)),
    Check(
        "duplicates",
        (C.DUPLICATE_PAIRS, C.DUPLICATE_ANCHORS, C.DUPLICATE_POSITIVES),
        lambda d: check_duplicates(d.pairs, d.batch_size) if d.pairs else [],
    ),
    Check(
        "eval_overlap",
        (C.EVAL_OVERLAP_EXACT, C.EVAL_OVERLAP_NEAR),
        lambda d, split: check_eval_overlap(d.pairs, split) if d.pairs and split.query_ids else [],
        per_split=True,
    ),
    Check("eval_containment", (C.QUERY_CONTAINS_POSITIVE,), lambda d, split: check_eval_containment(split),
          per_split=True),
    Check("corpus_duplicates", (C.DUPLICATE_DOCUMENTS,), lambda d: check_corpus_duplicates(d.eval_splits)),
    Check(
        "fields",
        (C.CONSTANT_TEXT, C.UNK_FIELD, C.EMPTY_FIELD, C.CONSTANT_FIELD),
        lambda d: check_fields("anchor", d.anchors) + check_fields("positive", d.positives),
    ),
    Check(
        "lengths",
        (C.LONG_TEXTS,),
        lambda d: check_lengths(d.pairs, d.tokenizer, d.max_seq_length, d.stats) if d.pairs else [],
    ),
    Check("containment", (C.QUERY_CONTAINS_POSITIVE,), lambda d: check_containment(d.pairs) if d.pairs else []),
    Check("markup", (C.TEMPLATE_SYNTAX, C.HTML_MARKUP), lambda d: check_markup(d.text_columns())),
)
del C


def run_checks(data: DoctorData, checks: Sequence[Check] = CHECKS) -> list[Finding]:
    """Every finding of ``checks`` on ``data``, in check order (per-split checks split by split)."""
    findings: list[Finding] = []
    for per_split, group in itertools.groupby(checks, key=lambda check: check.per_split):
        group = list(group)
        if per_split:
            for split in data.eval_splits:
                for check in group:
                    findings += check.run(data, split)
        else:
            for check in group:
                findings += check.run(data)
    return findings


def diagnose(
    pairs: Sequence[Pair],
    *,
    eval_splits: Sequence[RetrievalSplit] = (),
    max_seq_length: int = 256,
    batch_size: int = 32,
    tokenizer: Any = None,
) -> DoctorReport:
    """Run every check on training ``pairs`` (and against ``eval_splits``) and return the report.

    ``tokenizer`` is any Hugging Face tokenizer (e.g. ``SentenceTransformer.tokenizer``); without one
    the base model's tokenizer is loaded (tokenizer files only, a few seconds).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    pairs = list(pairs)
    data = DoctorData(pairs, eval_splits, batch_size, max_seq_length, tokenizer)
    data.stats.update(
        {
            "n_pairs": len(pairs),
            "n_unique_anchors": len({normalize(t) for t in data.anchors}),
            "n_unique_positives": len({normalize(t) for t in data.positives}),
            "n_negatives_per_pair": max((len(p.negatives) for p in pairs), default=0),
            "batch_size": batch_size,
            "eval_splits": [s.name for s in eval_splits],
        }
    )
    for split in eval_splits:
        data.stats[f"{split.name}_n_queries"] = len(split.query_ids)
    return DoctorReport(findings=by_severity(run_checks(data)), stats=data.stats)


def diagnose_path(
    data: str | Path, *, max_seq_length: int = 256, batch_size: int = 32, tokenizer: Any = None
) -> DoctorReport:
    """Read DATA (a pairs file, or a BEIR folder whose ``train`` qrels become pairs) and diagnose it.

    In a BEIR folder every other split (``dev``, ``test``, ...) is checked as an eval split.
    Unreadable data raises :class:`embedtune.errors.DataError` naming the file and line.
    """
    data = Path(data)
    pairs = load_training_pairs(data)
    eval_splits: list[RetrievalSplit] = []
    if is_beir_dir(data):
        corpus = read_corpus(data / "corpus.jsonl")
        queries = read_queries(data / "queries.jsonl")
        eval_splits = [
            load_retrieval_split(data, name, corpus=corpus, queries=queries)
            for name in available_splits(data)
            if name != "train"
        ]
    report = diagnose(
        pairs,
        eval_splits=eval_splits,
        max_seq_length=max_seq_length,
        batch_size=batch_size,
        tokenizer=tokenizer,
    )
    report.stats["data"] = str(data)
    return report
