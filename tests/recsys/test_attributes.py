from __future__ import annotations

import math

import numpy as np
import pytest

from embedtune.errors import DataError
from embedtune.recsys.attributes import AttributeStats, categorical_fields


def test_categorical_fields_skip_ids_free_text_and_constants_and_split_the_separated_field():
    metadata = [
        {"category": "Action Comedy", "item_title": f"Film {i}", "price": f"{10 + i}.99", "studio": "big",
         "brand": "b1" if i % 2 else "b2", "tags": ["x"]}
        for i in range(6)
    ]
    metadata[5]["brand"] = ""
    fields = categorical_fields(metadata, {"category": " "})
    # Titles and prices are unique per item (id-like), the studio is constant, lists are not categories.
    assert list(fields) == ["category", "brand"]
    assert fields["category"][0] == ["Action", "Comedy"]
    assert fields["brand"][:2] == [["b2"], ["b1"]] and fields["brand"][5] == []  # a missing value: none


def test_a_numeric_field_with_many_values_is_a_quantity_but_a_year_is_a_category():
    # 1,000 items: 300 prices (3.3 items each, under the 0.5 share) and 40 years, both numeric
    metadata = [{"price": f"{i % 300}.99", "year": str(1950 + i % 40), "label": f"L{i % 300}"} for i in range(1000)]
    assert list(categorical_fields(metadata)) == ["year", "label"]  # a 300-value text field stays a category


def test_scores_are_the_hand_computed_mixture_of_taste_and_popularity_within_a_value():
    # x1, x2 in category A; x3, x4 in B (x4 cold: no training event). Training events 3, 1, 4, 0.
    attrs = AttributeStats.from_fields({"category": [["A"], ["A"], ["B"], ["B"]]}, np.array([3.0, 1.0, 4.0, 0.0]))
    assert attrs.prior["category"].tolist() == [0.5, 0.5]  # (4 + 1) / (8 + 2) each
    scores = attrs.scores([[0]])[0]  # history: x1
    p_a, p_b = (1 + 3 * 0.5) / (1 + 3), (0 + 3 * 0.5) / (1 + 3)  # α = 3
    # Within a value, items by training events + 1: A 4 : 2, B 5 : 1.
    expected = [p_a * 4 / 6, p_a * 2 / 6, p_b * 5 / 6, p_b * 1 / 6]
    assert np.allclose(scores, np.log(expected))
    # A cold item keeps a share: with weaker shrinkage (α 1: B 0.75, A 0.25), a history in B ranks it above A's
    # less popular item (0.75 / 6 > 0.25 / 3).
    loose = AttributeStats.from_fields({"category": [["A"], ["A"], ["B"], ["B"]]}, np.array([3.0, 1.0, 4.0, 0.0]),
                                       alpha=1.0)
    in_b = loose.scores([[2]])[0]
    assert np.isfinite(in_b).all() and in_b[3] > in_b[1]


def test_fields_are_averaged_and_a_multi_valued_item_splits_its_weight():
    attrs = AttributeStats.from_fields(
        {"genre": [["g1", "g2"], ["g1"], ["g2"]], "decade": [["80s"], ["90s"], ["90s"]]}, np.array([1.0, 1.0, 1.0]),
        alpha=1.0)
    scores = np.exp(attrs.scores([[1]])[0])  # history: the second item (g1, 90s)
    # genre: g1 holds item 0 (weight 1/2) and item 1; g2 holds item 0 (1/2) and item 2.
    prior_genre = (np.array([1.5, 1.5]) + 1) / (3 + 2)
    taste_genre = (np.array([1.0, 0.0]) + prior_genre) / 2
    genre = [taste_genre[0] * 1 / 3 + taste_genre[1] * 1 / 3, taste_genre[0] * 2 / 3, taste_genre[1] * 2 / 3]
    prior_decade = (np.array([1.0, 2.0]) + 1) / (3 + 2)
    taste_decade = (np.array([0.0, 1.0]) + prior_decade) / 2
    decade = [taste_decade[0], taste_decade[1] / 2, taste_decade[1] / 2]
    assert np.allclose(scores, (np.array(genre) + np.array(decade)) / 2)
    assert math.isclose(scores.sum(), 1.0)  # a distribution over the items


def test_a_catalog_without_categorical_fields_ranks_by_popularity():
    attrs = AttributeStats.from_fields({}, np.array([1.0, 5.0, 0.0]))
    scores = attrs.scores([[0], []])
    assert (np.argsort(-scores, axis=1) == [1, 0, 2]).all()


def test_json_round_trip_and_a_bad_file_is_a_clear_error(tmp_path):
    attrs = AttributeStats.from_fields({"category": [["A"], ["B"], ["A"]]}, np.array([2.0, 1.0, 0.0]), alpha=2.0)
    back = AttributeStats.from_json(attrs.to_json(), attrs.popularity, tmp_path / "attributes.json")
    assert back.alpha == 2.0 and back.fields == attrs.fields
    assert np.allclose(back.scores([[1, 0]]), attrs.scores([[1, 0]]))
    with pytest.raises(DataError, match="cannot read the attribute statistics"):
        AttributeStats.from_json({"alpha": 1}, attrs.popularity, tmp_path / "attributes.json")
    with pytest.raises(DataError, match="item count"):
        AttributeStats.from_json(attrs.to_json(), np.zeros(5), tmp_path / "attributes.json")
