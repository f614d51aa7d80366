"""What ``embedtune serve`` can be told: one settings class, every default written here once.

Each field can also come from the environment, prefixed ``EMBEDTUNE_`` (``EMBEDTUNE_API_KEY``,
``EMBEDTUNE_RELOAD_POLL_S``, ...); a value given to the constructor (or a CLI flag) wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "EMBEDTUNE_"
API_KEY_ENV = f"{ENV_PREFIX}API_KEY"


class ServeSettings(BaseSettings):
    """Everything ``embedtune serve`` can be told; every default is written here once."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", protected_namespaces=())

    index: Path | None = Field(None, description="index folder to serve (from `embedtune index build`)")
    store: SecretStr | None = Field(None, description="PostgreSQL + pgvector store URL, instead of an index folder (embedtune.store.postgres)")
    table: str = Field("embedtune_documents", description="the store's table (with --store)")
    backend: str | None = Field(None, description="torch | onnx | onnx-int8 | openvino; default: the backend the index was built with")
    api_key: str | None = Field(None, description=f"require this key (Authorization: Bearer KEY or X-API-Key); default ${API_KEY_ENV}")
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed to call the API from a browser ('*' for any)")
    max_body_bytes: int = Field(1_000_000, description="largest request body accepted, in bytes (larger: 413)")
    max_batch: int = Field(64, description="most requests micro-batched into one encoder call")
    batch_wait_ms: float = Field(
        0.0, description="how long a request waits for others to batch with (0: batch only what is already queued)"
    )
    reload_poll_s: float = Field(2.0, description="seconds between checks of the index folder for a new version (0: off)")
    mode: Literal["auto", "dense", "lexical", "hybrid"] = Field(
        "auto", description="search mode of requests that name none; auto: hybrid when the model folder's fusion.json "
                            "beat dense on dev, else dense; dense for a --store (embedtune.index.hybrid.choose_mode)")
    threads: int | None = Field(None, description="encoder threads (default: all cores)")
    title: str = Field("embedtune search", description="the API's title in its OpenAPI docs (/docs)")

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(f"the API key is empty (an unset variable, or ${API_KEY_ENV} set to nothing?): "
                             "give a real key, or none to turn auth off")
        return value

    def resolved_api_key(self) -> str | None:
        """The key requests must carry (from the constructor or ``$EMBEDTUNE_API_KEY``), or None."""
        return self.api_key
