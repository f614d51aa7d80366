"""The hybrid mode of `recommend`: served rankings are the fused rankings evaluation scores, the default mode
follows fusion.json's dev result, and a history without co-occurrence statistics gets the text tower."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from embedtune.base_model import bundled_model_dir
from embedtune.cli import app
from embedtune.data import load_retrieval_split
from embedtune.errors import DataError, EmbedtuneError
from embedtune.eval.systems import DenseSystem
from embedtune.fusion import ColdPart, ColdSlot, FusionSpec, fuse_runs
from embedtune.recsys.baselines import query_histories, recsys_baselines
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.recommend import Recommender, choose_recommend_mode
from embedtune.recsys.stats import (
    ATTRIBUTES_FILE,
    STATS_DIR,
    TRANSITIONS_FILE,
    ItemStats,
    cold_items,
    recent_distinct,
)
from embedtune.recsys.templates import DEFAULT_USER_TEMPLATE
from tests.recsys.conftest import cooccurrence_shop

# Chosen on dev (as `embedtune eval` would write it); depth 3 of a 6-item catalog, so each part's cut matters.
SPEC = FusionSpec(
    method="wsum", norm="zmuv",
    weights={"model": 0.4, "cooccurrence": 0.2, "transitions": 0.2, "popularity": 0.1, "attributes": 0.1},
    depth=3, split="dev", n_queries=3,
    dev_metric={"hybrid": 0.61, "model": 0.42, "cooccurrence": 0.55, "transitions": 0.5, "popularity": 0.3,
                "attributes": 0.45},
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, base_model):
    """A DATA_DIR whose profiles leave out the user id, so the profile of a history equals the evaluated
    query text of that user at that point; and a model folder (the bundled weights) holding fusion.json."""
    tmp = tmp_path_factory.mktemp("hybrid")
    template = DEFAULT_USER_TEMPLATE.replace("- user_id: {{ user_id }}\n", "")
    data = cooccurrence_shop(tmp, "abcdef", config=RecsysConfig(user_template=template), categories="xxyyzz")
    model = tmp / "model"
    shutil.copytree(bundled_model_dir(), model, copy_function=lambda src, dst: Path(dst).symlink_to(src))
    SPEC.save(model / "fusion.json")
    return data, model


@pytest.fixture(scope="module")
def recommender(shop, base_model):
    data, model = shop
    return Recommender(model, data, model=base_model, use_cache=False)


def histories_before_targets(data: Path, query_ids: list[str]) -> dict[str, list[str]]:
    """Each query's user's items before its target, oldest first (what the user had done by then)."""
    rows = duckdb.sql(
        f"""WITH ev AS (SELECT * FROM read_parquet('{data / "interactions.parquet"}')),
                 t AS (SELECT query_id AS q, user_id AS u, pos AS p FROM ev WHERE query_id IS NOT NULL)
            SELECT t.q, list(ev.item_id ORDER BY ev.pos) FROM t JOIN ev ON ev.user_id = t.u AND ev.pos < t.p
            GROUP BY t.q"""
    ).fetchall()
    return {query: list(items) for query, items in rows if query in query_ids}


def served_and_evaluated(data: Path, recommender: Recommender, spec: FusionSpec, base_model, split_name: str,
                         cold=None) -> dict[str, tuple[list[str], list[str]]]:
    """Each query's served hybrid top 6 and the evaluation's fused top 6 (same parts, same ``spec``), after
    checking that serving saw the user as evaluation did; also the parts the fusion differs from."""
    split = load_retrieval_split(data, split_name)
    # The evaluation's systems, their runs at the evaluation's depth, fused by the same spec.
    systems = [DenseSystem("model", "all-MiniLM-L6-v2", model=base_model, use_cache=False), *recsys_baselines(data, split)]
    runs = {system.name: system.rank(split, 100) for system in systems}
    # a cold slot's source ranks the users again, their vectors centred (as `embedtune eval` does)
    centred = (systems[0].rank(split, 100, shift=spec.slot.centre * np.asarray(spec.slot.mean, dtype=np.float32))
               if spec.slot is not None else None)
    evaluated = fuse_runs(spec, {part: runs[part] for part in spec.parts if part in runs}, k=6, cold=cold,
                          centred=centred)
    histories = histories_before_targets(data, split.query_ids)
    assert set(histories) == set(split.query_ids) and len(histories) >= 3
    out = {}
    for query, history in histories.items():
        assert recommender.profile(history=history) == split.queries[query]  # the same user, as evaluated
        assert set(history) == split.exclude[query]
        # The co-occurrence, transitions and attributes parts read the history most recent first, as the evaluation's
        # SQL does.
        assert recent_distinct(history) == query_histories(data, [query])[query]
        assert recent_distinct(history)[:2] == query_histories(data, [query], 2)[query]
        served = recommender.rank(history=history, k=6, mode="hybrid")
        assert served.mode == "hybrid" and served.fallback is None
        # Scores agree to float noise: evaluation encodes the profiles in one padded batch, serving one at a time.
        assert [r.score for r in served.items] == pytest.approx([score for _, score in evaluated[query]], abs=1e-4)
        out[query] = ([r.item_id for r in served.items], [item for item, _ in evaluated[query]],
                      {part: [item for item, _ in runs[part][query][:6]] for part in spec.parts if part in runs})
    return out


@pytest.mark.parametrize("split_name", ["dev", "test"])
def test_served_hybrid_is_the_fused_ranking_evaluation_scores(shop, recommender, base_model, split_name):
    data, _ = shop
    differs = set()
    for query, (served, evaluated, parts) in served_and_evaluated(data, recommender, SPEC, base_model, split_name).items():
        assert served == evaluated, query
        differs |= {part for part, top in parts.items() if top != served}
    assert differs == set(SPEC.parts)  # the fusion is none of its parts alone


def _served_as_evaluated(shop, recommender, base_model, folder: Path, spec: FusionSpec, cold) -> int:
    """Serve ``spec`` from a copy of the model folder; every served ranking is the evaluated one. Returns how many
    differ from the plain ``SPEC``'s."""
    data, model = shop
    shutil.copytree(model, folder, symlinks=True)
    spec.save(folder / "fusion.json")
    served = Recommender(folder, data, model=base_model, use_cache=False)
    moved = 0
    for split_name in ("dev", "test"):
        kept = served_and_evaluated(data, served, spec, base_model, split_name, cold=cold)
        without = served_and_evaluated(data, recommender, SPEC, base_model, split_name)
        for query, (ranked, evaluated, _) in kept.items():
            assert ranked == evaluated, query
            moved += ranked != without[query][0]
    return moved


