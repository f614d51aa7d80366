from __future__ import annotations

import numpy as np
import pandas as pd

from embedtune.recsys.generate import generate_shop, write_shop


def test_same_seed_same_shop_other_seed_other_shop(tmp_path):
    a = generate_shop(n_users=50, n_items=40, seed=7)
    b = generate_shop(n_users=50, n_items=40, seed=7)
    c = generate_shop(n_users=50, n_items=40, seed=8)
    pd.testing.assert_frame_equal(a.log, b.log)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert not a.log.equals(c.log)
    write_shop(a, tmp_path / "x")
    write_shop(b, tmp_path / "y")
    assert (tmp_path / "x" / "log.csv").read_bytes() == (tmp_path / "y" / "log.csv").read_bytes()


def test_users_have_tastes_and_a_funnel():
    shop = generate_shop(n_users=200, n_items=150, n_categories=10, seed=1)
    log = shop.log.merge(shop.items, on="item_id")
    top3 = log[log.action_type == 0].groupby("user_id").cat_id.agg(lambda s: s.value_counts(normalize=True).iloc[:3].sum())
    assert top3.mean() > 0.8  # 85% of visits go to the three favourite categories
    counts = shop.log.action_type.value_counts()
    assert counts[0] > counts[1] > counts[2] > 0 and counts[3] > 0  # click > cart > buy; favs exist
    # A buy always follows a cart of the same item by the same user.
    carts = set(map(tuple, shop.log[shop.log.action_type == 1][["user_id", "item_id"]].values))
    buys = set(map(tuple, shop.log[shop.log.action_type == 2][["user_id", "item_id"]].values))
    assert buys <= carts
    assert shop.log.groupby("user_id").time_stamp.apply(lambda s: s.is_monotonic_increasing).all()
    # Popularity skew: the top 10% of items get far more than 10% of clicks.
    per_item = shop.log.item_id.value_counts()
    assert per_item.iloc[: len(per_item) // 10].sum() / per_item.sum() > 0.25


def test_tastes_give_the_click_probabilities_the_log_was_drawn_from():
    shop = generate_shop(n_users=300, n_items=60, n_categories=6, events_per_user=40, seed=2)
    probs = shop.tastes.click_probabilities()
    assert probs.shape == (300, 60) and np.allclose(probs.sum(1), 1.0) and (probs >= 0).all()
    clicks = shop.log[shop.log.action_type == 0]
    observed = np.zeros_like(probs)
    np.add.at(observed, (clicks.user_id.to_numpy() - 1, clicks.item_id.to_numpy() - 1), 1.0)
    expected = probs * observed.sum(1, keepdims=True)
    # Pooled over users, every item's click count is what the probabilities predict (within sampling noise),
    # and within a user the probability ranks the clicked items above the rest.
    assert np.abs(observed.sum(0) - expected.sum(0)).max() < 4 * np.sqrt(expected.sum(0)).max()
    assert probs[observed > 0].mean() > 3 * probs[observed == 0].mean()


def test_seed_scenario_has_no_structure_and_no_attributes():
    shop = generate_shop(n_users=200, n_items=500, uniform=True, attributes=False, seed=0)
    assert shop.tastes is None
    assert list(shop.items.columns) == ["item_id"]
    assert shop.log.user_id.nunique() == 200
    assert shop.log.item_id.nunique() > 400


def test_make_demo_recommends_for_a_user_the_generator_makes():
    """`make demo` asks `recommend --user U` on the log `recsys generate --users 400 --items 200 --seed 0` writes."""
    import re
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    gen = re.search(r"recsys generate .*--users (\d+) --items (\d+) --seed (\d+)", makefile)
    user = re.search(r"embedtune recommend .*--user (\S+)", makefile)
    assert gen and user, "make demo no longer generates a shop log and recommends for one of its users"
    shop = generate_shop(n_users=int(gen[1]), n_items=int(gen[2]), seed=int(gen[3]))
    assert user[1] in set(shop.log["user_id"].astype(str))
