"""Fusion on a tiny hand-computed case: z-score and min-max weighted sums, RRF, choice on dev, fusion.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from embedtune.errors import DataError, EmbedtuneError
from embedtune.fusion import (
    DEFAULT_FUSION,
    ColdPart,
    ColdSlot,
    FusionSpec,
    Keep,
    choose_fusion,
    cold_run,
    fuse_runs,
    reserve_slot,
)

DENSE = {"q1": [("d1", 0.9), ("d2", 0.5), ("d3", 0.1)]}
BM25 = {"q1": [("d2", 6.0), ("d4", 3.0), ("d3", 0.0)]}
RUNS = {"model": DENSE, "bm25": BM25}
Z = math.sqrt(1.5)  # each part's three scores are evenly spaced: z-scores -√1.5, 0, +√1.5


def wsum(norm: str, dense: float) -> FusionSpec:
    return FusionSpec(method="wsum", norm=norm, weights={"model": dense, "bm25": 1 - dense})


def test_zmuv_weighted_sum():
    fused = fuse_runs(wsum("zmuv", 0.3), RUNS)["q1"]
    # d2: 0.3·0 + 0.7·Z; d1: 0.3·Z (absent from BM25: 0); d4: 0; d3: −Z from both
    assert [d for d, _ in fused] == ["d2", "d1", "d4", "d3"]
    assert [s for _, s in fused] == pytest.approx([0.7 * Z, 0.3 * Z, 0.0, -Z])


def test_equal_scores_are_ordered_by_doc_id():
    fused = fuse_runs(wsum("zmuv", 0.5), RUNS)["q1"]
    assert fused[0][1] == pytest.approx(fused[1][1]) == pytest.approx(0.5 * Z)
    assert [d for d, _ in fused] == ["d1", "d2", "d4", "d3"]


def test_min_max_weighted_sum():
    fused = fuse_runs(wsum("min-max", 0.5), RUNS)["q1"]
    # dense → d1 1, d2 .5, d3 0; BM25 → d2 1, d4 .5, d3 0
    assert fused == [("d2", pytest.approx(0.75)), ("d1", pytest.approx(0.5)), ("d4", pytest.approx(0.25)),
                     ("d3", pytest.approx(0.0))]


def test_reciprocal_rank_fusion():
    spec = FusionSpec(method="rrf", norm=None, rrf_k=60, weights={"model": 1.0, "bm25": 1.0})
    fused = fuse_runs(spec, RUNS)["q1"]
    assert fused == [("d2", pytest.approx(1 / 62 + 1 / 61)), ("d3", pytest.approx(2 / 63)),
                     ("d1", pytest.approx(1 / 61)), ("d4", pytest.approx(1 / 62))]


def test_rrf_ranks_follow_the_runs_order_not_equal_scores():
    tied = {"q1": [("b", 1.0), ("a", 1.0)]}  # as given: b first (the systems' own tie order)
    spec = FusionSpec(method="rrf", norm=None, rrf_k=1, weights={"x": 1.0, "y": 1.0})
    assert fuse_runs(spec, {"x": tied, "y": {"q1": []}})["q1"] == [("b", 0.5), ("a", pytest.approx(1 / 3))]


def test_depth_and_k_cut_the_candidates_and_the_result():
    spec = wsum("min-max", 0.5).model_copy(update={"depth": 1})
    assert {d for d, _ in fuse_runs(spec, RUNS)["q1"]} == {"d1", "d2"}
    assert len(fuse_runs(wsum("min-max", 0.5), RUNS, k=2)["q1"]) == 2


def test_any_number_of_parts():
    pop = {"q1": [("d4", 10.0), ("d3", 5.0), ("d1", 1.0)]}
    spec = FusionSpec(method="wsum", norm="min-max", weights={"text": 0.0, "cooc": 0.0, "pop": 1.0})
    fused = fuse_runs(spec, {"text": DENSE, "cooc": BM25, "pop": pop})
    assert [d for d, _ in fused["q1"]][:3] == ["d4", "d3", "d1"]
    chosen = choose_fusion({"text": DENSE, "cooc": BM25, "pop": pop}, {"q1": {"d4": 1}}, split="dev")
    assert chosen.dev_metric["hybrid"] == 1.0 and set(chosen.weights) == {"text", "cooc", "pop"}


def test_choice_on_dev_prefers_the_default_among_equals_and_records_its_evidence():
    spec = choose_fusion(RUNS, {"q1": {"d1": 1}}, split="dev", data="somewhere")
    # every dense weight above 0.5 (z-score) or 2/3 (min-max) ranks d1 first: the default's own weights win
    assert (spec.method, spec.norm, spec.weights) == ("wsum", "zmuv", {"model": 0.7, "bm25": 0.3})
    assert spec.dev_metric == {"hybrid": 1.0, "model": 1.0, "bm25": 0.0}  # d1 is not in BM25's run
    assert (spec.split, spec.data, spec.n_queries, spec.rule, spec.default) == ("dev", "somewhere", 1, "tuned", False)

    # d4 is only in BM25's run (2nd): min-max with a dense weight ≤ 0.3 ranks it 2nd; 0.3 is nearest the default
    spec = choose_fusion(RUNS, {"q1": {"d4": 1}}, split="dev")
    assert (spec.norm, spec.weights) == ("min-max", {"model": 0.3, "bm25": 0.7})
    assert spec.dev_metric["hybrid"] == spec.dev_metric["bm25"] == pytest.approx(1 / math.log2(3))

    # BM25 z-scores d2 .889, d4 .508, d3 −1.397: d2 beats d1 (1.2247·w) for a dense weight w < .42; the best
    # nearest the default (0.4) moves halfway to the default's 0.7
    bm25 = {"q1": [("d2", 6.0), ("d4", 5.0), ("d3", 0.0)]}
    shrunk = choose_fusion({"model": DENSE, "bm25": bm25}, {"q1": {"d2": 1}}, split="dev", rule="shrunk", shrink=0.5)
    assert (shrunk.rule, shrunk.norm, shrunk.weights) == ("shrunk", "zmuv", {"model": 0.55, "bm25": 0.45})
    assert "moved 0.5 of the way" in shrunk.note

    rrf = choose_fusion(RUNS, {"q1": {"d2": 1}}, split="dev", methods=("rrf",))
    assert rrf.method == "rrf" and rrf.rrf_k == 10 and rrf.dev_metric["hybrid"] == 1.0


def test_no_dev_queries_gives_the_documented_default_and_test_is_refused():
    spec = choose_fusion(RUNS, {}, split="dev")
    assert spec.default and spec.rule == "default" and spec.weights == DEFAULT_FUSION.weights
    assert "no judged queries" in spec.note
    with pytest.raises(EmbedtuneError, match="never on test"):
        choose_fusion(RUNS, {"q1": {"d1": 1}}, split="test")


def test_fusion_json_round_trip_and_bad_files(tmp_path):
    spec = choose_fusion(RUNS, {"q1": {"d1": 1}}, split="dev")
    path = spec.save(tmp_path / "fusion.json")
    assert FusionSpec.load(path) == spec
    assert json.loads(path.read_text())["dev_metric"]["hybrid"] == 1.0
    (tmp_path / "bad.json").write_text(json.dumps({"method": "wsum", "weights": {"model": 1.0}}))
    with pytest.raises(DataError, match="at least two parts"):
        FusionSpec.load(tmp_path / "bad.json")
    with pytest.raises(DataError, match="no such fusion.json"):
        FusionSpec.load(tmp_path / "none.json")
    with pytest.raises(EmbedtuneError, match="needs a run for bm25"):
        fuse_runs(spec, {"model": DENSE})


def test_five_parts_are_searched_coarse_to_fine_to_a_local_optimum_of_ranxs_grid(monkeypatch):
    import random

    import embedtune.fusion as fusion

    rng = random.Random(3)
    parts = ["text", "cooc", "trans", "pop", "attr"]
    docs = [f"d{i}" for i in range(10)]
    qrels = {f"q{i}": {rng.choice(docs): 1} for i in range(20)}
    signal = {"text": 1.0, "cooc": 1.5, "trans": 0.3, "pop": 0.5, "attr": 1.2}  # how much each part knows
    runs = {p: {q: sorted(((d, rng.gauss(0, 1) + (signal[p] * rng.random() * 2 if d in judged else 0.0))
                           for d in docs), key=lambda x: (-x[1], x[0])) for q, judged in qrels.items()}
            for p in parts}
    query_ids = list(qrels)
    searched = fusion._optimize(runs, qrels, parts, query_ids, 100, "wsum", "zmuv", "ndcg@10")
    monkeypatch.setattr(fusion, "FULL_GRID_MAX_PARTS", 5)
    full = {fusion._parse_config(c): s for c, s in
            fusion._optimize(runs, qrels, parts, query_ids, 100, "wsum", "zmuv", "ndcg@10").items()}
    assert len(searched) < len(full) / 3  # a fraction of ranx's 0.1 grid
    assert all(full[c] == pytest.approx(s) for c, s in searched.items())  # a subset of it, scored as ranx scores it
    best = max(searched, key=searched.get)
    neighbours = [c for c in full if max(abs(a - b) for a, b in zip(c, best, strict=True)) <= 0.1 + 1e-9]
    assert all(c in searched and searched[c] <= searched[best] for c in neighbours)  # a local optimum of the grid
    # (on 20 queries the grid is ragged: this local optimum is 0.006 below the full grid's best)
    assert searched[best] > max(full[c] for c in full if all(w in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) for w in c)) - 1e-9
    monkeypatch.undo()
    chosen = choose_fusion(runs, qrels, split="dev", norms=("zmuv",))
    assert f"best of {len(searched)} configurations" in chosen.note


# ---- a cold part, and a floor on the cold targets (recommendation) ----
MODEL = {"u1": [("n", 0.9), ("a", 0.5), ("b", 0.1)], "u2": [("n", 0.9), ("b", 0.5), ("a", 0.1)],
         "u3": [("a", 0.9), ("b", 0.5), ("n", 0.1)]}
COOC = {u: [(w, 3.0), ("c", 1.0), ("d", 0.9), ("e", 0.8), ("n", 0.0)] for u, w in (("u1", "a"), ("u2", "b"), ("u3", "a"))}


def test_the_cold_part_is_the_source_parts_ranking_of_cold_items():
    assert cold_run(MODEL, {"n", "b"}, depth=2) == {"u1": [("n", 0.9)], "u2": [("n", 0.9), ("b", 0.5)], "u3": [("b", 0.5)]}
    spec = FusionSpec(weights={"model": 0.2, "cooccurrence": 0.5, "cold": 0.3}, cold=ColdPart(source="model"))
    with pytest.raises(EmbedtuneError, match="cold items must be given"):
        fuse_runs(spec, {"model": MODEL, "cooccurrence": COOC})
    made = fuse_runs(spec, {"model": MODEL, "cooccurrence": COOC}, cold={"n"})
    given = fuse_runs(spec, {"model": MODEL, "cooccurrence": COOC, "cold": cold_run(MODEL, {"n"}, 100)})
    assert made == given
    plain = FusionSpec(weights={"model": 0.2, "cooccurrence": 0.5, "attributes": 0.3})
    # the cold part lifts n for u1 (only n is listed there: its z-score is 0, the other items' absent ones 0 too),
    # so check the scores by hand for u1: model z (0.9, 0.5, 0.1) → (1.2247, 0, -1.2247)
    z = 1.5 ** 0.5
    cooc = np.array([3.0, 1.0, 0.9, 0.8, 0.0])
    cz = dict(zip("acden", (cooc - cooc.mean()) / cooc.std(), strict=True))
    expected = {"n": 0.2 * z + 0.5 * cz["n"], "a": 0.5 * cz["a"], "b": 0.2 * -z, "c": 0.5 * cz["c"],
                "d": 0.5 * cz["d"], "e": 0.5 * cz["e"]}
    assert dict(made["u1"]) == pytest.approx(expected)
    assert plain.cold is None


def test_the_cold_slot_puts_the_centred_rankings_best_cold_item_at_its_place_by_hand():
    fused = {"u1": [("a", 5.0), ("b", 4.0), ("c", 3.0), ("d", 2.0), ("n", 1.0)],  # n (cold) fifth: moved to 2
             "u2": [("a", 5.0), ("m", 4.0), ("b", 3.0)],  # m (cold) already second: stays
             "u3": [("a", 5.0), ("b", 4.0), ("c", 3.0)],  # n not fused at all: inserted, the last one cut
             "u4": [("a", 5.0), ("b", 4.0), ("c", 3.0)]}  # no cold item in the centred list: unchanged
    centred = {"u1": [("b", 0.9), ("n", 0.5), ("m", 0.4), ("a", 0.1)],  # the best cold one is n, not m
               "u2": [("m", 0.8), ("a", 0.7)],
               "u3": [("n", 0.9), ("a", 0.1)],
               "u4": [("a", 0.9), ("b", 0.1)]}
    out = reserve_slot(fused, centred, {"n", "m"}, rank=2, tau=None, depth=100, k=3)
    assert out["u1"] == [("a", 5.0), ("n", 4.5), ("b", 4.0)]  # between its new neighbours' scores
    assert out["u2"] == [("a", 5.0), ("m", 4.0), ("b", 3.0)]
    assert out["u3"] == [("a", 5.0), ("n", 4.5), ("b", 4.0)]
    assert out["u4"] == fused["u4"]
    first = reserve_slot(fused, centred, {"n", "m"}, 1, None, 100)["u1"]
    assert first == [("n", 6.0), *fused["u1"][:4]]  # rank 1: above every fused item
    # tau: u1's n has centred z (0.5 − 0.475) / 0.2861 = 0.09 over its four scores, u3's n z = 1
    kept = reserve_slot(fused, centred, {"n", "m"}, rank=2, tau=0.9, depth=100, k=3)
    assert kept["u1"] == fused["u1"][:3] and kept["u3"] == out["u3"]
    # depth: the centred list read only to its top depth (n is second for u1: depth 1 sees only b)
    assert reserve_slot(fused, centred, {"n", "m"}, rank=2, tau=None, depth=1)["u1"] == fused["u1"]


def test_fuse_runs_fills_the_slot_after_fusing_and_needs_its_inputs():
    slot = ColdSlot(source="model", centre=0.5, mean=[0.0, 1.0], max_events=2, rank=1)
    spec = FusionSpec(weights={"model": 0.5, "cooccurrence": 0.5}, slot=slot)
    runs = {"model": MODEL, "cooccurrence": COOC}
    centred = {q: [("b", 1.0), ("n", 0.5)] for q in MODEL}
    with pytest.raises(EmbedtuneError, match="cold items must be given"):
        fuse_runs(spec, runs)
    with pytest.raises(EmbedtuneError, match="centred run must be given"):
        fuse_runs(spec, runs, cold={"n"})
    plain = fuse_runs(spec.model_copy(update={"slot": None}), runs)
    with_slot = fuse_runs(spec, runs, k=3, cold={"n"}, centred=centred)
    assert with_slot == reserve_slot(plain, centred, {"n"}, 1, None, spec.depth, 3)
    assert all(ranked[0][0] == "n" for ranked in with_slot.values())
    # saved and read back; the slot's source must be a part
    assert FusionSpec.model_validate_json(spec.model_dump_json()) == spec
    with pytest.raises(ValueError, match="cold slot's source"):
        FusionSpec(weights={"bm25": 0.5, "cooccurrence": 0.5}, slot=slot)
    assert spec.renamed({"model": "base"}).slot.source == "base"


def test_a_floor_on_the_cold_targets_picks_the_best_weighting_that_keeps_the_models_score_there():
    # six users; the model ranks the new item n first for all, co-occurrence ranks a first and n last; two users'
    # target is n, four users' a: the best weighting overall puts a first, the floor (the model's 1.0 on the two
    # cold targets) asks for n first
    users = [f"u{i}" for i in range(6)]
    model = {u: [("n", 0.9), ("a", 0.5), ("b", 0.1)] for u in users}
    cooc = {u: [("a", 3.0), ("c", 1.0), ("d", 0.9), ("e", 0.8), ("n", 0.0)] for u in users}
    runs = {"model": model, "cooccurrence": cooc, "cold": cold_run(model, {"n"}, 100)}
    qrels = {u: {"n" if i < 2 else "a": 1} for i, u in enumerate(users)}
    free = choose_fusion(runs, qrels, split="dev", norms=("zmuv",), cold=ColdPart())
    assert [fuse_runs(free, runs)[u][0][0] for u in users] == ["a"] * 6
    keep = Keep(frozenset(users[:2]), 1.0)
    kept = choose_fusion(runs, qrels, split="dev", norms=("zmuv",), keep=keep, cold=ColdPart(floor=1.0, queries=2))
    assert [fuse_runs(kept, runs)[u][0][0] for u in users] == ["n"] * 6  # the floor holds, at a cost
    assert kept.dev_metric["hybrid"] == pytest.approx((2 + 4 / math.log2(3)) / 6)
    assert kept.dev_metric["hybrid"] < free.dev_metric["hybrid"]
    assert "that reach 1.0000 on 2 given queries" in kept.note
    # a floor nobody reaches: the weightings that come nearest it
    high = choose_fusion(runs, qrels, split="dev", norms=("zmuv",), keep=Keep(frozenset(users[:2]), 2.0),
                         cold=ColdPart())
    assert [fuse_runs(high, runs)[u][0][0] for u in users[:2]] == ["n", "n"]
    with pytest.raises(ValueError, match="needs a 'cold' record"):
        FusionSpec(weights={"model": 0.5, "cold": 0.5})
    with pytest.raises(EmbedtuneError, match="weighted sums only"):
        choose_fusion(runs, qrels, split="dev", methods=("wsum", "rrf"), keep=keep, cold=ColdPart())


def test_a_cold_part_round_trips_in_fusion_json_and_follows_a_renamed_source(tmp_path):
    spec = FusionSpec(weights={"model": 0.5, "cooccurrence": 0.3, "cold": 0.2},
                      cold=ColdPart(source="model", max_events=3, floor=0.19, queries=14, reached=0.2))
    assert FusionSpec.load(spec.save(tmp_path / "fusion.json")) == spec
    assert spec.renamed({"model": "base"}).cold.source == "base"
    with pytest.raises(ValueError, match="not a part of the fusion"):
        FusionSpec(weights={"model": 0.5, "cold": 0.5}, cold=ColdPart(source="bm25"))


def test_the_bundled_model_by_its_path_is_no_model_folder(tmp_path):
    """fusion.json is never written into the installed package's folder, by alias or by path."""
    from embedtune.base_model import bundled_model_dir
    from embedtune.fusion import model_folder

    assert model_folder("all-MiniLM-L6-v2") is None and model_folder(bundled_model_dir()) is None
    assert model_folder(tmp_path) == tmp_path and model_folder(tmp_path / "missing") is None
