"""The hybrid of recommendation data: the text tower ⊕ co-occurrence ⊕ popularity, fused on dev users only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedtune.errors import EmbedtuneError
from embedtune.eval import evaluate, write_eval
from embedtune.eval.hybrid import hybrid_caveat
from embedtune.fusion import DEFAULT_RECSYS_FUSION, FusionSpec, fuse_runs
from embedtune.recsys.build import build_recsys
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.generate import generate_shop, write_shop
from tests.eval.eval_helpers import poisoned_copy

PARTS = ["model", "cooccurrence", "transitions", "popularity", "attributes"]


def _shop(folder: Path, **kw) -> Path:
    shop = generate_shop(n_users=60, n_items=40, n_categories=6, seed=5, **kw)
    paths = write_shop(shop, folder / "raw")
    build_recsys(paths["log"], paths["items"], folder / "data", config=RecsysConfig(max_train_per_user=1, hist_items=3))
    return folder / "data"


@pytest.fixture(scope="module")
def shop_data(tmp_path_factory) -> Path:
    return _shop(tmp_path_factory.mktemp("shop"))


def _evaluate(data: Path, base_model, **kw):
    return evaluate("all-MiniLM-L6-v2", data, "test", loaded_model=base_model, n_resamples=300, use_cache=False, **kw)


@pytest.fixture(scope="module")
def clean(shop_data, base_model):
    return _evaluate(shop_data, base_model)


def test_hybrid_is_scored_with_verdicts_against_each_part_and_kept_as_fusion_json(clean, tmp_path):
    result = clean
    assert list(result.systems) == ["model", "base", "popularity", "cooccurrence", "transitions", "attributes",
                                    "hybrid", "base_hybrid"]
    against = [c.baseline for c in result.comparisons if c.system == "hybrid"]
    assert against == ["model", "cooccurrence", "transitions", "popularity", "attributes", "base", "base_hybrid"]
    assert "hybrid: " in result.verdict

    write_eval(result, tmp_path / "ev")
    saved = json.loads((tmp_path / "ev" / "eval.json").read_text())
    fusion = json.loads((tmp_path / "ev" / "fusion.json").read_text())
    assert saved["fusion"]["hybrid"] == fusion
    assert list(fusion["weights"]) == PARTS and fusion["method"] == "wsum" and fusion["split"] == "dev"
    assert fusion["norm"] == "zmuv" and saved["fusion"]["base_hybrid"]["norm"] == "zmuv"  # recommendation: z-score only
    assert set(fusion["dev_metric"]) == {"hybrid", *PARTS} and fusion["n_queries"] == 60 and not fusion["default"]
    assert list(saved["fusion"]["base_hybrid"]["weights"]) == ["base", "cooccurrence", "transitions", "popularity",
                                                               "attributes"]
    # every slice (cold / warm targets, history length) has a row for every part and the hybrid
    for values in saved["slices"].values():
        for row in values.values():
            assert {"hybrid", "base_hybrid", *PARTS} <= set(row)
    assert saved["recommendation"].startswith("serve ")


def test_the_hybrid_ranking_is_the_hand_computed_fusion_of_the_parts_runs(shop_data, base_model):
    given = FusionSpec(method="wsum", norm="zmuv", weights={"model": 0.2, "cooccurrence": 0.5, "popularity": 0.3})
    result = _evaluate(shop_data, base_model, fusion=given)
    exclude: dict[str, set[str]] = {}
    for line in (shop_data / "exclude" / "test.tsv").read_text().splitlines()[1:]:
        user, item = line.split("\t")[:2]
        exclude.setdefault(user, set()).add(item)
    for user, fused in result.systems["hybrid"].run.items():
        # 40 items: every part ranks all of a user's candidates, so no item is missing from a part
        by_part = {p: dict(result.systems[p].run[user]) for p in given.parts}
        assert all(set(scores) == set(by_part["model"]) for scores in by_part.values())
        assert exclude[user] and not set(by_part["model"]) & exclude[user]  # history excluded before fusion
        total = dict.fromkeys(by_part["model"], 0.0)
        for part, scores in by_part.items():
            values = np.array(list(scores.values()))
            std = max(values.std(), 1e-9)
            for item, score in scores.items():
                total[item] += given.weights[part] * (score - values.mean()) / std
        assert dict(fused) == pytest.approx(total, abs=1e-6)
        assert all(a >= b - 1e-9 for (_, a), (_, b) in zip(fused, fused[1:], strict=False))  # best first


def test_hand_computed_fusion_of_a_tiny_log():
    # two users; the model, co-occurrence and popularity score three candidate items each
    runs = {
        "model": {"u1": [("a", 3.0), ("c", 2.0), ("b", 1.0)], "u2": [("b", 0.9), ("a", 0.5), ("c", 0.1)]},
        "cooccurrence": {"u1": [("b", 2.0), ("c", 1.0), ("a", 0.0)], "u2": [("c", 4.0), ("a", 0.0), ("b", 0.0)]},
        "popularity": {"u1": [("a", 5.0), ("b", 3.0), ("c", 1.0)], "u2": [("a", 5.0), ("b", 3.0), ("c", 1.0)]},
    }
    spec = FusionSpec(method="wsum", norm="zmuv", weights={"model": 0.5, "cooccurrence": 0.3, "popularity": 0.2})
    fused = fuse_runs(spec, runs)
    # u1: each part's scores are (3, 1, 2), (0, 2, 1), (5, 3, 1) for (a, b, c): z-scores ±1.2247 or 0
    z = 1.5 ** 0.5
    expected_u1 = {"a": 0.5 * z + 0.3 * -z + 0.2 * z, "b": 0.5 * -z + 0.3 * z + 0.2 * 0, "c": 0.0 + 0.0 + 0.2 * -z}
    assert [d for d, _ in fused["u1"]] == ["a", "b", "c"]
    assert dict(fused["u1"]) == pytest.approx(expected_u1)
    # u2: model (0.5, 0.9, 0.1) → (0, z, -z); co-occurrence (0, 0, 4) → (-1/√2, -1/√2, √2); popularity as u1
    r = 2 ** 0.5
    expected_u2 = {"a": 0.0 + 0.3 * -1 / r + 0.2 * z, "b": 0.5 * z + 0.3 * -1 / r + 0.0,
                   "c": 0.5 * -z + 0.3 * r + 0.2 * -z}
    assert dict(fused["u2"]) == pytest.approx(expected_u2)
    assert [d for d, _ in fused["u2"]] == ["b", "a", "c"]


def test_poisoned_test_targets_do_not_change_the_chosen_weights(shop_data, base_model, clean, tmp_path):
    poisoned = poisoned_copy(shop_data, tmp_path / "poisoned")
    dirty = _evaluate(poisoned, base_model)
    assert dirty.systems["hybrid"].metrics != clean.systems["hybrid"].metrics  # the poison did reach the test
    for name in ("hybrid", "base_hybrid"):
        a, b = clean.fusions[name].model_dump(), dirty.fusions[name].model_dump()
        assert a.pop("data") != b.pop("data") and a == b


def test_without_a_dev_split_the_documented_recommendation_default_is_used(tmp_path, base_model):
    data = _shop(tmp_path)
    (data / "qrels" / "dev.tsv").unlink()
    spec = _evaluate(data, base_model).fusions["hybrid"]
    assert spec.default and spec.weights == DEFAULT_RECSYS_FUSION.weights and "has no 'dev' split" in spec.note


def test_a_fusion_of_other_parts_is_refused_before_any_ranking(shop_data):
    with pytest.raises(EmbedtuneError, match="fuses one model with cooccurrence, transitions, popularity, attributes"):
        evaluate("no-such-model", shop_data, "test", fusion=FusionSpec(weights={"model": 0.7, "bm25": 0.3}))


def test_a_model_that_learned_nothing_is_not_hidden_by_the_fusion(clean):
    # On this generated shop (clicks drawn from category and brand tastes) the attributes part carries the
    # hybrid and dev gives the untrained model weight 0: eval says so (a weighted model: the test below).
    assert clean.fusions["hybrid"].weights["model"] == 0
    assert clean.hybrid_caveat.startswith("the hybrid gives the model weight 0 (chosen on split 'dev'): it is "
                                          "cooccurrence ⊕ transitions ⊕ popularity ⊕ attributes alone")
    clean.model_learned_nothing = True  # what `train` sets when the loss stayed at chance level
    try:
        line = "; the model learned nothing (its training loss stayed at chance level)"
        assert clean.hybrid_caveat.endswith(line) and clean.verdict.endswith(clean.hybrid_caveat)
        assert clean.hybrid_caveat in clean.to_dict()["warnings"] and clean.hybrid_caveat in clean.to_markdown()
    finally:
        clean.model_learned_nothing = False


def test_a_zero_model_weight_and_a_training_loss_at_chance_are_said():
    spec = FusionSpec(weights={"model": 0.0, "cooccurrence": 0.7, "popularity": 0.3}, split="dev")
    line = hybrid_caveat(spec, learned_nothing=False, near_chance=False)
    assert line == ("the hybrid gives the model weight 0 (chosen on split 'dev'): it is cooccurrence ⊕ popularity "
                    "alone, and the model adds nothing to it")
    line = hybrid_caveat(spec, learned_nothing=True, near_chance=True)
    assert line.endswith("; the model learned nothing (its training loss stayed at chance level, it ranks near "
                         "chance level on this split)")
    spec = spec.model_copy(update={"weights": {"model": 0.4, "cooccurrence": 0.4, "popularity": 0.2}})
    assert hybrid_caveat(spec, learned_nothing=False, near_chance=False) is None
    assert "not from the model (weight 0.4 of the hybrid)" in hybrid_caveat(spec, learned_nothing=True,
                                                                            near_chance=False)


def test_eval_reads_learned_nothing_from_the_model_folders_train_log(tmp_path):
    from embedtune.eval.evaluate import _trained_to_nothing

    assert not _trained_to_nothing(tmp_path) and not _trained_to_nothing(None)
    (tmp_path / "train_log.json").write_text(json.dumps({"learned_nothing": True, "epoch_losses": [4.3]}))
    assert _trained_to_nothing(tmp_path)
    (tmp_path / "train_log.json").write_text("{broken")
    assert not _trained_to_nothing(tmp_path)


def test_a_part_that_does_not_list_an_item_abstains_under_z_scores_and_sinks_it_under_min_max():
    # The text tower ranks a cold item first; co-occurrence knows nothing of it (not in its run).
    runs = {"model": {"u": [("cold", 3.0), ("a", 2.0), ("b", 1.0)]}, "cooccurrence": {"u": [("a", 2.0), ("b", 1.0)]}}
    weights = {"model": 0.5, "cooccurrence": 0.5}
    z = fuse_runs(FusionSpec(method="wsum", norm="zmuv", weights=weights), runs)["u"]
    # z-scores: model (1.22, 0, -1.22), co-occurrence a 1, b -1, cold 0 = its mean: the part abstains.
    assert [d for d, _ in z] == ["cold", "a", "b"]
    assert dict(z) == pytest.approx({"cold": 0.5 * 1.5**0.5, "a": 0.5, "b": -0.5 * 1.5**0.5 - 0.5})
    # min-max: cold gets co-occurrence's minimum (0) and falls below a (0.5 · 0.5 + 0.5 · 1).
    minmax = fuse_runs(FusionSpec(method="wsum", norm="min-max", weights=weights), runs)["u"]
    assert [d for d, _ in minmax] == ["a", "cold", "b"]


def test_keep_cold_fuses_a_cold_part_chosen_on_dev_to_keep_the_models_cold_score(shop_data, base_model, tmp_path):
    from embedtune.fusion import cold_run, mean_metric
    from embedtune.recsys.stats import cold_items

    result = _evaluate(shop_data, base_model, keep_cold=1.0)
    spec = result.fusions["hybrid"]
    assert list(spec.weights) == [*PARTS, "cold"] and spec.cold is not None and spec.cold.source == "model"
    assert list(result.fusions["base_hybrid"].weights)[-1] == "cold" and result.fusions["base_hybrid"].cold.source == "base"
    # the floor is the model's own NDCG@10 on the dev users whose target is cold, and the chosen hybrid reaches it
    from embedtune.data.beir import load_retrieval_split
    from embedtune.eval.systems import DenseSystem

    dev = load_retrieval_split(shop_data, "dev")
    cold, threshold = cold_items(shop_data, list(dev.corpus))
    assert spec.cold.max_events == threshold == 5
    targets = {q: dev.qrels[q] for q in dev.query_ids if set(dev.relevant(q)) & cold}
    assert targets and spec.cold.queries == len(targets)
    model_run = DenseSystem("model", "all-MiniLM-L6-v2", model=base_model, use_cache=False).rank(dev, 100)
    assert spec.cold.floor == pytest.approx(mean_metric(model_run, targets, "ndcg@10"), abs=1e-6)
    assert spec.cold.reached >= spec.cold.floor - 1e-9 and "that reach" in spec.note
    assert "weights kept 1 of model's dev ndcg@10 on the" in result.systems["hybrid"].description
    # the test ranking is the fusion of the parts' test runs with the cold part made from the model's
    test_cold = cold_items(shop_data, list(result.split.corpus), 5)[0]
    runs = {p: result.systems[p].run for p in PARTS}
    assert result.systems["hybrid"].run == fuse_runs(spec, {**runs, "cold": cold_run(runs["model"], test_cold, 100)},
                                                     k=100)
    # the choice never read the test split (the hybrid's choice alone, as `evaluate` makes it)
    from embedtune.eval.hybrid import hybrid_fusions
    from embedtune.recsys.baselines import recsys_baselines

    poisoned = poisoned_copy(shop_data, tmp_path / "poisoned")
    split = load_retrieval_split(poisoned, "test")
    others = {s.name: s for s in recsys_baselines(poisoned, split)}
    dense = {"model": DenseSystem("model", "all-MiniLM-L6-v2", model=base_model, use_cache=False)}
    dirty = hybrid_fusions(split, poisoned, dense, {p: others[p] for p in PARTS[1:]}, 100,
                           keep_cold=1.0)["hybrid"].model_dump()
    clean_spec = spec.model_dump()
    assert dirty.pop("data") != clean_spec.pop("data") and dirty == clean_spec
    with pytest.raises(EmbedtuneError, match=r"in \(0, 1\]"):
        _evaluate(shop_data, base_model, keep_cold=1.5)


def test_a_hybrid_that_ranks_cold_targets_below_the_model_says_so_with_the_way_to_keep_them():
    from embedtune.data.records import RetrievalSplit
    from embedtune.eval.evaluate import SystemResult, _lost_cold_items
    from embedtune.fusion import ColdPart

    split = RetrievalSplit(name="test", kind="recsys", queries={q: "" for q in "abcd"}, corpus={},
                           qrels={q: {"i": 1} for q in "abcd"})

    def system(name: str, scores: dict[str, float]) -> SystemResult:
        return SystemResult(name, name, {}, {q: {"ndcg@10": s} for q, s in scores.items()}, {}, 0.0)

    model = system("model", {"a": 1.0, "b": 0.5, "c": 0.0, "d": 0.9})
    hybrid = system("hybrid", {"a": 0.0, "b": 0.0, "c": 0.0, "d": 1.0})
    fusions = {"hybrid": DEFAULT_RECSYS_FUSION}
    said = _lost_cold_items(["a", "b", "c", "x"], {"model": model, "hybrid": hybrid}, fusions, split, 200, 0)
    # over the three evaluated cold users: hybrid 0 vs model 0.5; "x" is not in the split
    assert said.startswith("the hybrid ranks new and rare items below the model alone: on the 3 users")
    assert "hybrid 0.0000 vs model 0.5000 ndcg@10 (-0.5000" in said and "--keep-cold 1" in said
    # not when the hybrid keeps them, when a cold part already keeps them, or when there are no cold targets
    assert _lost_cold_items(["d"], {"model": model, "hybrid": hybrid}, fusions, split, 200, 0) is None
    kept = {"hybrid": DEFAULT_RECSYS_FUSION.model_copy(update={"cold": ColdPart()})}
    assert _lost_cold_items(["a", "b"], {"model": model, "hybrid": hybrid}, kept, split, 200, 0) is None
    assert _lost_cold_items([], {"model": model, "hybrid": hybrid}, fusions, split, 200, 0) is None


@pytest.fixture(scope="module")
def off(shop_data, base_model):
    return _evaluate(shop_data, base_model, cold_slot="off")


def test_the_hybrid_keeps_a_place_for_the_models_best_cold_item_chosen_on_dev(shop_data, base_model, clean, off):
    from embedtune.data.beir import load_retrieval_split
    from embedtune.eval.hybrid import SLOT_CENTRE, SLOT_RANKS, SLOT_TAUS, SLOT_TOLERANCE
    from embedtune.eval.systems import DenseSystem
    from embedtune.fusion import reserve_slot
    from embedtune.recsys.stats import cold_items

    # the default, auto: kept here, since on dev it lifts the cold targets at little cost overall
    spec = clean.fusions["hybrid"]
    slot = spec.slot
    assert slot is not None and slot.source == "model" and slot.centre == SLOT_CENTRE == 0.5
    assert slot.rank in SLOT_RANKS and slot.tau in SLOT_TAUS and slot.max_events == 5
    assert slot.reached > slot.without and spec.dev_metric["hybrid"] >= slot.dev_without - SLOT_TOLERANCE
    assert clean.fusions["base_hybrid"].slot is not None and clean.fusions["base_hybrid"].slot.source == "base"
    # ū is the mean of the model's vectors of the dev users; the evidence is the dev cold targets with and without
    system = DenseSystem("model", "all-MiniLM-L6-v2", model=base_model, use_cache=False)
    dev = load_retrieval_split(shop_data, "dev")
    assert np.allclose(slot.mean, system.query_embeddings(dev).mean(0), atol=1e-6)
    dev_cold = cold_items(shop_data, list(dev.corpus), 5)[0]
    assert slot.queries == sum(bool(set(dev.relevant(q)) & dev_cold) for q in dev.query_ids) > 0
    assert "cold slot: rank" in clean.systems["hybrid"].description
    # off: the same weights, no slot
    assert off.fusions["hybrid"].slot is None and off.fusions["hybrid"].weights == spec.weights
    assert spec.dev_metric["hybrid"] != off.fusions["hybrid"].dev_metric["hybrid"] == slot.dev_without
    # the test ranking: the parts fused as without a slot, then the slot filled from the test users' vectors,
    # centred on the dev users' mean
    test = load_retrieval_split(shop_data, "test")
    centred = system.rank(test, 100, shift=slot.centre * np.asarray(slot.mean))
    cold = cold_items(shop_data, list(test.corpus), 5)[0]
    plain = fuse_runs(off.fusions["hybrid"], {p: clean.systems[p].run for p in PARTS}, k=100)
    assert plain == off.systems["hybrid"].run
    expected = reserve_slot(plain, centred, cold, slot.rank, slot.tau, 100, 100)
    assert {q: [d for d, _ in r] for q, r in clean.systems["hybrid"].run.items()} == \
        {q: [d for d, _ in r] for q, r in expected.items()}
    assert any(expected[q] != plain[q] for q in plain)  # the slot moved some users' lists
    with pytest.raises(EmbedtuneError, match="choose one of auto, on, off"):
        _evaluate(shop_data, base_model, cold_slot="always")
    with pytest.raises(EmbedtuneError, match="measured with another model"):  # a slot's ū of another dimension
        system.rank(test, 10, shift=np.zeros(3))


def _tower(users: list[str]):
    """A stand-in dense part for the slot's choice: every user's centred ranking puts the cold item n first,
    far above the rest (z-score 3)."""
    from embedtune.eval.systems import DenseSystem

    class Tower(DenseSystem):
        def __init__(self):  # no model: the runs are given
            self.users = users

        def query_embeddings(self, split):
            return np.zeros((len(self.users), 2), dtype=np.float32)

        def rank(self, split, k, shift=None):
            assert shift is not None
            return {u: [("n", 1.0), *[(f"w{i}", 0.0) for i in range(9)]] for u in self.users}

    return Tower()


@pytest.mark.parametrize("warm_target", ["w0", "w9"])
def test_auto_keeps_the_slot_only_where_dev_shows_it_helps_the_cold_targets_at_little_cost(warm_target):
    from embedtune.eval import hybrid

    users = [f"u{i}" for i in range(10)]
    ranked = [(f"w{i}", 11.0 - i) for i in range(11)]  # n (cold) listed by no part
    runs = {"model": {u: ranked for u in users}, "cooccurrence": {u: ranked for u in users}}
    # two users' target is n; eight users' w0 (first: a slot at 5 or 10 costs them nothing) or w9 (tenth: any slot
    # pushes it out of the top 10)
    qrels = {u: {"n" if i < 2 else warm_target: 1} for i, u in enumerate(users)}
    spec = hybrid.choose_fusion(runs, qrels, split="dev", norms=("zmuv",))
    tower = _tower(users)
    cold = (frozenset({"n"}), 5)
    on = hybrid._with_cold_slot(spec, runs, qrels, "model", tower, None, cold, 100, "on")
    auto = hybrid._with_cold_slot(spec, runs, qrels, "model", tower, None, cold, 100, "auto")
    assert on.slot is not None and on.slot.rank == 5 and on.slot.without == 0.0
    assert on.slot.reached == pytest.approx(1 / np.log2(6))  # n at 5 for both cold targets
    if warm_target == "w0":
        assert auto == on and on.dev_metric["hybrid"] > on.slot.dev_without
    else:  # every setting pushes eight w9 targets to 11th: −8 × 1/log2(11) for +2 × 1/log2(6), over 10 users
        cost = (8 / np.log2(11) - 2 / np.log2(6)) / 10
        assert on.slot.dev_without - on.dev_metric["hybrid"] == pytest.approx(cost, abs=2e-6)
        assert auto.slot is None and f"no cold slot: on dev it costs {cost:.4f} overall" in auto.note
    none_cold = {u: {warm_target: 1} for u in users}
    quiet = hybrid._with_cold_slot(spec, runs, none_cold, "model", tower, None, cold, 100, "auto")
    assert quiet.slot is None and "no dev user's target is cold" in quiet.note
