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
