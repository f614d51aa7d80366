"""Top-k items for a known user or an ad-hoc history: text tower, co-occurrence, or both fused.

The profile is built exactly as in training — same code, same template, same settings from the
DATA_DIR's manifest — from the user's whole history (``interactions.parquet``) or from the given
item ids taken as clicks in order. Items in that history are never recommended (unless the DATA_DIR
was built with ``--keep-history``: then, as in its evaluation, they may be).

Two ways to open one:

* ``Recommender.from_index(index)`` ranks the index's own item vectors, encoding the profile with the
  index's encoder backend (``embedtune serve``; ``embedtune recommend --index``); the co-occurrence
  statistics are the ones ``index build`` saved inside the index.
* ``Recommender(model, data_dir)`` encodes the DATA_DIR's items with the model (cached on disk) and
  uses the statistics ``train`` saved beside the model, or computes them from the DATA_DIR.

Modes (:data:`MODES`):

* ``text``: cosine between profile and item vectors (the evaluation's ``model`` system).
* ``cooccurrence``: item-to-item co-occurrence with the history
  (:class:`~embedtune.recsys.stats.ItemStats`, the evaluation's ``cooccurrence`` system).
* ``hybrid``: each part of the fusion — ``model``, ``cooccurrence``, ``transitions``, ``popularity``,
  ``attributes``, named as the evaluation's systems — ranks its top ``fusion.depth`` items for the user (history excluded as in
  evaluation), and :func:`embedtune.fusion.fuse_runs` fuses them with the ``fusion.json`` chosen on
  dev: the ranking evaluation scored for a user with that history.

When none of the history's items has co-occurrence statistics (new items, or items nobody else met in
training), ``cooccurrence`` falls back to the text tower for that request and says so in
:attr:`Ranking.fallback`; so does ``hybrid`` when neither co-occurrence nor transitions know any of them. The default mode (:func:`choose_recommend_mode`) is ``hybrid`` when the
``fusion.json`` records that the hybrid beat the text tower on dev, else ``text``; without a
``fusion.json`` a requested hybrid uses :mod:`embedtune.fusion`'s documented default (equal z-score
weights over the five parts, as :func:`~embedtune.fusion.choose_fusion` gives without judged queries).

Example::

    from embedtune.recsys.recommend import Recommender
    rec = Recommender("models/shop", "data/shop")
    for r in rec.recommend(user_id="42", k=5):
        print(r.item_id, round(r.score, 3), r.metadata.get("item_title"))
    rec.rank(history=["17", "305"], k=5, mode="hybrid").mode
    rec.modes.reason                      # why the default mode is what it is
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from embedtune.data.beir import read_corpus, read_manifest
from embedtune.errors import EmbedtuneError
from embedtune.fusion import (
    COLD_PART,
    DEFAULT_FUSION,
    FUSION_FILE,
    FusionSpec,
    ServedModes,
    fuse_runs,
    model_folder,
)
from embedtune.recsys.build import INTERACTIONS_FILE, USERS_FILE
from embedtune.recsys.config import RECOMMEND_MODES, RecsysConfig
from embedtune.recsys.profiles import ProfileOptions, build_profiles, iter_user_prompts
from embedtune.recsys.sql import literal
from embedtune.recsys.stats import STATS_DIR, ItemStats, below_every, recent_distinct

MODES = RECOMMEND_MODES
#: The parts of the hybrid, named as the evaluation's systems: ``fusion.json`` weighs parts by these names.
HYBRID_PARTS: tuple[str, ...] = ("model", "cooccurrence", "transitions", "popularity", "attributes")
#: The parts scored from the history's items by the statistics (the text tower reads the profile instead).
HISTORY_PARTS: tuple[str, ...] = ("cooccurrence", "transitions")
#: The query id of a served request in the runs handed to :func:`~embedtune.fusion.fuse_runs`.
_NOW = "now"


@dataclass(frozen=True)
class Recommendation:
    """One recommended item: its id, score (cosine for text, co-occurrence, or fused for hybrid) and catalog metadata."""

    item_id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ranking:
    """The items of one request, the mode that ranked them, and why it differs from the one asked for."""

    items: list[Recommendation]
    mode: str
    fallback: str | None = None


class UnknownUserError(EmbedtuneError):
    """A user id that is not in the DATA_DIR's interactions (``POST /recommend`` answers 404)."""


