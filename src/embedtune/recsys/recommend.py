"""Top-k items for a known user or an ad-hoc history, with a trained (or the base) model.

The profile is built exactly as in training — same code, same template, same settings from the
DATA_DIR's manifest — from the user's whole history (``interactions.parquet``) or from the given
item ids taken as clicks in order. Items in that history are never recommended.

Example::

    from embedtune.recsys.recommend import Recommender
    rec = Recommender("models/shop", "data/shop")
    for r in rec.recommend(user_id="42", k=5):
        print(r.item_id, round(r.score, 3), r.metadata.get("item_title"))
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from embedtune.data.beir import read_corpus, read_manifest
from embedtune.errors import EmbedtuneError
from embedtune.recsys.build import INTERACTIONS_FILE, USERS_FILE
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.profiles import ProfileOptions, build_profiles, iter_user_prompts
from embedtune.recsys.sql import literal


@dataclass(frozen=True)
class Recommendation:
    """One recommended item: its id, cosine score and catalog metadata."""

    item_id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


class Recommender:
    """Recommend items from a recsys DATA_DIR with a sentence-transformers model.

    Item embeddings are computed once (and cached on disk, keyed by model weights and item texts).
    Calls are serialised by a lock, so one instance can serve concurrent requests.
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
    ):
        from embedtune.dense import DenseSystem

        self.data_dir = Path(data_dir)
        manifest = read_manifest(self.data_dir)
        if manifest.get("kind") != "recsys":
            raise EmbedtuneError(
                f"{self.data_dir} is not a recommendation DATA_DIR (manifest kind {manifest.get('kind')!r}); "
                "build one with `embedtune recsys build`"
            )
        interactions = self.data_dir / manifest.get("interactions", INTERACTIONS_FILE)
        if not interactions.is_file():
            raise EmbedtuneError(f"{interactions} not found: rebuild with `embedtune recsys build`")
        settings = dict(manifest.get("config", {}))
        template = manifest.get("template", {})
        settings.update({"user_template": template.get("user"), "item_template": template.get("item")})
        self.config = RecsysConfig(**{k: v for k, v in settings.items() if v is not None})
        columns = manifest.get("columns", {})
        self.options = ProfileOptions(
            item_fields=tuple(manifest.get("item_fields", ())),
            user_attributes=tuple(columns.get("user_attributes") or ()),
        )
        self.corpus = read_corpus(self.data_dir / "corpus.jsonl")
        self.item_ids = list(self.corpus)
        self._index = {item: i for i, item in enumerate(self.item_ids)}
        self.system = DenseSystem(
            "model", model_path, batch_size=batch_size, max_seq_length=max_seq_length, use_cache=use_cache, model=model
        )
        self._item_emb = self.system.corpus_embeddings([self.corpus[i].full_text for i in self.item_ids])
        self._lock = threading.Lock()
        self._con = duckdb.connect()
        self._con.execute(
            f"CREATE VIEW interactions AS SELECT * FROM read_parquet({literal(interactions)})"
        )
        rows = []
        for item_id, doc in self.corpus.items():
            meta = doc.metadata
            rows.append({
                "item_id": item_id,
                "category": meta.get("category"),
                "shop": meta.get("shop"),
                "brand": meta.get("brand"),
                "title": meta.get("item_title"),
            })
        items_df = pd.DataFrame(rows, columns=["item_id", "category", "shop", "brand", "title"]).astype(object)
        self._con.register("items_df", items_df)
        self._con.execute("CREATE TABLE items AS SELECT * FROM items_df")
        self._con.unregister("items_df")
        users = self.data_dir / USERS_FILE
        if self.options.user_attributes and users.is_file():
            self._con.execute(f"CREATE TABLE users AS SELECT * FROM read_parquet({literal(users)})")
        elif self.options.user_attributes:
            self.options = ProfileOptions(item_fields=self.options.item_fields)

    def history_of(self, user_id: str) -> list[str]:
        """A known user's items in time order (repeats included)."""
        with self._lock:
            rows = self._con.execute(
                "SELECT item_id FROM interactions WHERE user_id = ? ORDER BY pos", [str(user_id)]
            ).fetchall()
        if not rows:
            raise EmbedtuneError(
                f"unknown user {user_id!r}: not in {self.data_dir / INTERACTIONS_FILE} (pass a history instead)"
            )
        return [r[0] for r in rows]

    def profile(self, user_id: str | None = None, history: Sequence[str] | None = None) -> str:
        """The profile prompt the model sees for this user or history (as in training)."""
        return self._profile_and_history(user_id, history)[0]

    def _profile_and_history(self, user_id: str | None, history: Sequence[str] | None) -> tuple[str, list[str]]:
        if (user_id is None) == (history is None):
            raise EmbedtuneError("give exactly one of a user id or a history of item ids")
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
                    raise EmbedtuneError(
                        f"unknown user {user_id!r}: not in {self.data_dir / INTERACTIONS_FILE} (pass a history instead)"
                    )
                items = [r[0] for r in con.execute("SELECT item_id FROM ev ORDER BY pos").fetchall()]
                uid = str(user_id)
            else:
                items = [str(i).strip() for i in history if str(i).strip()]
                unknown = [i for i in items if i not in self._index]
                if unknown:
                    raise EmbedtuneError(
                        f"unknown item ids in the history: {', '.join(unknown[:10])}"
                        + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
                    )
                if not items:
                    raise EmbedtuneError("the history is empty: give at least one item id")
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

    def recommend(
        self, user_id: str | None = None, history: Sequence[str] | None = None, k: int = 10
    ) -> list[Recommendation]:
        """Top ``k`` items for a known user or an ad-hoc history; history items are never returned."""
        from embedtune.data.runs import top_k_from_scores

        if k < 1:
            raise EmbedtuneError("k must be at least 1")
        prompt, items = self._profile_and_history(user_id, history)
        query = self.system.encode([prompt], "query")
        scores = (query @ self._item_emb.T).astype(np.float64)
        run = top_k_from_scores(scores, ["now"], self.item_ids, k, {"now": set(items)})
        return [
            Recommendation(item_id=item, score=score, metadata=dict(self.corpus[item].metadata))
            for item, score in run["now"]
        ]
