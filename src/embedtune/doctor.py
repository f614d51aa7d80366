"""The data doctor: find what will make a fine-tune fail, or its evaluation lie, before training.

``diagnose(pairs, eval_splits=...)`` runs every check below on typed records and returns a
:class:`DoctorReport` of :class:`Finding` s; ``diagnose_path(DATA)`` reads a pairs file or a BEIR
folder first. ``check_training_loss`` judges the per-epoch loss after training. The report goes to
the CLI (``embedtune doctor DATA``), to ``doctor.json`` and to the model card.

Checks (finding codes in brackets; thresholds are the module constants below):

1. Too few pairs for MultipleNegativesRankingLoss (MNRL) batches [``too_few_pairs``].
2. Repeated anchors, repeated positives and repeated rows [``duplicate_anchors``,
   ``duplicate_positives``, ``duplicate_pairs``]. With MNRL every other positive in a batch is a
   negative, so a repeated text inside one batch is a false negative. embedtune trains with
   sentence-transformers' ``NoDuplicatesBatchSampler``, which never puts one text twice in a
   batch, but a text in more rows than there are batches cannot be placed: batches shrink.
3. Eval text that is also training text [``eval_overlap_exact``, ``eval_overlap_near``]: eval
   queries vs training anchors and relevant eval documents vs training positives, exact after
   normalization (casefold, collapsed whitespace) and near-duplicate (MinHash LSH from
   ``datasketch`` over word shingles, confirmed with the exact Jaccard similarity). Duplicate
   documents in the eval corpus [``duplicate_documents``] make a correct answer count as a miss.
4. Structured texts (``- Key: value`` or ``Key: value`` lines, like recsys prompts) whose field is
   "unk"/empty/constant in nearly every row [``unk_field``, ``empty_field``, ``constant_field``],
   and one text repeated as nearly every positive or anchor [``constant_text``].
5. Texts longer than ``max_seq_length`` tokens, which the model silently truncates [``long_texts``].
6. Queries that contain their positive nearly verbatim, or positives that contain a long query
   verbatim [``query_contains_positive``]; in eval splits, queries that contain their relevant
   document (e.g. a user profile built from the very interactions being predicted).
7. Template syntax (``{# #}``, ``{% %}``, ``{{ }}``) and HTML tags/entities left in texts
   [``template_syntax``, ``html_markup``].

Example::

    from embedtune.doctor import diagnose_path
    report = diagnose_path("data/scifact", batch_size=32)
    print(report.to_markdown())
    if report.has_errors: ...
"""

from __future__ import annotations

import html.entities
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from embedtune.base_model import DEFAULT_BASE_MODEL, load_tokenizer
from embedtune.chance import chance_loss, learned_nothing, learned_nothing_threshold
from embedtune.data.beir import available_splits, is_beir_dir, load_retrieval_split, read_corpus, read_queries
from embedtune.data.pairs import load_training_pairs
from embedtune.data.records import Pair, RetrievalSplit
from embedtune.text import SHINGLE_WORDS, NearDuplicates, containment, normalize, shingles, words

SCHEMA_VERSION = 1
SEVERITIES = ("error", "warning", "info")

#: Fewer than this many batches per epoch: the run is mostly noise.
MIN_BATCHES = 2
#: Warn about repeated anchors/positives when a randomly drawn batch would hold at least this many
#: colliding (same-text) pairs, or when a text is in more rows than an epoch has batches.
DUPLICATE_COLLISIONS_WARN = 1.0
#: Eval queries found verbatim among training anchors are an error (training stops unless forced)
#: from this share on; below it (SciFact: 2 of 300 test claims are also train claims) a warning,
#: since so few queries move the mean metric less than its bootstrap confidence interval.
EVAL_OVERLAP_ERROR_SHARE = 0.01
#: Near-duplicate: Jaccard similarity of word shingles at or above this.
NEAR_DUPLICATE_JACCARD = 0.8
# Words per shingle (SHINGLE_WORDS), MinHash permutations and the LSH candidate threshold are
# embedtune.text's, shared with site dedupe and the query generators' leak check.
#: A field counts as empty/"unk"/constant when this share of the rows that have it agree.
FIELD_DEGENERATE_SHARE = 0.95
#: Values that mean "no information" in a structured text.
UNK_VALUES = frozenset({"unk", "unknown", "none", "nan", "null", "n/a", "na", "-", "[]", "{}"})
#: A constant value of at least this many words is an instruction line ("Goal: match relevance for
#: likely click."), part of the template by design, not a feature: it is not reported as constant.
INSTRUCTION_MIN_WORDS = 5
#: Fields are only judged with at least this many rows, and for keys in at least this share of rows.
FIELD_MIN_ROWS = 10
FIELD_MIN_PRESENCE = 0.5
#: Warn when more than this share of anchors or positives exceed ``max_seq_length`` tokens.
LONG_TEXT_WARN_SHARE = 0.10
#: At most this many distinct texts per column are tokenized (a fixed-seed sample beyond that).
MAX_TOKENIZED_TEXTS = 10_000
#: A text "contains" another when this share of the other's word shingles occur in it.
CONTAINMENT_THRESHOLD = 0.8
#: A positive containing the query only counts for queries of at least this many words
#: (a two-word keyword query found in its passage is normal search, not a copy).
MIN_COPIED_QUERY_WORDS = 8
#: Containment, markup: warn at or above this share of rows, report as info below it.
ROW_SHARE_WARN = 0.02
#: Examples kept per finding, and characters kept per example.
MAX_EXAMPLES = 5
EXAMPLE_CHARS = 160

