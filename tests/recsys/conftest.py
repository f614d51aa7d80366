"""Tiny hand-made shop data for the recsys tests."""

from __future__ import annotations

from pathlib import Path

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


def cooccurrence_shop(tmp_path: Path, items: str = "abcde") -> Path:
    """A recsys DATA_DIR of :data:`COOCCURRENCE_ROWS` over a catalog of ``items`` (one letter each)."""
    from embedtune.recsys.build import build_recsys

    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for t, (u, i) in enumerate(COOCCURRENCE_ROWS)))
    catalog = write(tmp_path / "items.csv", "item_id,title\n" + "".join(f"{i},Item {i}\n" for i in items))
    return build_recsys(log, catalog, tmp_path / "data").out_dir
