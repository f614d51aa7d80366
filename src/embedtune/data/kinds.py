"""What differs between kinds of data — retrieval, site, recommendation — written down once.

A DATA_DIR's ``embedtune.json`` names its kind; :func:`data_kind` returns the profile every stage
reads instead of testing ``kind == "recsys"`` itself: the metrics and table columns of its
evaluation, its baselines, which of them the model is fused with (``hybrid``), what one evaluated unit is
called, the logQ default of training and how the doctor grades train/eval document overlap.

Example::

    from embedtune.data.kinds import data_kind

    kind = data_kind(split.kind)
    kind.metrics.max_k, kind.baselines, kind.units     # 100, ("bm25",), "queries"
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricSpec:
    """Which cut-offs to report; the defaults are the sentence-transformers evaluator's."""

    accuracy_at: tuple[int, ...] = (1, 3, 5, 10)
    precision_recall_at: tuple[int, ...] = (1, 3, 5, 10)
    ndcg_at: tuple[int, ...] = (10,)
    mrr_at: tuple[int, ...] = (10,)
    map_at: tuple[int, ...] = (100,)
    extra_recall_at: tuple[int, ...] = field(default=())
    hit_alias: bool = False  # recommendation papers call accuracy@k "HR@k"/"hit@k"

    @property
    def max_k(self) -> int:
        return max(
            self.accuracy_at + self.precision_recall_at + self.ndcg_at + self.mrr_at + self.map_at + self.extra_recall_at
        )


RETRIEVAL_METRICS = MetricSpec()
RECSYS_METRICS = MetricSpec(
    accuracy_at=(1, 3, 5, 10, 20, 50), ndcg_at=(10, 20), mrr_at=(10, 100), extra_recall_at=(20, 50), hit_alias=True
)


@dataclass(frozen=True)
class DataKind:
    """The profile of one kind of data (see the module docstring)."""

    name: str
    metrics: MetricSpec
    #: metric columns of the evaluation tables (eval.md, the card, the report)
    table_columns: tuple[str, ...]
    #: baseline systems next to the base model: ``bm25`` or the recommendation baselines
    baselines: tuple[str, ...]
    #: the baselines the model and the base model are fused with (``hybrid``, ``base_hybrid``)
    hybrid_with: tuple[str, ...]
    #: the per-query score normalisations the dev weight search may choose for those hybrids
    fusion_norms: tuple[str, ...] = ("zmuv", "min-max")
    unit: str = "query"
    units: str = "queries"
    items: str = "documents"
    #: ``logq_correction: auto`` means on (popular items are frequent in-batch negatives)
    logq_default: bool = False
    #: the doctor's severity for relevant eval documents that are also training positives
    eval_overlap_severity: str = "warning"
    #: the hybrids can fuse a ``cold`` part (the model's ranking of cold items, :class:`embedtune.fusion.ColdPart`),
    #: with weights chosen on dev among those that keep a share of the model's score on cold targets (``keep_cold``)
    cold_part: bool = False


RETRIEVAL = DataKind("retrieval", RETRIEVAL_METRICS, ("ndcg@10", "recall@10", "mrr@10", "map@100", "accuracy@1",
                                                      "recall@1"), ("bm25",), hybrid_with=("bm25",))
SITE = DataKind("site", RETRIEVAL.metrics, RETRIEVAL.table_columns, RETRIEVAL.baselines, hybrid_with=("bm25",))
# In recommendation the catalog is closed: recommending items seen in training is the task itself.
# Hybrids are z-scored only: an item a part does not list (the statistics know nothing of it, or too little to
# put it in their top 100) then counts as the part's mean for that user — the part abstains — where min-max
# would count it as the part's minimum and sink the cold items the text tower can rank (docs/benchmarks.md,
# "Transitions": on the demo shop's dev users z-score ties min-max, 0.2195 vs 0.2196, and lifts the cold targets).
RECSYS = DataKind("recsys", RECSYS_METRICS, ("ndcg@10", "recall@10", "recall@50", "ndcg@20", "mrr@100", "hit@1"),
                  ("popularity", "cooccurrence", "transitions", "attributes"),
                  hybrid_with=("cooccurrence", "transitions", "popularity", "attributes"),
                  fusion_norms=("zmuv",), unit="user", units="users", items="items", logq_default=True,
                  eval_overlap_severity="info", cold_part=True)
KINDS = {k.name: k for k in (RETRIEVAL, SITE, RECSYS)}


def data_kind(name: str | None) -> DataKind:
    """The profile of ``name`` (``embedtune.json`` → ``kind``); unknown or missing kinds are retrieval."""
    return KINDS.get(name or "retrieval", RETRIEVAL)