_FIELD_RE = re.compile(
    r"^(?P<indent>\s*)(?P<bullet>[-*•]\s+)?(?P<key>[A-Za-z_][\w .()/'-]{0,39}?)\s*:(?:\s+(?P<value>.*?)|)\s*$"
)
# Jinja/Django/Liquid/Hugo: comments may hold anything; tags and expressions hold no braces, which
# keeps LaTeX such as ``{{\text{O}_{2}}`` out.
_TEMPLATE_RE = re.compile(r"\{#.{0,2000}?#\}|\{%[^{}]{0,500}?%\}|\{\{[^{}]{1,500}?\}\}", re.DOTALL)
_HTML_TAGS = (
    "a|abbr|article|aside|b|blockquote|body|br|button|code|dd|div|dl|dt|em|figcaption|figure|footer|form|"
    "h[1-6]|head|header|hr|html|i|iframe|img|input|label|li|link|main|meta|nav|noscript|ol|option|p|pre|"
    "script|section|select|small|span|strong|style|sub|sup|svg|table|tbody|td|textarea|th|thead|title|tr|u|ul"
)
_HTML_TAG_RE = re.compile(rf"</?(?:{_HTML_TAGS})(?:\s[^<>]{{0,500}})?/?>", re.IGNORECASE)
_ENTITY_RE = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ID_KEY_RE = re.compile(r"(?:^|[\s_-])id$|[a-z]Id$|ID$", re.IGNORECASE)
_ID_VALUE_RE = re.compile(r"^[\w#:-]*\d[\w#:-]*$")


@dataclass(frozen=True)
class Finding:
    """One problem found in the data, with the numbers behind it.

    ``code`` is a stable id (see the module docstring), ``severity`` is ``"error"`` (the run will
    fail or its numbers will lie), ``"warning"`` (likely to hurt) or ``"info"`` (worth knowing).
    ``details`` holds JSON-ready numbers and at most :data:`MAX_EXAMPLES` examples.
    """

    code: str
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")