@dataclass(frozen=True)
class RecommendModes(ServedModes):
    """The mode a request without one gets (one of :data:`MODES`), why, and the fusion ``hybrid`` uses."""

    modes: tuple[str, ...] = MODES


def default_hybrid_fusion() -> FusionSpec:
    """:mod:`embedtune.fusion`'s documented default over the hybrid's parts: its method and norm, and equal
    weights (what :func:`~embedtune.fusion.choose_fusion` gives them without judged queries)."""
    return DEFAULT_FUSION.model_copy(update={
        "weights": {p: 1.0 / len(HYBRID_PARTS) for p in HYBRID_PARTS},
        "note": "documented default: no fusion.json chosen on a dev split",
    })


def find_fusion(folders: Sequence[Path | None]) -> Path | None:
    """The first ``fusion.json`` in ``folders`` (an index's ``recsys/``, then the model folder)."""
    for folder in folders:
        if folder is not None and (Path(folder) / FUSION_FILE).is_file():
            return Path(folder) / FUSION_FILE
    return None


def choose_recommend_mode(fusion_path: Path | None) -> RecommendModes:
    """The default mode: ``hybrid`` when ``fusion_path`` records a dev result where the hybrid beat the text
    tower (``dev_metric["hybrid"] > dev_metric["model"]``), else ``text``; a broken file is a DataError naming it.

    A ``fusion.json`` over other parts (a search fusion with ``bm25``) is left aside: hybrid then uses
    :func:`default_hybrid_fusion`."""
    spec = FusionSpec.load(fusion_path) if fusion_path is not None else None
    if spec is None:
        return RecommendModes("text", "no fusion.json beside the model or in the index (`embedtune eval` or `train` "
                                      "on recommendation data with a dev split writes one): text; hybrid on request "
                                      "uses the documented default fusion", default_hybrid_fusion(), "documented default")
    others = [p for p in spec.parts if p not in (*HYBRID_PARTS, COLD_PART)]
    if others:
        return RecommendModes("text", f"{fusion_path} fuses {', '.join(spec.parts)}, not the recommendation parts "
                                      f"{', '.join(HYBRID_PARTS)}: text; hybrid on request uses the documented default "
                                      "fusion", default_hybrid_fusion(), "documented default")
    hybrid, text = spec.dev_metric.get("hybrid"), spec.dev_metric.get("model")
    if hybrid is None or text is None:
        return RecommendModes("text", f"{fusion_path} records no dev result of the hybrid and the text tower "
                                      f"({spec.note or 'no judged dev users'}): text", spec, str(fusion_path))
    beat = hybrid > text
    where = f"split {spec.split!r}" + (f", {spec.n_queries} users" if spec.n_queries else "")
    line = f"on {where}, hybrid {spec.metric} {hybrid:.4f} vs text tower {text:.4f}"
    return RecommendModes("hybrid" if beat else "text",
                          f"{fusion_path}: hybrid {'beat' if beat else 'did not beat'} the text tower ({line})",
                          spec, str(fusion_path))


