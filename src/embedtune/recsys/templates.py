"""The two prompt templates: a user profile (the query) and an item (the document).

Both are Jinja strings a user may replace (``user_template`` / ``item_template`` in the config).
The defaults are the seed project's templates, plus the fields that carry most signal in text-based
recommenders: recent item titles in the profile and title/description in the item text.

Variables of the user template: ``user_id``, ``hist_categories``, ``hist_shops``, ``hist_brands``,
``hist_intentions`` (strings, "unk" when there is nothing), ``hist_items`` (recent titles, or None
when the catalog has no titles), ``history_length`` (int) and ``user_attributes`` (dict from the
optional users file). Item template: ``item_id``, ``category``, ``shop``, ``brand`` ("unk" when
missing), ``title`` and ``description`` (None when the catalog has no such column) and
``attributes`` (every other catalog column).

IDs stay in the text as in the seed, but they carry no meaning for MiniLM: a model can only learn
from words that mean something (categories, brands, titles). When every field is "unk", the
profile and the item differ only by IDs and the model has nothing to learn from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from embedtune.errors import EmbedtuneError

UNK = "unk"

DEFAULT_USER_TEMPLATE = """User Profile:
- user_id: {{ user_id }}
{%- for name, value in user_attributes.items() %}
- {{ name }}: {{ value }}
{%- endfor %}
- HistCategories: {{ hist_categories }}
- HistShops: {{ hist_shops }}
- HistBrands: {{ hist_brands }}
- HistIntentions: {{ hist_intentions }}
{%- if hist_items is not none %}
- HistItems: {{ hist_items }}
{%- endif %}
Preference: retrieve suitable items given user historical patterns."""

DEFAULT_ITEM_TEMPLATE = """Item Metadata:
- item_id: {{ item_id }}
{%- if title is not none %}
- Title: {{ title }}
{%- endif %}
- Category: {{ category }}
- Shop: {{ shop }}
- Brand: {{ brand }}
{%- if description %}
- Description: {{ description }}
{%- endif %}
Goal: match relevance for likely click."""

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class PromptTemplate:
    """A compiled Jinja template; errors (syntax, unknown variable) name which template failed."""

    def __init__(self, source: str, name: str):
        self.name = name
        self.source = source
        try:
            self._template = _ENV.from_string(source)
        except TemplateError as exc:
            raise EmbedtuneError(f"{name}: template syntax error: {exc}") from None

    def render(self, values: Mapping[str, Any]) -> str:
        try:
            text = self._template.render(**values)
        except TemplateError as exc:
            raise EmbedtuneError(
                f"{name_or(self.name)}: cannot render ({exc}); variables available: {', '.join(sorted(values))}"
            ) from None
        return text.strip()


def name_or(name: str) -> str:
    return name or "template"


def or_unk(value: Any) -> str:
    """A value as prompt text, "unk" when missing or blank."""
    if value is None:
        return UNK
    text = str(value).strip()
    return text if text else UNK