@dataclass
class DoctorReport:
    """All findings for one dataset, most severe first, plus dataset statistics."""

    findings: list[Finding]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    @property
    def has_warnings(self) -> bool:
        return any(f.severity == "warning" for f in self.findings)

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]

    def to_dict(self) -> dict[str, Any]:
        """The ``doctor.json`` content."""
        counts = Counter(f.severity for f in self.findings)
        return {
            "schema_version": SCHEMA_VERSION,
            "n_errors": counts["error"],
            "n_warnings": counts["warning"],
            "n_info": counts["info"],
            "stats": self.stats,
            "findings": [asdict(f) for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoctorReport:
        """Read back what :meth:`to_dict` wrote (e.g. ``doctor.json`` for a model card)."""
        return cls(
            findings=[Finding(**f) for f in data.get("findings", [])], stats=dict(data.get("stats", {}))
        )

    def to_markdown(self) -> str:
        """A short Markdown summary: dataset size, token lengths and one table row per finding."""
        s = self.stats
        lines = []
        if s:
            parts = [f"{s.get('n_pairs', 0):,} pairs"]
            if "n_unique_anchors" in s:
                parts.append(
                    f"{s['n_unique_anchors']:,} distinct anchors, {s['n_unique_positives']:,} distinct positives"
                )
            for column in ("anchor", "positive"):
                lengths = s.get(f"{column}_tokens")
                if lengths:
                    parts.append(
                        f"{column} tokens p50 {lengths['p50']:g} / p95 {lengths['p95']:g} / max {lengths['max']:g}"
                        f" ({_pct(s.get(f'{column}_truncated_share', 0.0))} over {s.get('max_seq_length')})"
                    )
            if s.get("eval_splits"):
                parts.append("checked against eval splits " + ", ".join(s["eval_splits"]))
            lines.append("Data: " + "; ".join(parts) + ".")
            lines.append("")
        if not self.findings:
            lines.append("No problems found.")
            return "\n".join(lines) + "\n"
        counts = Counter(f.severity for f in self.findings)
        lines.append(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s).")
        lines.append("")
        lines.append("| severity | check | finding |")
        lines.append("|---|---|---|")
        for f in self.findings:
            message = f.message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {f.severity} | `{f.code}` | {message} |")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# small helpers


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def _clip(text: str, limit: int = EXAMPLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _snippet(text: str, start: int, end: int, limit: int = EXAMPLE_CHARS) -> str:
    """The text around a match, so the example shows the markup itself."""
    pad = max(0, (limit - (end - start)) // 2)
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    return ("…" if lo else "") + _clip(text[lo:hi], limit) + ("…" if hi < len(text) else "")


def _percentiles(values: Sequence[int]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
        "mean": round(float(arr.mean()), 1),
    }


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: order[f.severity])  # stable: check order within a severity


# --------------------------------------------------------------------------------------------
# tokenizer


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


# --------------------------------------------------------------------------------------------
# checks: each returns a list of findings (empty when the check does not apply)


def _check_size(pairs: Sequence[Pair], batch_size: int) -> list[Finding]:
    n = len(pairs)
    if n >= MIN_BATCHES * batch_size:
        return []
    return [
        Finding(
            "too_few_pairs",
            "warning",
            f"Only {n:,} training pairs for batch size {batch_size}: fewer than {MIN_BATCHES} batches per epoch, "
            f"so each anchor sees at most {max(n - 1, 0)} in-batch negatives and the loss curve is noise. "
            f"Add pairs (at least {MIN_BATCHES * batch_size:,}; hundreds are better) or lower --batch-size.",
            {"n_pairs": n, "batch_size": batch_size, "min_pairs": MIN_BATCHES * batch_size},
        )
    ]


def _expected_collisions(group_sizes: Iterable[int], n_rows: int, batch_size: int) -> float:
    """Expected number of same-text row pairs inside one batch of ``batch_size`` rows drawn at random."""
    if n_rows < 2:
        return 0.0
    b = min(batch_size, n_rows)
    p_both = b * (b - 1) / (n_rows * (n_rows - 1))
    return sum(c * (c - 1) / 2 for c in group_sizes) * p_both


def _check_duplicates(pairs: Sequence[Pair], batch_size: int) -> list[Finding]:
    n = len(pairs)
    n_batches = max(1, n // batch_size)
    findings: list[Finding] = []
    rows = Counter((normalize(p.anchor), normalize(p.positive)) for p in pairs)
    # normalized text -> its first spelling, so examples show the user's own text
    original: dict[str, str] = {}
    for p in pairs:
        original.setdefault(normalize(p.anchor), p.anchor)
        original.setdefault(normalize(p.positive), p.positive)
    repeated_rows = n - len(rows)
    if repeated_rows:
        examples = [
            {"anchor": _clip(original[a]), "positive": _clip(original[p]), "rows": c}
            for (a, p), c in rows.most_common(MAX_EXAMPLES)
            if c > 1
        ]
        findings.append(
            Finding(
                "duplicate_pairs",
                "warning",
                f"{repeated_rows:,} of {n:,} rows ({_pct(repeated_rows / n)}) repeat an earlier (anchor, positive) pair: "
                "they count those examples several times and cannot share a batch. Remove the repeats.",
                {"n_repeated_rows": repeated_rows, "share": _share(repeated_rows, n), "examples": examples},
            )
        )
    for column, texts in (("anchor", [p.anchor for p in pairs]), ("positive", [p.positive for p in pairs])):
        counts = Counter(normalize(t) for t in texts)
        repeats = n - len(counts)
        if not repeats:
            continue
        collisions = _expected_collisions(counts.values(), n, batch_size)
        top_text, top_count = counts.most_common(1)[0]
        # A text in more rows than there are batches cannot go once into each batch: the no-duplicates
        # sampler then yields smaller batches (fewer in-batch negatives) or re-draws rows.
        unplaceable = sum(max(0, c - n_batches) for c in counts.values())
        severe = collisions >= DUPLICATE_COLLISIONS_WARN or unplaceable > 0
        others = "anchor" if column == "positive" else "positive"
        message = (
            f"{repeats:,} of {n:,} {column}s ({_pct(repeats / n)}) repeat an earlier {column} "
            f"({len(counts):,} distinct; the most frequent is in {top_count:,} rows). With MNRL a repeated {column} "
            f"in one batch is a false negative: a random batch of {batch_size} would hold {collisions:.2f} such "
            f"collisions on average. embedtune's no-duplicates batch sampler keeps them apart"
        )
        if unplaceable:
            message += (
                f", but {unplaceable:,} rows repeat a text more often than the {n_batches:,} batches per epoch "
                f"allow, so batches shrink or rows are re-drawn. Drop or merge the most repeated {column}s."
            )
        elif severe:
            message += "; so many repeats still leave fewer distinct negatives per batch."
        else:
            message += f" (normal when one {column} has several {others}s)."
        findings.append(
            Finding(
                f"duplicate_{column}s",
                "warning" if severe else "info",
                message,
                {
                    "n_repeated_rows": repeats,
                    "share": _share(repeats, n),
                    "n_distinct": len(counts),
                    "max_rows_per_text": top_count,
                    "expected_collisions_per_random_batch": round(collisions, 3),
                    "batches_per_epoch": n_batches,
                    "rows_beyond_batches": unplaceable,
                    "examples": [
                        {"text": _clip(original[t]), "rows": c}
                        for t, c in counts.most_common(MAX_EXAMPLES)
                        if c > 1
                    ],
                    "most_frequent": _clip(original[top_text]),
                },
            )
        )
    return findings


def _minhash_near_matches(
    targets: Sequence[frozenset[str]], others: Sequence[frozenset[str]], threshold: float
) -> dict[int, tuple[int, float]]:
    """For each target shingle set, its most similar set in ``others`` with Jaccard >= ``threshold``.

    The targets (the eval side, usually the smaller) are indexed and every other set probes the index.
    """
    found: dict[int, tuple[int, float]] = {}
    if not any(targets) or not any(others):
        return found
    index = NearDuplicates(threshold)
    for i, (shingle_set, sketch) in enumerate(zip(targets, index.sketches(targets), strict=True)):
        index.insert(i, shingle_set, sketch)
    for j, (shingle_set, sketch) in enumerate(zip(others, index.sketches(others), strict=True)):
        for i, similarity in index.matches(shingle_set, sketch):
            if i not in found or similarity > found[i][1]:
                found[i] = (j, similarity)
    return found


def _overlap(
    train_texts: Iterable[str], eval_texts: Sequence[str]
) -> tuple[list[int], list[tuple[int, str, float]]]:
    """Eval texts found in training: indices of exact matches, and (index, training text, Jaccard) of near ones."""
    train_by_key: dict[str, str] = {}
    for text in train_texts:
        train_by_key.setdefault(normalize(text), text)
    exact = [j for j, text in enumerate(eval_texts) if normalize(text) in train_by_key]
    exact_set = set(exact)
    rest = [j for j in range(len(eval_texts)) if j not in exact_set]
    train_list = list(train_by_key.values())
    near_raw = _minhash_near_matches(
        [shingles(words(eval_texts[j])) for j in rest],
        [shingles(words(t)) for t in train_list],
        NEAR_DUPLICATE_JACCARD,
    )
    near = [(rest[k], train_list[j], jaccard) for k, (j, jaccard) in sorted(near_raw.items())]
    return exact, near


def _check_eval_overlap(pairs: Sequence[Pair], split: RetrievalSplit) -> list[Finding]:
    findings: list[Finding] = []
    qids = split.query_ids
    queries = [split.queries[q] for q in qids]
    doc_ids = sorted({d for q in qids for d in split.relevant(q) if d in split.corpus})
    docs = [split.corpus[d].full_text for d in doc_ids]
    trained_pairs = {(normalize(p.anchor), normalize(p.positive)) for p in pairs}
    name = split.name

    exact, near = _overlap((p.anchor for p in pairs), queries)
    if exact:
        leaked = sum(
            1
            for j in exact
            if any(
                (normalize(queries[j]), normalize(split.corpus[d].full_text)) in trained_pairs
                for d in split.relevant(qids[j])
            )
        )
        findings.append(
            Finding(
                "eval_overlap_exact",
                "error" if len(exact) >= EVAL_OVERLAP_ERROR_SHARE * len(queries) else "warning",
                f"{len(exact):,} of {len(queries):,} {name} queries ({_pct(len(exact) / len(queries))}) are also "
                f"training anchors ({leaked:,} of them with the same relevant document): on them the {name} score "
                f"measures memorization, not retrieval. Remove these queries from the training data (or from the "
                f"{name} split).",
                {
                    "split": name,
                    "side": "queries",
                    "n_overlap": len(exact),
                    "n_eval": len(queries),
                    "share": _share(len(exact), len(queries)),
                    "n_same_pair": leaked,
                    "examples": [
                        {"query_id": qids[j], "text": _clip(queries[j])} for j in exact[:MAX_EXAMPLES]
                    ],
                },
            )
        )
    if near:
        findings.append(
            Finding(
                "eval_overlap_near",
                "warning",
                f"{len(near):,} of {len(queries):,} {name} queries ({_pct(len(near) / len(queries))}) are near-duplicates "
                f"(word-shingle Jaccard >= {NEAR_DUPLICATE_JACCARD}) of training anchors: the {name} score is "
                "optimistic for them. Deduplicate training against the eval split.",
                {
                    "split": name,
                    "side": "queries",
                    "n_overlap": len(near),
                    "n_eval": len(queries),
                    "share": _share(len(near), len(queries)),
                    "examples": [
                        {
                            "query_id": qids[j],
                            "text": _clip(queries[j]),
                            "training": _clip(t),
                            "jaccard": round(jac, 3),
                        }
                        for j, t, jac in near[:MAX_EXAMPLES]
                    ],
                },
            )
        )

    exact, near = _overlap((p.positive for p in pairs), docs)
    # In recommendation the catalog is closed: recommending items seen in training is the task itself.
    doc_severity = "info" if split.kind == "recsys" else "warning"
    for kind, hits in (("exact", [(j, None, 1.0) for j in exact]), ("near", near)):
        if not hits:
            continue
        how = (
            "identical to" if kind == "exact" else f"near-duplicates (Jaccard >= {NEAR_DUPLICATE_JACCARD}) of"
        )
        findings.append(
            Finding(
                f"eval_overlap_{kind}",
                doc_severity,
                f"{len(hits):,} of {len(docs):,} relevant {name} documents ({_pct(len(hits) / len(docs))}) are {how} "
                f"training positives: the model was trained to retrieve them, so {name} scores on the queries that need "
                "them may be optimistic. Expected when train and eval share one corpus; to measure generalization, "
                "compare the metrics on queries whose documents were never trained on.",
                {
                    "split": name,
                    "side": "documents",
                    "n_overlap": len(hits),
                    "n_eval": len(docs),
                    "share": _share(len(hits), len(docs)),
                    "examples": [
                        {"doc_id": doc_ids[j], "text": _clip(docs[j])}
                        | ({"training": _clip(t), "jaccard": round(jac, 3)} if t is not None else {})
                        for j, t, jac in hits[:MAX_EXAMPLES]
                    ],
                },
            )
        )
    return findings


def _check_corpus_duplicates(splits: Sequence[RetrievalSplit]) -> list[Finding]:
    """Distinct document ids with the same text: a correct answer's twin is scored as a miss."""
    seen_corpora: set[int] = set()
    findings: list[Finding] = []
    for split in splits:
        if id(split.corpus) in seen_corpora:
            continue
        seen_corpora.add(id(split.corpus))
        by_text: dict[str, list[str]] = {}
        for doc in split.corpus.values():
            by_text.setdefault(normalize(doc.full_text), []).append(doc.id)
        groups = [ids for ids in by_text.values() if len(ids) > 1]
        if not groups:
            continue
        n_dup = sum(len(ids) - 1 for ids in groups)
        n = len(split.corpus)
        findings.append(
            Finding(
                "duplicate_documents",
                "warning",
                f"{n_dup:,} of {n:,} corpus documents ({_pct(n_dup / n)}) repeat the text of another document under a "
                "different id: when the copy ranks above the judged one it counts as a miss, and in training it is a "
                "false negative. Deduplicate the corpus (keep one id per text) before building splits.",
                {
                    "n_duplicate_documents": n_dup,
                    "n_groups": len(groups),
                    "n_corpus": n,
                    "examples": [
                        {"doc_ids": ids[:MAX_EXAMPLES], "text": _clip(split.corpus[ids[0]].full_text)}
                        for ids in sorted(groups, key=len, reverse=True)[:MAX_EXAMPLES]
                    ],
                },
            )
        )
    return findings


def parse_fields(text: str) -> dict[str, str]:
    """``Key: value`` / ``- Key: value`` lines of a structured text (first occurrence of each key).

    A line ``Header:`` with nothing after it, followed by bullet or indented lines, is a section
    header, not an empty field.
    """
    lines = text.splitlines()
    fields: dict[str, str] = {}
    for i, line in enumerate(lines):
        match = _FIELD_RE.match(line)
        if not match:
            continue
        value = (match.group("value") or "").strip()
        if value.startswith("//"):  # a URL scheme, not a key
            continue
        if not value and not match.group("bullet"):
            following = next((nxt for nxt in lines[i + 1 :] if nxt.strip()), "")
            if following.lstrip().startswith(("-", "*", "•")) or len(following) - len(
                following.lstrip()
            ) > len(match.group("indent")):
                continue
        fields.setdefault(match.group("key").strip(), value)
    return fields


def _is_unk(value: str) -> bool:
    return value.strip().strip(".").casefold() in UNK_VALUES


def _looks_like_id(key: str, values: Sequence[str]) -> bool:
    if _ID_KEY_RE.search(key.strip()):
        return True
    filled = [v for v in values if v and not _is_unk(v)]
    return bool(filled) and sum(bool(_ID_VALUE_RE.match(v)) for v in filled) >= 0.9 * len(filled)


def _check_fields(column: str, texts: Sequence[str]) -> list[Finding]:
    n = len(texts)
    findings: list[Finding] = []
    if n < FIELD_MIN_ROWS:
        return findings
    top_text, top_count = Counter(texts).most_common(1)[0]
    if top_count >= FIELD_DEGENERATE_SHARE * n:
        findings.append(
            Finding(
                "constant_text",
                "error",
                f"{top_count:,} of {n:,} {column}s ({_pct(top_count / n)}) are the same text ({_clip(top_text, 60)!r}): "
                f"the model cannot learn which {column} belongs to which row. Check how the {column}s were built.",
                {
                    "column": column,
                    "n_rows": n,
                    "n_same": top_count,
                    "share": _share(top_count, n),
                    "text": _clip(top_text),
                },
            )
        )
        return findings
    parsed = [parse_fields(t) for t in texts]
    presence = Counter(k for fields in parsed for k in fields)
    keys = [k for k, c in presence.items() if c >= FIELD_MIN_PRESENCE * n]
    if not keys:
        return findings
    unk: dict[str, dict[str, Any]] = {}
    empty: dict[str, dict[str, Any]] = {}
    constant: dict[str, dict[str, Any]] = {}
    informative: list[str] = []
    instructions: list[str] = []
    for key in keys:
        values = [fields[key] for fields in parsed if key in fields]
        m = len(values)
        n_empty = sum(1 for v in values if not v.strip())
        n_unk = sum(1 for v in values if v.strip() and _is_unk(v))
        value_counts = Counter(v.strip() for v in values)
        top_value, top_n = value_counts.most_common(1)[0]
        info = {"rows_with_field": m, "top_values": dict(value_counts.most_common(3))}
        if n_empty + n_unk >= FIELD_DEGENERATE_SHARE * m:
            target = empty if n_empty > n_unk else unk
            target[key] = info | {"share": _share(n_empty + n_unk, m)}
        elif top_n >= FIELD_DEGENERATE_SHARE * m and len(top_value.split()) >= INSTRUCTION_MIN_WORDS:
            instructions.append(key)
        elif top_n >= FIELD_DEGENERATE_SHARE * m:
            constant[key] = info | {"share": _share(top_n, m), "value": _clip(top_value, 80)}
        else:
            informative.append(key)
    id_keys = [k for k in informative if _looks_like_id(k, [f.get(k, "") for f in parsed])]
    if informative and len(id_keys) == len(informative):
        consequence = (
            f"the only fields that vary are IDs ({', '.join(id_keys)}), and MiniLM cannot learn from IDs: "
            "expect a loss stuck near ln(batch size) and no gain over the base model."
        )
    elif not informative:
        consequence = f"no field of the {column}s varies, so the model has nothing to learn from."
    else:
        consequence = "these fields carry no signal and only dilute the text."
    for code, flagged, what, fix in (
        (
            "unk_field",
            unk,
            "'unk'/unknown",
            "fill them (check the join or feature extraction that builds them) or drop them",
        ),
        ("empty_field", empty, "empty", "fill them or drop them from the template"),
        ("constant_field", constant, "the same value", "drop them from the template"),
    ):
        if not flagged:
            continue
        listing = ", ".join(f"{k} ({_pct(v['share'])})" for k, v in flagged.items())
        findings.append(
            Finding(
                code,
                "warning",
                f"In the {column}s, {len(flagged)} of {len(keys) - len(instructions)} fields are {what} in >= "
                f"{_pct(FIELD_DEGENERATE_SHARE)} of {n:,} rows: {listing}. {consequence[0].upper() + consequence[1:]} "
                f"Fix: {fix}.",
                {
                    "column": column,
                    "n_rows": n,
                    "fields": flagged,
                    "n_fields": len(keys) - len(instructions),
                    "instruction_lines": instructions,
                    "informative_fields": informative,
                    "id_fields": id_keys,
                },
            )
        )
    return findings


def _check_lengths(
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
                    "long_texts",
                    "warning",
                    f"{over:,} of {len(lengths):,} {column}s{' sampled' if sampled else ''} ({_pct(share)}) are "
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


def _check_containment(pairs: Sequence[Pair]) -> list[Finding]:
    hits: list[dict[str, Any]] = []
    n_pos_in_query = n_query_in_pos = 0
    for i, pair in enumerate(pairs):
        q_words, p_words = words(pair.anchor), words(pair.positive)
        q_sh, p_sh = shingles(q_words), shingles(p_words)
        pos_in_query = containment(q_sh, p_sh)
        query_in_pos = containment(p_sh, q_sh) if len(q_words) >= MIN_COPIED_QUERY_WORDS else 0.0
        if pos_in_query >= CONTAINMENT_THRESHOLD:
            n_pos_in_query += 1
            hits.append(
                {
                    "row": i,
                    "anchor": _clip(pair.anchor),
                    "positive": _clip(pair.positive),
                    "direction": "anchor contains positive",
                    "containment": round(pos_in_query, 3),
                }
            )
        elif query_in_pos >= CONTAINMENT_THRESHOLD:
            n_query_in_pos += 1
            hits.append(
                {
                    "row": i,
                    "anchor": _clip(pair.anchor),
                    "positive": _clip(pair.positive),
                    "direction": "positive contains anchor",
                    "containment": round(query_in_pos, 3),
                }
            )
    if not hits:
        return []
    n = len(pairs)
    share = len(hits) / n
    return [
        Finding(
            "query_contains_positive",
            "warning" if share >= ROW_SHARE_WARN else "info",
            f"{len(hits):,} of {n:,} training pairs ({_pct(share)}) copy one side into the other: {n_pos_in_query:,} anchors "
            f"contain their positive and {n_query_in_pos:,} positives contain their anchor (>= "
            f"{_pct(CONTAINMENT_THRESHOLD)} of {SHINGLE_WORDS}-word shingles). The model learns to match copied words, "
            "not meaning. Rewrite these anchors as real questions (e.g. drop 'Summarize: <passage>' templates).",
            {
                "n_rows": n,
                "n_hits": len(hits),
                "share": round(share, 4),
                "n_anchor_contains_positive": n_pos_in_query,
                "n_positive_contains_anchor": n_query_in_pos,
                "examples": hits[:MAX_EXAMPLES],
            },
        )
    ]


def _check_eval_containment(split: RetrievalSplit) -> list[Finding]:
    """Eval queries that already contain a relevant document (its text, or its title of >= 2 words)."""
    hits: list[dict[str, Any]] = []
    qids = split.query_ids
    for qid in qids:
        query = split.queries[qid]
        q_words = words(query)
        q_sh = shingles(q_words)
        q_joined = f" {' '.join(q_words)} "
        for doc_id in sorted(split.relevant(qid)):
            doc = split.corpus.get(doc_id)
            if doc is None:
                continue
            title_words = words(doc.title)
            by_title = len(title_words) >= 2 and f" {' '.join(title_words)} " in q_joined
            by_text = containment(q_sh, shingles(words(doc.full_text))) >= CONTAINMENT_THRESHOLD
            if by_title or by_text:
                hits.append(
                    {
                        "query_id": qid,
                        "doc_id": doc_id,
                        "query": _clip(query),
                        "document": _clip(doc.full_text),
                        "match": "title" if by_title else "text",
                    }
                )
                break
    if not hits:
        return []
    share = len(hits) / len(qids)
    return [
        Finding(
            "query_contains_positive",
            "warning" if share >= ROW_SHARE_WARN else "info",
            f"{len(hits):,} of {len(qids):,} {split.name} queries ({_pct(share)}) already contain their relevant "
            "document's title or text: the evaluation rewards copying. In recommendation data this means the "
            "profile was built from the interactions being predicted; build eval profiles from history before "
            "the held-out interaction only.",
            {
                "split": split.name,
                "n_queries": len(qids),
                "n_hits": len(hits),
                "share": round(share, 4),
                "examples": hits[:MAX_EXAMPLES],
            },
        )
    ]


def _check_markup(columns: Sequence[tuple[str, Sequence[str]]]) -> list[Finding]:
    findings: list[Finding] = []
    for code, finder in (("template_syntax", _find_template), ("html_markup", _find_html)):
        per_column: dict[str, int] = {}
        totals: dict[str, int] = {}
        examples: list[dict[str, str]] = []
        for column, texts in columns:
            totals[column] = len(texts)
            count = 0
            for text in texts:
                match = finder(text)
                if match is None:
                    continue
                count += 1
                if len(examples) < MAX_EXAMPLES:
                    examples.append(
                        {
                            "column": column,
                            "match": _clip(match[0], 80),
                            "context": _snippet(text, match[1], match[2]),
                        }
                    )
            if count:
                per_column[column] = count
        if not per_column:
            continue
        worst = max(per_column[c] / totals[c] for c in per_column)
        listing = ", ".join(
            f"{c} {per_column[c]:,} of {totals[c]:,} ({_pct(per_column[c] / totals[c])})" for c in per_column
        )
        if code == "template_syntax":
            severity = "warning"
            message = (
                f"Template syntax ({{# #}}, {{% %}} or {{{{ }}}}) left in texts: {listing}. The model embeds these "
                "tokens as if they were content. Render or strip templates when extracting the text."
            )
        else:
            severity = "warning" if worst >= ROW_SHARE_WARN else "info"
            message = (
                f"HTML tags or entities in texts: {listing}. Markup wastes tokens and teaches the model layout, not "
                "meaning; extract text with trafilatura or html.unescape the entities (ignore if the texts are about HTML)."
            )
        findings.append(
            Finding(code, severity, message, {"counts": per_column, "totals": totals, "examples": examples})
        )
    return findings


def _find_template(text: str) -> tuple[str, int, int] | None:
    if "{" not in text:
        return None
    m = _TEMPLATE_RE.search(text)
    return (m.group(0), m.start(), m.end()) if m else None


def _find_html(text: str) -> tuple[str, int, int] | None:
    if "<" in text:
        m = _HTML_TAG_RE.search(text)
        if m:
            return m.group(0), m.start(), m.end()
    if "&" in text:
        for m in _ENTITY_RE.finditer(text):
            name = m.group(0)[1:]
            if name.startswith("#") or name in html.entities.html5:
                return m.group(0), m.start(), m.end()
    return None


# --------------------------------------------------------------------------------------------
# public API


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
    anchors = [p.anchor for p in pairs]
    positives = [p.positive for p in pairs]
    stats: dict[str, Any] = {
        "n_pairs": len(pairs),
        "n_unique_anchors": len({normalize(t) for t in anchors}),
        "n_unique_positives": len({normalize(t) for t in positives}),
        "n_negatives_per_pair": max((len(p.negatives) for p in pairs), default=0),
        "batch_size": batch_size,
        "eval_splits": [s.name for s in eval_splits],
    }
    findings: list[Finding] = []
    findings += _check_size(pairs, batch_size)
    if pairs:
        findings += _check_duplicates(pairs, batch_size)
    for split in eval_splits:
        stats[f"{split.name}_n_queries"] = len(split.query_ids)
        if pairs and split.query_ids:
            findings += _check_eval_overlap(pairs, split)
        findings += _check_eval_containment(split)
    findings += _check_corpus_duplicates(eval_splits)
    findings += _check_fields("anchor", anchors)
    findings += _check_fields("positive", positives)
    if pairs:
        findings += _check_lengths(
            pairs, tokenizer if tokenizer is not None else load_base_tokenizer(), max_seq_length, stats
        )
        findings += _check_containment(pairs)
    markup_columns: list[tuple[str, Sequence[str]]] = [("anchor", anchors), ("positive", positives)]
    corpora = {id(s.corpus): s.corpus for s in eval_splits}
    if corpora:
        markup_columns.append(
            ("corpus", [d.full_text for corpus in corpora.values() for d in corpus.values()])
        )
    findings += _check_markup(markup_columns)
    return DoctorReport(findings=_sorted(findings), stats=stats)


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


def check_training_loss(
    losses_per_epoch: Sequence[float], batch_size: int, *, negatives_per_pair: int = 0, chance: float | None = None
) -> Finding | None:
    """Warn when the training loss never left the level of random guessing.

    MNRL is cross-entropy over the ``batch_size * (1 + negatives_per_pair)`` candidates of a batch,
    so a model that cannot tell them apart scores ln(candidates) (ln 32 = 3.47). Judged on the
    last epoch's loss (the only one when there is one epoch); returns None unless
    :func:`embedtune.chance.learned_nothing` says the loss is still near chance. ``chance`` replaces ln(candidates) for losses whose random-guessing level
    differs (the logQ-corrected loss: see :func:`embedtune.losses.chance_loss_logq`).
    """
    losses = [float(x) for x in losses_per_epoch]
    candidates = batch_size * (1 + negatives_per_pair)
    if not losses or candidates < 2:
        return None
    chance_label = f"ln({candidates})" if chance is None else "the logQ-corrected loss"
    chance = chance_loss(batch_size, negatives_per_pair) if chance is None else float(chance)
    threshold = learned_nothing_threshold(chance)
    last = losses[-1]
    details: dict[str, Any] = {
        "losses_per_epoch": [round(x, 4) if math.isfinite(x) else str(x) for x in losses],
        "batch_size": batch_size,
        "negatives_per_pair": negatives_per_pair,
        "chance_loss": round(chance, 4),
        "threshold": round(threshold, 4),
    }
    if not math.isfinite(last):
        return Finding(
            "loss_not_decreasing",
            "warning",
            f"The training loss became {last} after epoch {len(losses)}: training diverged. Lower the learning "
            "rate (e.g. 2e-5) and check the data for empty texts.",
            details,
        )
    if not learned_nothing(last, chance):
        return None
    trend = "" if len(losses) < 2 else f" (epoch 1: {losses[0]:.3f})"
    return Finding(
        "loss_not_decreasing",
        "warning",
        f"The training loss after epoch {len(losses)} is {last:.3f}{trend}, still >= 90% of {chance_label} = "
        f"{chance:.2f}, the loss of random guessing: the model is learning nothing. Likely causes: features that "
        "are all 'unk' or constant (run `embedtune doctor`), anchors unrelated to their positives (random "
        "labels), too few pairs, a learning rate too low or too high, or many duplicate texts.",
        details,
    )


__all__ = [
    "DoctorReport",
    "Finding",
    "check_training_loss",
    "diagnose",
    "diagnose_path",
    "load_base_tokenizer",
    "parse_fields",
]
