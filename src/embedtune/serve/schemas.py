"""Request and response bodies of the HTTP API, and the 422 it answers for a bad one.

Types are the contract (strict: ``"k": "3"`` is not 3) and carry the limits, so pydantic rejects
oversize input with a 422 that names the field and the limit, and the OpenAPI page documents them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from embedtune.index import SearchHit
from embedtune.index.hybrid import SearchMode

MAX_QUERY_CHARS = 2_000
MAX_TEXT_CHARS = 8_000
MAX_TEXTS = 64
MAX_K = 100
#: POST /recommend's modes: those of ``embedtune recommend --mode`` (embedtune.recsys.config.RECOMMEND_MODES).
RecommendMode = Literal["text", "cooccurrence", "hybrid"]


def _valid_text(value: Any) -> Any:
    """Text that can be encoded: JSON's ``\\udXXX`` escapes can smuggle in lone surrogates, which no
    tokenizer accepts (they used to fail the whole micro-batch with a 500). Runs before the type
    check, so that one names the problem; anything but a string is left to it."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains a lone surrogate ({value[exc.start]!a}) at character {exc.start}: send valid Unicode text") from None
    return value


Text = Annotated[str, BeforeValidator(_valid_text)]
FilterValue = Text | int | float | bool


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [{"query": "how do I reset my password?", "k": 5}]})
    query: Text = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the question or search text")
    k: int = Field(10, ge=1, le=MAX_K, description="how many results")
    filters: dict[Text, FilterValue | list[FilterValue]] | None = Field(
        None, description='metadata equality filters, e.g. {"lang": "en"} or {"section": ["billing", "account"]}'
    )
    mode: SearchMode | None = Field(
        None, description="dense (cosine), lexical (BM25; PostgreSQL full-text search on a --store) or hybrid "
                          "(both fused, as evaluated); "
                          "default: the server's (GET /health, search.default_mode)")

    @model_validator(mode="after")
    def _not_blank(self) -> SearchRequest:
        if not self.query.strip():
            raise ValueError("query is blank")
        return self


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [{"texts": ["first text", "second text"]}]})
    texts: list[Text] = Field(min_length=1, max_length=MAX_TEXTS, description="texts to embed")

    @model_validator(mode="after")
    def _text_limits(self) -> EmbedRequest:
        for i, text in enumerate(self.texts):
            if len(text) > MAX_TEXT_CHARS:
                raise ValueError(f"texts[{i}] has {len(text)} characters, over the {MAX_TEXT_CHARS}-character limit")
        return self


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [{"user_id": "u42", "k": 10},
                                                              {"history": ["item-1", "item-7"], "mode": "hybrid"}]})
    user_id: Text | None = Field(None, max_length=MAX_QUERY_CHARS)
    history: list[Annotated[Text, Field(max_length=MAX_QUERY_CHARS)]] | None = Field(
        None, max_length=MAX_TEXTS * 16, description="item ids the user interacted with")
    k: int = Field(10, ge=1, le=MAX_K)
    mode: RecommendMode | None = Field(
        None, description="text (the model), cooccurrence (item to item) or hybrid (the model, co-occurrence, transitions, popularity and attributes, fused "
                          "with the fusion.json chosen on dev); default: the server's (GET /health, "
                          "recommend_modes.default_mode)")

    @model_validator(mode="after")
    def _one_of(self) -> RecommendRequest:
        if (self.user_id is None) == (not self.history):
            raise ValueError("give exactly one of user_id or a non-empty history")
        return self


class Hit(BaseModel):
    id: str
    score: float
    title: str
    text: str
    url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_hit(cls, hit: SearchHit) -> Hit:
        return cls(**hit.to_dict())


class SearchResponse(BaseModel):
    query: str
    k: int
    mode: SearchMode = Field(description="the mode that answered: scores are cosines, BM25 scores or fused scores")
    results: list[Hit]
    took_ms: float


class EmbedResponse(BaseModel):
    model: str
    backend: str
    dim: int
    embeddings: list[list[float]]


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecommendResponse(BaseModel):
    user_id: str | None = None
    k: int
    mode: RecommendMode = Field(description="the mode that ranked: scores are cosines, co-occurrence or fused scores")
    fallback: str | None = Field(None, description="why the mode differs from the one asked for (or the default): "
                                                   "a history without co-occurrence statistics gets the text tower")
    results: list[RecommendedItem]
    took_ms: float


# Longer inputs are cut in error bodies: a 900 KB query must not come back whole in its 422.
ERROR_INPUT_CHARS = 200
ERROR_INPUT_ITEMS = 10


def _clip(value: Any) -> Any:
    """A bounded, JSON-safe copy of a rejected input for an error body."""
    if isinstance(value, str):
        safe = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return safe if len(safe) <= ERROR_INPUT_CHARS else f"{safe[:ERROR_INPUT_CHARS]}… ({len(value):,} characters)"
    if isinstance(value, list | tuple):
        return [_clip(v) for v in value[:ERROR_INPUT_ITEMS]] + ([f"… ({len(value):,} items)"] if len(value) > ERROR_INPUT_ITEMS else [])
    if isinstance(value, dict):
        items = list(value.items())
        out = {_clip(str(k)): _clip(v) for k, v in items[:ERROR_INPUT_ITEMS]}
        if len(items) > ERROR_INPUT_ITEMS:
            out["…"] = f"{len(items):,} keys"
        return out
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clip(str(value))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with each rejected input cut short and made printable."""
    errors = [{key: (_clip(val) if key in ("input", "ctx", "msg") else val) for key, val in err.items()} for err in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)