def recommend_modes_of_index(index: Any) -> RecommendModes:
    """:func:`choose_recommend_mode` for an index: the ``fusion.json`` in its ``recsys/`` (copied from the
    model by ``index build``), else the one in the model folder it names."""
    path = getattr(index, "path", None)
    return choose_recommend_mode(find_fusion([Path(path) / STATS_DIR if path else None,
                                              model_folder(index.manifest.model)]))


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else one clear error."""
    if mode not in MODES:
        raise EmbedtuneError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    return mode


class Recommender:
    """Recommend items of a recsys DATA_DIR; see the module docstring for the two constructors.

    Calls are serialised by a lock around the profile builder, so one instance can serve concurrent requests.
    """

    def __init__(
        self,
        model_path: str | Path,
        data_dir: str | Path,
        *,
        model: Any = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        use_cache: bool = True,
        stats: ItemStats | None = None,
        show_progress: bool = False,
    ):
        from embedtune.dense import DenseSystem
        from embedtune.index import VectorIndex

        self.data_dir = Path(data_dir)
        self._read_data_dir()
        corpus = read_corpus(self.data_dir / "corpus.jsonl")
        self.system = DenseSystem(
            "model", model_path, batch_size=batch_size, max_seq_length=max_seq_length, use_cache=use_cache, model=model,
            show_progress=show_progress,
        )
        item_ids = list(corpus)
        vectors = self.system.corpus_embeddings([corpus[i].full_text for i in item_ids])
        # An in-memory exact index: the same ranking code as a saved index, without writing one.
        self.index = VectorIndex.from_documents(
            list(corpus.values()), vectors, model=str(model_path), ann="none", kind="recsys", data_dir=str(self.data_dir)
        )
        self._encode_query: Callable[[list[str]], np.ndarray] = lambda texts: self.system.encode(texts, "query")
        model_dir = self.system.model_path
        self.stats = stats or _load_stats([model_dir], self.data_dir, item_ids)
        self.modes = choose_recommend_mode(find_fusion([model_dir]))
        self._complete_stats()
        self._open_profiles()

    @classmethod
    def from_index(
        cls, index: Any, encoder: Any = None, data_dir: str | Path | None = None, stats: ItemStats | None = None
    ) -> Recommender:
        """Rank the vectors of ``index`` (a :class:`~embedtune.index.VectorIndex` or its folder), encoding
        profiles with ``encoder`` (default: the index's model and backend; ``embedtune serve`` passes the
        encoder it serves with). Statistics and ``fusion.json``: the index's ``recsys/`` first, then the
        model folder's."""
        from embedtune.index import VectorIndex

        if isinstance(index, str | Path):
            index = VectorIndex.load(index)
        if not isinstance(index, VectorIndex):
            raise EmbedtuneError("recommendations rank an index folder's vectors: serve the index folder, not a store")
        manifest = index.manifest
        data_dir = data_dir or manifest.data_dir
        if manifest.kind != "recsys" or not data_dir:
            raise EmbedtuneError(
                f"the index at {index.path} was not built from a recommendation DATA_DIR (kind {manifest.kind!r}); "
                "build it with `embedtune index build --corpus DATA_DIR` on a recsys DATA_DIR"
            )
        if encoder is None:
            from embedtune.encoders import load_encoder

            encoder = load_encoder(manifest.model, manifest.backend)
        self = cls.__new__(cls)
        self.data_dir = Path(data_dir)
        self._read_data_dir()
        self.system = None
        self.index = index
        self._encode_query = lambda texts: encoder.encode(list(texts))
        self.encoder = encoder
        model_dir = model_folder(manifest.model)
        folders = [p for p in (index.path, model_dir) if p is not None]
        self.stats = stats or _load_stats(folders, self.data_dir, [i for i in index.ids if i in index])
        self.modes = recommend_modes_of_index(index)
        self._complete_stats()
        self._open_profiles()
        return self

    # ---- setup ----------------------------------------------------------------------------------
    def _read_data_dir(self) -> None:
        manifest = read_manifest(self.data_dir)
        if manifest.get("kind") != "recsys":
            raise EmbedtuneError(
                f"{self.data_dir} is not a recommendation DATA_DIR (manifest kind {manifest.get('kind')!r}); "
                "build one with `embedtune recsys build`"
            )
        self._interactions = self.data_dir / manifest.get("interactions", INTERACTIONS_FILE)
        if not self._interactions.is_file():
            raise EmbedtuneError(f"{self._interactions} not found: rebuild with `embedtune recsys build`")
        settings = dict(manifest.get("config", {}))
        template = manifest.get("template", {})
        settings.update({"user_template": template.get("user"), "item_template": template.get("item")})
        self.config = RecsysConfig(**{k: v for k, v in settings.items() if v is not None})
        columns = manifest.get("columns", {})
        self.options = ProfileOptions(
            item_fields=tuple(manifest.get("item_fields", ())),
            user_attributes=tuple(columns.get("user_attributes") or ()),
        )

    def _complete_stats(self) -> None:
        """Statistics saved before transitions existed (schema 1) get them from the DATA_DIR when the
        fusion weighs them."""
        if self.stats.transitions is None and "transitions" in self.modes.fusion.parts:
            self.stats = self.stats.with_transitions(self.data_dir)
        if self.stats.attributes is None and "attributes" in self.modes.fusion.parts:
            self.stats = self.stats.with_attributes(self.data_dir)

    def _open_profiles(self) -> None:
        index = self.index
        self.item_ids = [i for i in index.ids if i in index]
        self._known_items = set(self.item_ids)
        # Each index row's column in the statistics (-1: an item added after them), computed once: the
        # statistics parts score every row per request.
        self._stats_cols = np.array([self.stats.row.get(i, -1) for i in index.ids], dtype=np.int64)
        self._popularity_rows = self._on_rows(self.stats.popularity_scores()[0])
        # The fusion's cold part ranks the items with at most max_events training events (an item the
        # statistics never saw has none), as evaluation counts them.
        made = self.modes.fusion.cold or self.modes.fusion.slot
        self._cold = (frozenset(i for i, n in zip(index.ids, self._popularity_rows, strict=True)
                                if n <= made.max_events and i in index) if made is not None else None)
        self._lock = threading.Lock()
        self._con = duckdb.connect()
        self._con.execute(f"CREATE VIEW interactions AS SELECT * FROM read_parquet({literal(self._interactions)})")
        rows = []
        for item_id in self.item_ids:
            meta = index.metadata[index.id_to_row[item_id]]
            rows.append({"item_id": item_id, "category": meta.get("category"), "shop": meta.get("shop"),
                         "brand": meta.get("brand"), "title": meta.get("item_title")})
        items_df = pd.DataFrame(rows, columns=["item_id", "category", "shop", "brand", "title"]).astype(object)
        self._con.register("items_df", items_df)
        self._con.execute("CREATE TABLE items AS SELECT * FROM items_df")
        self._con.unregister("items_df")
        users = self.data_dir / USERS_FILE
        if self.options.user_attributes and users.is_file():
            self._con.execute(f"CREATE TABLE users AS SELECT * FROM read_parquet({literal(users)})")
        elif self.options.user_attributes:
            self.options = ProfileOptions(item_fields=self.options.item_fields)

    # ---- profiles -------------------------------------------------------------------------------
    def history_of(self, user_id: str) -> list[str]:
        """A known user's items in time order (repeats included)."""
        with self._lock:
            rows = self._con.execute(
                "SELECT item_id FROM interactions WHERE user_id = ? ORDER BY pos", [str(user_id)]
            ).fetchall()
        if not rows:
            raise UnknownUserError(
                f"unknown user {user_id!r}: not in {self.data_dir / INTERACTIONS_FILE} (pass a history instead)"
            )
        return [r[0] for r in rows]

    def profile(self, user_id: str | None = None, history: Sequence[str] | None = None) -> str:
        """The profile prompt the model sees for this user or history (as in training)."""
        prompt, _ = self._profile_and_history(user_id, history)
        assert prompt is not None
        return prompt

    def _checked_history(self, history: Sequence[str]) -> list[str]:
        """An ad-hoc history's item ids, stripped; unknown ids or none at all are one clear error."""
        items = [str(i).strip() for i in history if str(i).strip()]
        unknown = [i for i in items if i not in self._known_items]
        if unknown:
            raise EmbedtuneError(
                f"unknown item ids in the history: {', '.join(unknown[:10])}"
                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            )
        if not items:
            raise EmbedtuneError("the history is empty: give at least one item id")
        return items

    def _profile_and_history(
        self, user_id: str | None, history: Sequence[str] | None, with_profile: bool = True
    ) -> tuple[str | None, list[str]]:
        """The profile prompt (``None`` without ``with_profile``: building it is most of a co-occurrence
        request's time) and the history's items in time order."""
        if (user_id is None) == (history is None):
            raise EmbedtuneError("give exactly one of a user id or a history of item ids")
        if not with_profile:
            return None, (self.history_of(user_id) if user_id is not None else self._checked_history(history))
        with self._lock:
            con = self._con
            if user_id is not None:
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE ev AS SELECT user_id, item_id, event, pos FROM interactions "
                    "WHERE user_id = ?",
                    [str(user_id)],
                )
                n = int(con.execute("SELECT count(*) FROM ev").fetchone()[0])
                if n == 0:
                    raise UnknownUserError(
                        f"unknown user {user_id!r}: not in {self.data_dir / INTERACTIONS_FILE} (pass a history instead)"
                    )
                items = [r[0] for r in con.execute("SELECT item_id FROM ev ORDER BY pos").fetchall()]
                uid = str(user_id)
            else:
                items = self._checked_history(history)
                con.execute("CREATE OR REPLACE TEMP TABLE ev (user_id VARCHAR, item_id VARCHAR, event VARCHAR, pos BIGINT)")
                con.executemany("INSERT INTO ev VALUES ('anonymous', ?, 'click', ?)", [(it, i) for i, it in enumerate(items)])
                n, uid = len(items), "anonymous"
            con.execute(
                "CREATE OR REPLACE TEMP TABLE targets AS SELECT 'now' AS query_id, ? AS user_id, ? AS hist_len, 0 AS pos",
                [uid, n],
            )
            build_profiles(con, self.config, self.options)
            prompts = list(iter_user_prompts(con, self.config, self.options))
        return prompts[0][1], items

    # ---- ranking --------------------------------------------------------------------------------
    @property
    def default_mode(self) -> str:
        """The mode used when none is asked for (:attr:`modes` says why)."""
        return self.modes.default

    def recommend(
        self, user_id: str | None = None, history: Sequence[str] | None = None, k: int = 10, mode: str | None = None
    ) -> list[Recommendation]:
        """Top ``k`` items for a known user or an ad-hoc history; history items are never returned."""
        return self.rank(user_id=user_id, history=history, k=k, mode=mode).items

    def rank(
        self, user_id: str | None = None, history: Sequence[str] | None = None, k: int = 10, mode: str | None = None
    ) -> Ranking:
        """Like :meth:`recommend`, and also which mode ranked the items (and why, after a fallback)."""
        mode = check_mode(mode or self.default_mode)
        if k < 1:
            raise EmbedtuneError("k must be at least 1")
        prompt, items = self._profile_and_history(user_id, history, with_profile=mode != "cooccurrence")
        exclude = set(items) if self.config.exclude_history else set()  # as the DATA_DIR's exclude/ files
        attributes = self.stats.attributes
        recent = recent_distinct(items, max(self.stats.history_items, attributes.history_items if attributes else 0))
        fusion = self.modes.fusion
        fallback = None
        if mode == "cooccurrence" and not self.stats.has_signal("cooccurrence", recent):
            fallback = "no item of the history has co-occurrence statistics: ranked by the text tower"
            mode = "text"
        history_parts = [p for p in HISTORY_PARTS if p in fusion.parts]
        if mode == "hybrid" and history_parts and not any(self.stats.has_signal(p, recent) for p in history_parts):
            fallback = ("no item of the history has co-occurrence statistics"
                        + (", nor transitions" if "transitions" in history_parts else "") + ": ranked by the text tower")
            mode = "text"
        if prompt is None and mode != "cooccurrence":
            prompt = self.profile(user_id=user_id, history=history)
        if mode == "hybrid":
            parts = [p for p in fusion.parts if p != COLD_PART]  # fuse_runs makes the cold part from its source
            assert prompt is not None
            vector = self._encode_query([prompt])  # once: the text part and the cold slot both search with it
            centred = None
            if fusion.slot is not None:  # the slot's item: the text tower's best cold one, the user vector centred
                shift = fusion.slot.centre * np.asarray(fusion.slot.mean, dtype=np.float32)
                centred = {_NOW: self.nearest(np.asarray(vector, dtype=np.float32) - shift[None, :], fusion.depth,
                                              exclude)}
            ranked = fuse_runs(fusion, self.part_runs(prompt, recent, exclude, fusion.depth, parts, vector=vector),
                               k=k, cold=self._cold, centred=centred)[_NOW]
        else:
            part = "model" if mode == "text" else mode
            ranked = self.part_runs(prompt, recent, exclude, k, [part])[part][_NOW]
        return Ranking([self._recommendation(item, score) for item, score in ranked], mode, fallback)

    def part_runs(
        self, prompt: str | None, recent: list[str], exclude: set[str], depth: int, parts: Sequence[str] = HYBRID_PARTS,
        vector: np.ndarray | None = None,
    ) -> dict[str, dict[str, list[tuple[str, float]]]]:
        """Each part's top ``depth`` for one request, as runs (``{part: {"now": [(item, score), ...]}}``) the
        way evaluation ranks them: ``model`` by cosine with the profile (``vector``: its encoding, when the caller
        has it), ``cooccurrence``, ``transitions`` and ``attributes`` with the ``recent`` items (distinct, most
        recent first), ``popularity`` by training interactions; ``exclude`` left out, ties settled by item id."""
        runs = {}
        for part in parts:
            if part == "model":
                if prompt is None and vector is None:
                    raise EmbedtuneError("the text part needs the profile prompt")
                top = (self.nearest(vector, depth, exclude) if vector is not None
                       else self.text_top(prompt, depth, exclude))  # type: ignore[arg-type]
            elif part == "cooccurrence":
                top = self.index.top_by_scores(self._on_rows(self.stats.cooccurrence_scores([recent])[0]), depth, exclude)
            elif part == "transitions":
                top = self.index.top_by_scores(self._on_rows(self.stats.transition_scores([recent])[0]), depth, exclude)
            elif part == "popularity":
                top = self.index.top_by_scores(self._popularity_rows, depth, exclude)
            elif part == "attributes":
                scores = self.stats.attribute_scores([recent])[0]
                top = self.index.top_by_scores(self._on_rows(scores, fill=below_every(scores)), depth, exclude)
            else:
                raise EmbedtuneError(f"unknown part {part!r} in the fusion: choose among {', '.join(HYBRID_PARTS)}")
            runs[part] = {_NOW: top}
        return runs

    def text_top(self, prompt: str, k: int, exclude: set[str]) -> list[tuple[str, float]]:
        """The ``k`` items nearest the profile in the index, ``exclude`` left out."""
        return self.nearest(self._encode_query([prompt]), k, exclude)

    def nearest(self, vector: np.ndarray, k: int, exclude: set[str]) -> list[tuple[str, float]]:
        """The ``k`` items nearest a query vector (one row) in the index, ``exclude`` left out."""
        banned = len(exclude & self._known_items)
        hits = self.index.search(vector, k=k + banned)[0]
        return [(h.id, h.score) for h in hits if h.id not in exclude][:k]

    def cooccurrence_top(self, recent: list[str], k: int, exclude: set[str]) -> list[tuple[str, float]]:
        """The ``k`` items that co-occur most with ``recent`` (distinct, most recent first)."""
        return self.part_runs(None, recent, exclude, k, ["cooccurrence"])["cooccurrence"][_NOW]

    def warm(self) -> None:
        """Pay a one-off cost now rather than on the first hybrid request: ranx's numba compilation
        (seconds in a fresh process; cached on disk after)."""
        fusion = self.modes.fusion
        fuse_runs(fusion, {p: {"warm-up": [("a", 1.0), ("b", 0.5)]} for p in fusion.parts}, k=1, cold=(),
                  centred={"warm-up": [("a", 1.0)]})

    def _on_rows(self, scores: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Scores in the statistics' item order → one per index row (``fill`` for an item the statistics never saw)."""
        out = np.full(len(self._stats_cols), fill, dtype=np.float64)
        known = self._stats_cols >= 0
        out[known] = scores[self._stats_cols[known]]
        return out

    def _recommendation(self, item_id: str, score: float) -> Recommendation:
        return Recommendation(item_id=item_id, score=float(score),
                              metadata=dict(self.index.metadata[self.index.id_to_row[item_id]]))


def _load_stats(folders: Sequence[Path], data_dir: Path, item_ids: list[str]) -> ItemStats:
    """Saved statistics from the first folder holding ``recsys/``, else computed from the DATA_DIR."""
    for folder in folders:
        if (Path(folder) / STATS_DIR / "item_stats.json").is_file():
            return ItemStats.load(folder)
    return ItemStats.from_data_dir(data_dir, item_ids)