def test_a_cold_part_is_served_as_evaluated(shop, recommender, base_model, tmp_path):
    with_cold = SPEC.model_copy(update={"weights": {**SPEC.weights, "cold": 0.6},
                                        "cold": ColdPart(source="model", max_events=1)})
    cold = cold_items(shop[0], list("abcdef"), 1)[0]
    assert cold and cold != set("abcdef")
    assert _served_as_evaluated(shop, recommender, base_model, tmp_path / "model", with_cold, cold)  # some moved


def test_a_cold_slot_is_served_as_evaluated(shop, recommender, base_model, tmp_path):
    dev = load_retrieval_split(shop[0], "dev")
    mean = DenseSystem("model", "all-MiniLM-L6-v2", model=base_model, use_cache=False).query_embeddings(dev).mean(0)
    with_slot = SPEC.model_copy(update={"slot": ColdSlot(source="model", centre=0.5, mean=mean.tolist(), max_events=1,
                                                         rank=1)})
    cold = cold_items(shop[0], list("abcdef"), 1)[0]
    assert _served_as_evaluated(shop, recommender, base_model, tmp_path / "model", with_slot, cold)  # some moved


def test_default_mode_is_hybrid_when_fusion_json_says_it_beat_the_text_tower_on_dev(shop, recommender):
    assert recommender.default_mode == "hybrid"
    assert "hybrid beat the text tower" in recommender.modes.reason and "0.6100 vs text tower 0.4200" in recommender.modes.reason
    assert recommender.rank(history=["a", "b"], k=3).mode == "hybrid"


