"""What the doctor reports: findings with stable codes, the report, and how they read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1
SEVERITIES = ("error", "warning", "info")

#: Containment, markup: warn at or above this share of rows, report as info below it.
ROW_SHARE_WARN = 0.02
#: Examples kept per finding, and characters kept per example.
MAX_EXAMPLES = 5
EXAMPLE_CHARS = 160


class FindingCode(StrEnum):
    """The stable id of each kind of finding: ``doctor.json`` and the card name findings by it."""

    TOO_FEW_PAIRS = "too_few_pairs"
    DUPLICATE_PAIRS = "duplicate_pairs"
    DUPLICATE_ANCHORS = "duplicate_anchors"
    DUPLICATE_POSITIVES = "duplicate_positives"
    EVAL_OVERLAP_EXACT = "eval_overlap_exact"
    EVAL_OVERLAP_NEAR = "eval_overlap_near"
    DUPLICATE_DOCUMENTS = "duplicate_documents"
    CONSTANT_TEXT = "constant_text"
    UNK_FIELD = "unk_field"
    EMPTY_FIELD = "empty_field"
    CONSTANT_FIELD = "constant_field"
    LONG_TEXTS = "long_texts"
    QUERY_CONTAINS_POSITIVE = "query_contains_positive"
    TEMPLATE_SYNTAX = "template_syntax"
    HTML_MARKUP = "html_markup"
    LOSS_NOT_DECREASING = "loss_not_decreasing"


@dataclass(frozen=True)
class Finding:
    """One problem found in the data, with the numbers behind it.

    ``code`` is a :class:`FindingCode` (a stable string), ``severity`` is ``"error"`` (the run will
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
                        f" ({percent(s.get(f'{column}_truncated_share', 0.0))} over {s.get('max_seq_length')})"
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


def percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def ratio(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def clip(text: str, limit: int = EXAMPLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def snippet(text: str, start: int, end: int, limit: int = EXAMPLE_CHARS) -> str:
    """The text around a match, so the example shows the markup itself."""
    pad = max(0, (limit - (end - start)) // 2)
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    return ("…" if lo else "") + clip(text[lo:hi], limit) + ("…" if hi < len(text) else "")


def by_severity(findings: Iterable[Finding]) -> list[Finding]:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: order[f.severity])  # stable: check order within a severity
