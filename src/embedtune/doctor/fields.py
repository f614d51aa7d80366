"""Structured texts whose fields carry nothing [``unk_field``, ``empty_field``, ``constant_field``],
and one text repeated as nearly every anchor or positive [``constant_text``].

Structured texts are ``- Key: value`` or ``Key: value`` lines, like recsys prompts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from embedtune.doctor.findings import Finding, FindingCode, clip, percent, ratio

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
_FIELD_RE = re.compile(
    r"^(?P<indent>\s*)(?P<bullet>[-*•]\s+)?(?P<key>[A-Za-z_][\w .()/'-]{0,39}?)\s*:(?:\s+(?P<value>.*?)|)\s*$"
)
_ID_KEY_RE = re.compile(r"(?:^|[\s_-])id$|[a-z]Id$|ID$", re.IGNORECASE)
_ID_VALUE_RE = re.compile(r"^[\w#:-]*\d[\w#:-]*$")


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


def check_fields(column: str, texts: Sequence[str]) -> list[Finding]:
    n = len(texts)
    findings: list[Finding] = []
    if n < FIELD_MIN_ROWS:
        return findings
    top_text, top_count = Counter(texts).most_common(1)[0]
    if top_count >= FIELD_DEGENERATE_SHARE * n:
        findings.append(
            Finding(
                FindingCode.CONSTANT_TEXT,
                "error",
                f"{top_count:,} of {n:,} {column}s ({percent(top_count / n)}) are the same text ({clip(top_text, 60)!r}): "
                f"the model cannot learn which {column} belongs to which row. Check how the {column}s were built.",
                {
                    "column": column,
                    "n_rows": n,
                    "n_same": top_count,
                    "share": ratio(top_count, n),
                    "text": clip(top_text),
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
            target[key] = info | {"share": ratio(n_empty + n_unk, m)}
        elif top_n >= FIELD_DEGENERATE_SHARE * m and len(top_value.split()) >= INSTRUCTION_MIN_WORDS:
            instructions.append(key)
        elif top_n >= FIELD_DEGENERATE_SHARE * m:
            constant[key] = info | {"share": ratio(top_n, m), "value": clip(top_value, 80)}
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
            FindingCode.UNK_FIELD,
            unk,
            "'unk'/unknown",
            "fill them (check the join or feature extraction that builds them) or drop them",
        ),
        (FindingCode.EMPTY_FIELD, empty, "empty", "fill them or drop them from the template"),
        (FindingCode.CONSTANT_FIELD, constant, "the same value", "drop them from the template"),
    ):
        if not flagged:
            continue
        listing = ", ".join(f"{k} ({percent(v['share'])})" for k, v in flagged.items())
        findings.append(
            Finding(
                code,
                "warning",
                f"In the {column}s, {len(flagged)} of {len(keys) - len(instructions)} fields are {what} in >= "
                f"{percent(FIELD_DEGENERATE_SHARE)} of {n:,} rows: {listing}. {consequence[0].upper() + consequence[1:]} "
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
