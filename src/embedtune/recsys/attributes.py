"""The ``attributes`` part: a user's taste over the catalog's categorical fields, pooled across users.

Co-occurrence and transitions pool users item by item; tastes are often shares of categories, brands,
genres — which a history reveals even when its items were never met together. For every categorical
field of the catalog (any metadata field of ``corpus.jsonl`` with at least 2 and at most
:data:`MAX_VALUE_SHARE` × items distinct values: titles, descriptions, prices and other id-like fields
are skipped, and a numeric one with more than :data:`MAX_NUMERIC_VALUES` values; the manifest's
``category_separator`` splits a multi-valued category), a history (the last
:data:`DEFAULT_HISTORY_ITEMS` distinct items before the target, weight 1 each) gives the user's count
per value, shrunk toward the share of training events (``split == 'train'``) on that value::

    P_f(v | user) = (n_user(v) + α · P_train(v)) / (n_user + α)          α = 3

and an item scores ``log(mean_f Σ_v P_f(v | user) · share(item | v))``, ``share(item | v)`` being the
item's share of the training events of the items with value v (add-one per item, so a cold item has a
small share, never 0): a mixture over fields of "pick a value by the user's taste, then an item in it by
popularity". A catalog without such fields scores every user by popularity. Defaults chosen on the demo
shop's dev users and confirmed on an independent shop (docs/benchmarks.md, "(e) An attribute-profile part").

Example::

    from embedtune.recsys.attributes import AttributeStats
    attrs = AttributeStats.from_data_dir("data/shop", popularity)   # popularity: training events per item
    scores = attrs.scores([["305", "17"]])                          # (1, n_items), history most recent first
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from embedtune.data.beir import read_corpus, read_manifest
from embedtune.errors import DataError

#: A field with more distinct values than this share of the items is an id or free text, not a category.
MAX_VALUE_SHARE = 0.5
#: A numeric field is a category only when it takes at most this many values (a year: MovieLens has ~70);
#: a price on a 100,000-item catalog takes thousands, shared by a few items each — a quantity, not a category.
MAX_NUMERIC_VALUES = 100
DEFAULT_ALPHA = 3.0
DEFAULT_HISTORY_ITEMS = 50


def categorical_fields(
    metadata: Sequence[dict[str, Any]], separators: dict[str, str] | None = None, max_share: float = MAX_VALUE_SHARE
) -> dict[str, list[list[str]]]:
    """Each categorical field's values per item (in item order; several for a split field, none when missing)."""
    separators = separators or {}
    fields = {}
    for key in dict.fromkeys(k for m in metadata for k in m):
        per_item = []
        for m in metadata:
            value = m.get(key)
            if value is None or value == "" or isinstance(value, (dict, list)):
                per_item.append([])
            elif key in separators:
                per_item.append(list(dict.fromkeys(v for v in str(value).split(separators[key]) if v)))
            else:
                per_item.append([str(value)])
        distinct = {v for vs in per_item for v in vs}
        if 2 <= len(distinct) <= max_share * len(metadata) and not (
                len(distinct) > MAX_NUMERIC_VALUES and all(_is_number(v) for v in distinct)):
            fields[key] = per_item
    return fields


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@dataclass
class AttributeStats:
    """Per field: its values, each item's values (indices), the training prior over values; plus α and history."""

    fields: dict[str, list[str]]  # field -> its values
    item_values: dict[str, list[list[int]]]  # field -> per item, indices into its values
    prior: dict[str, np.ndarray]  # field -> P_train(v), add-one over values
    popularity: np.ndarray  # training events per item
    alpha: float = DEFAULT_ALPHA
    history_items: int = DEFAULT_HISTORY_ITEMS

    def __post_init__(self) -> None:
        n = len(self.popularity)
        weight = self.popularity.astype(np.float64) + 1.0
        self._onehot, self._within = {}, {}
        for f, values in self.fields.items():
            rows, cols, vals = [], [], []
            for i, vs in enumerate(self.item_values[f]):
                for v in vs:
                    rows.append(i)
                    cols.append(v)
                    vals.append(1.0 / len(vs))
            m = sp.csr_matrix((vals, (rows, cols)), shape=(n, len(values)), dtype=np.float64)
            mass = np.asarray(m.T @ weight).ravel()  # training weight of each value's items
            self._onehot[f] = m
            # [item, value]: the item's share of the value (by training events, add-one per item).
            self._within[f] = sp.csr_matrix(m.multiply(weight[:, None]).multiply(1.0 / np.maximum(mass, 1e-300)[None, :]))
        self._popularity_share = weight / weight.sum()

    @classmethod
    def from_data_dir(cls, data_dir: str | Path, item_ids: Sequence[str], popularity: np.ndarray,
                      alpha: float = DEFAULT_ALPHA, history_items: int = DEFAULT_HISTORY_ITEMS) -> AttributeStats:
        """The categorical fields of a recsys DATA_DIR's catalog for ``item_ids`` (an item missing from
        ``corpus.jsonl`` has no values), with priors from ``popularity`` (training events per item)."""
        data_dir = Path(data_dir)
        corpus = read_corpus(data_dir / "corpus.jsonl")
        separator = (read_manifest(data_dir).get("config") or {}).get("category_separator")
        metadata = [corpus[i].metadata if i in corpus else {} for i in item_ids]
        found = categorical_fields(metadata, {"category": separator} if separator else {})
        return cls.from_fields(found, np.asarray(popularity, dtype=np.float64), alpha, history_items)

    @classmethod
    def from_fields(cls, found: dict[str, list[list[str]]], popularity: np.ndarray, alpha: float = DEFAULT_ALPHA,
                    history_items: int = DEFAULT_HISTORY_ITEMS) -> AttributeStats:
        fields, item_values, prior = {}, {}, {}
        for f, per_item in found.items():
            values = sorted({v for vs in per_item for v in vs})
            index = {v: j for j, v in enumerate(values)}
            fields[f] = values
            item_values[f] = [[index[v] for v in vs] for vs in per_item]
            counts = np.zeros(len(values))
            for vs, p in zip(item_values[f], popularity, strict=True):
                for v in vs:
                    counts[v] += p / len(vs)
            prior[f] = (counts + 1.0) / (counts.sum() + len(values))
        return cls(fields, item_values, prior, popularity, alpha, history_items)

    def scores(self, history_rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Log-scores (len(histories) × items) from each history's item rows (most recent first)."""
        shape = (len(history_rows), len(self.popularity))
        if not self.fields:
            return np.broadcast_to(np.log(self._popularity_share), shape).copy()
        pairs = {(r, c) for r, rows in enumerate(history_rows) for c in list(dict.fromkeys(rows))[: self.history_items]}
        h = sp.csr_matrix((np.ones(len(pairs)), ([r for r, _ in pairs], [c for _, c in pairs])), shape=shape)
        total = np.asarray(h.sum(1)).reshape(-1, 1)
        out = np.zeros(shape)
        for f, m in self._onehot.items():
            taste = (np.asarray((h @ m).todense()) + self.alpha * self.prior[f][None, :]) / (total + self.alpha)
            out += np.asarray(self._within[f] @ taste.T).T
        return np.log(out / len(self.fields))

    # ---- persistence: one JSON file --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "history_items": self.history_items,
                "fields": {f: {"values": self.fields[f], "prior": self.prior[f].tolist(),
                               "item_values": self.item_values[f]} for f in self.fields}}

    @classmethod
    def from_json(cls, obj: dict[str, Any], popularity: np.ndarray, where: Path) -> AttributeStats:
        try:
            fields = {f: list(spec["values"]) for f, spec in obj["fields"].items()}
            item_values = {f: [list(map(int, vs)) for vs in spec["item_values"]] for f, spec in obj["fields"].items()}
            prior = {f: np.asarray(spec["prior"], dtype=np.float64) for f, spec in obj["fields"].items()}
            if any(len(v) != len(popularity) for v in item_values.values()):
                raise ValueError("item count differs from popularity.npy")
            return cls(fields, item_values, prior, popularity, float(obj["alpha"]), int(obj["history_items"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(where, f"cannot read the attribute statistics: {exc}; retrain or rebuild the index") from None
