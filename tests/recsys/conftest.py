"""Tiny hand-made shop data for the recsys tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TINY_LOG = """user_id,item_id,action_type,time_stamp
u1,i1,0,100
u1,i2,0,200
u1,i2,2,210
u1,i3,0,300
u1,i4,1,400
u2,i1,0,100
u2,i3,0,150
u2,i3,0,150
u2,i9,0,160
u3,i2,0,50
"""

TINY_ITEMS = """item_id,cat_id,seller_id,brand_id,title,price
i1,shoes,s1,nike,Air Max,100
i2,shoes,s2,adidas,Superstar,80
i3,shirts,s1,nike,Dri-Fit Tee,30
i4,hats,s3,,Cap,15
i5,hats,s3,newera,Fitted Cap,25
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tiny_shop(tmp_path: Path) -> tuple[Path, Path]:
    """A 10-row Tmall-style log (one duplicate, one unknown item, one single-item user) and 5 items."""
    return write(tmp_path / "log.csv", TINY_LOG), write(tmp_path / "items.csv", TINY_ITEMS)


# Training histories: u1 {a,b}, u2 {a,b,c}, u3 {a,c}, u4 {b}; e and d are every user's dev/test targets
# (u4 has no dev target: its history {b} is ranked for test target d).
COOCCURRENCE_ROWS = [("u1", "a"), ("u1", "b"), ("u1", "e"), ("u1", "d"),
                     ("u2", "a"), ("u2", "b"), ("u2", "c"), ("u2", "e"), ("u2", "d"),
                     ("u3", "a"), ("u3", "c"), ("u3", "e"), ("u3", "d"),
                     ("u4", "b"), ("u4", "d")]


def cooccurrence_shop(tmp_path: Path, items: str = "abcde", config=None, categories: str | None = None) -> Path:
    """A recsys DATA_DIR of :data:`COOCCURRENCE_ROWS` over a catalog of ``items`` (one letter each),
    built with ``config`` (a :class:`~embedtune.recsys.config.RecsysConfig`; default settings without);
    ``categories``: one letter per item, its category (default: no category column)."""
    from embedtune.recsys.build import build_recsys

    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for t, (u, i) in enumerate(COOCCURRENCE_ROWS)))
    if categories:
        catalog = write(tmp_path / "items.csv", "item_id,title,category\n" + "".join(
            f"{i},Item {i},{c}\n" for i, c in zip(items, categories, strict=True)))
    else:
        catalog = write(tmp_path / "items.csv", "item_id,title\n" + "".join(f"{i},Item {i}\n" for i in items))
    return build_recsys(log, catalog, tmp_path / "data", config=config).out_dir


class FakeEncoder:
    """Fixed 4-d vectors for the tiny shop's items, so a test can tell the index's vectors (and backend)
    from a re-encoding by MiniLM; every profile points at i2. Counts the profiles it encodes."""

    dim = 4
    agreement = None
    VECTORS = {"i1": [1, 0, 0, 0], "i2": [0, 1, 0, 0], "i3": [0, 0, 1, 0], "i4": [0, 0, 0, 1], "i5": [1, 1, 0, 0],
               "i6": [0, 1, 0, 0.1]}

    def __init__(self, backend: str = "onnx-int8"):
        self.backend = backend
        self.queries = 0

    def encode(self, texts, batch_size=32, show_progress=False):
        rows = []
        for text in texts:
            item = next((i for i in self.VECTORS if f"item_id: {i}\n" in text), None)
            if item is None:  # a profile: pointing at i2
                self.queries += 1
            rows.append(self.VECTORS[item] if item else [0.1, 1, 0, 0])
        v = np.asarray(rows, dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def build_shop_index(tiny_shop: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """The tiny shop's DATA_DIR and an index of it built with :class:`FakeEncoder` (backend onnx-int8)."""
    from embedtune.index import build_index
    from embedtune.recsys.build import build_recsys
    from embedtune.recsys.stats import index_attachments

    data = build_recsys(*tiny_shop, tmp_path / "data").out_dir
    build_index("all-MiniLM-L6-v2", data, tmp_path / "index", encoder=FakeEncoder(), show_progress=False,
                attachments=index_attachments(data, "all-MiniLM-L6-v2"))
    return data, tmp_path / "index"
