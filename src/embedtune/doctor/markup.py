"""Template syntax (``{# #}``, ``{% %}``, ``{{ }}``) and HTML tags/entities left in texts [``template_syntax``, ``html_markup``]."""

from __future__ import annotations

import html.entities
import re
from collections.abc import Sequence

from embedtune.doctor.findings import (
    MAX_EXAMPLES,
    ROW_SHARE_WARN,
    Finding,
    FindingCode,
    clip,
    percent,
    snippet,
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


def check_markup(columns: Sequence[tuple[str, Sequence[str]]]) -> list[Finding]:
    findings: list[Finding] = []
    for code, finder in ((FindingCode.TEMPLATE_SYNTAX, _find_template), (FindingCode.HTML_MARKUP, _find_html)):
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
                            "match": clip(match[0], 80),
                            "context": snippet(text, match[1], match[2]),
                        }
                    )
            if count:
                per_column[column] = count
        if not per_column:
            continue
        worst = max(per_column[c] / totals[c] for c in per_column)
        listing = ", ".join(
            f"{c} {per_column[c]:,} of {totals[c]:,} ({percent(per_column[c] / totals[c])})" for c in per_column
        )
        if code == FindingCode.TEMPLATE_SYNTAX:
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
