"""``eval.json`` as one typed record: :class:`EvalReport`, written by evaluation and read by the report.

The keys are those documented in :mod:`embedtune.eval.evaluate` (``schema_version`` 1); fields added
later have defaults, so an ``eval.json`` written before them still reads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from embedtune.data.kinds import DataKind, data_kind
from embedtune.data.origin import GENERATED, REAL
from embedtune.eval.bootstrap import Comparison
from embedtune.fusion import FusionSpec

SCHEMA_VERSION = 1


class EvalReport(BaseModel):
    """The content of ``eval.json``: every system's metrics, the paired comparisons and the verdict."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = SCHEMA_VERSION
    data: str = ""
    split: str
    kind: str = "retrieval"
    n_queries: int
    n_corpus: int
    primary_metric: str = "ndcg@10"
    systems: dict[str, dict[str, float]]
    descriptions: dict[str, str] = Field(default_factory=dict)
    comparisons: list[Comparison] = Field(default_factory=list)
    verdict: str = ""
    query_origin: str = REAL
    lexical_overlap: float | None = None
    recommendation: str | None = None
    fusion: dict[str, FusionSpec] = Field(default_factory=dict)
    chance: dict[str, float] = Field(default_factory=dict)
    slices: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    seconds: dict[str, float] = Field(default_factory=dict)

    @property
    def profile(self) -> DataKind:
        """The data kind's profile: table columns, what a unit and an item are called."""
        return data_kind(self.kind)

    @property
    def generated(self) -> bool:
        """The split's queries were generated from the corpus: no verdict about real users' searches."""
        return self.query_origin == GENERATED