def test_default_mode_is_text_otherwise_and_says_why(tmp_path):
    worse = tmp_path / "worse" / "fusion.json"
    SPEC.model_copy(update={"dev_metric": {"hybrid": 0.40, "model": 0.42}}).save(worse)
    choice = choose_recommend_mode(worse)
    assert choice.default == "text" and "did not beat the text tower" in choice.reason and choice.fusion.depth == 3
    undecided = tmp_path / "undecided" / "fusion.json"
    SPEC.model_copy(update={"dev_metric": {}, "note": "documented default: split 'dev' has no judged queries"}).save(undecided)
    assert choose_recommend_mode(undecided).default == "text"
    assert "records no dev result" in choose_recommend_mode(undecided).reason
    search = tmp_path / "search" / "fusion.json"
    FusionSpec(weights={"model": 0.7, "bm25": 0.3}, dev_metric={"hybrid": 0.9, "model": 0.5}).save(search)
    aside = choose_recommend_mode(search)
    assert aside.default == "text" and "not the recommendation parts" in aside.reason
    assert aside.fusion.parts == ["model", "cooccurrence", "transitions", "popularity", "attributes"]
    assert aside.fusion.default
    missing = choose_recommend_mode(None)
    assert missing.default == "text" and "no fusion.json" in missing.reason
    # embedtune.fusion's documented default for three parts: its method and norm, equal weights.
    assert missing.fusion.method == "wsum" and missing.fusion.norm == "zmuv"
    assert len(set(missing.fusion.weights.values())) == 1
    broken = tmp_path / "fusion.json"
    broken.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        choose_recommend_mode(broken)


def test_a_history_the_statistics_never_saw_gets_the_text_tower_in_hybrid_mode(recommender):
    ranking = recommender.rank(history=["f"], k=3, mode="hybrid")  # f: in the catalog, nobody met it in training
    assert ranking.mode == "text" and "no item of the history has co-occurrence statistics" in ranking.fallback
    assert [r.item_id for r in ranking.items] == [r.item_id for r in recommender.rank(history=["f"], k=3, mode="text").items]


def test_each_mode_and_a_bad_mode(recommender):
    tops = {mode: recommender.rank(history=["b"], k=5, mode=mode) for mode in ("text", "cooccurrence", "hybrid")}
    assert {mode: r.mode for mode, r in tops.items()} == {"text": "text", "cooccurrence": "cooccurrence", "hybrid": "hybrid"}
    assert all("b" not in [i.item_id for i in r.items] for r in tops.values())
    assert [i.item_id for i in tops["cooccurrence"].items][:2] == ["a", "c"]  # b met a (2 users) and c (1)
    with pytest.raises(EmbedtuneError, match="unknown mode 'fused': choose one of text, cooccurrence, hybrid"):
        recommender.rank(history=["b"], mode="fused")


def test_cli_recommend_defaults_to_hybrid_and_takes_each_mode(shop):
    data, model = shop
    runner = CliRunner()
    base = ["recommend", "--model", str(model), "--data", str(data), "--history", "a,b", "-k", "3"]
    shown = runner.invoke(app, base)
    assert shown.exit_code == 0, shown.output
    assert "mode: hybrid (default: " in shown.output and "hybrid beat the text tower" in shown.output
    for mode in ("text", "cooccurrence", "hybrid"):
        result = runner.invoke(app, [*base, "--mode", mode, "--json", "-q"])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
        assert len(lines) == 3 and {line["mode"] for line in lines} == {mode}
    bad = runner.invoke(app, [*base, "--mode", "fused"])
    assert bad.exit_code == 2 and "'fused' is not one of text, cooccurrence, hybrid" in bad.output


def test_statistics_saved_before_transitions_get_them_from_the_data_dir(shop, recommender, base_model, tmp_path):
    data, model = shop
    ItemStats.from_data_dir(data).save(tmp_path)
    folder = tmp_path / STATS_DIR
    (folder / TRANSITIONS_FILE).unlink()  # what a schema-1 recsys/ holds
    (folder / ATTRIBUTES_FILE).unlink()
    info = json.loads((folder / "item_stats.json").read_text())
    (folder / "item_stats.json").write_text(json.dumps({**info, "schema_version": 1}))
    old = ItemStats.load(tmp_path)
    assert old.transitions is None and old.attributes is None
    served = Recommender(model, data, model=base_model, use_cache=False, stats=old)
    # The fusion weighs transitions and attributes: computed from the DATA_DIR.
    assert served.stats.transitions is not None and list(served.stats.attributes.fields) == ["category"]
    for history in (["a", "b"], ["c"], ["b", "c", "a"]):
        assert ([r.item_id for r in served.rank(history=history, k=4, mode="hybrid").items]
                == [r.item_id for r in recommender.rank(history=history, k=4, mode="hybrid").items])
