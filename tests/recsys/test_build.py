from __future__ import annotations

import json

import pytest

from embedtune.data import load_retrieval_split, read_corpus
from embedtune.data.pairs import load_training_pairs
from embedtune.errors import DataError
from embedtune.recsys.build import build_recsys
from embedtune.recsys.config import RecsysConfig, load_recsys_config
from embedtune.recsys.generate import generate_shop, write_shop
from tests.recsys.conftest import write


def test_build_writes_a_beir_dir_the_core_reads(tiny_shop, tmp_path):
    out = tmp_path / "data"
    build_recsys(*tiny_shop, out)
    corpus = read_corpus(out / "corpus.jsonl")
    assert set(corpus) == {"i1", "i2", "i3", "i4", "i5"}  # the whole catalog is ranked
    i4 = corpus["i4"]
    assert i4.title == ""
    assert i4.text == (
        "Item Metadata:\n- item_id: i4\n- Title: Cap\n- Category: hats\n- Shop: s3\n- Brand: unk\n"
        "Goal: match relevance for likely click."
    )
    assert i4.metadata == {"category": "hats", "shop": "s3", "brand": None, "item_title": "Cap", "price": "15"}
    pairs = load_training_pairs(out)
    assert len(pairs) == 1 and pairs[0].positive == corpus["i2"].text
    assert pairs[0].anchor.startswith("User Profile:\n- user_id: u1\n- HistCategories: shoes\n")
    manifest = json.loads((out / "embedtune.json").read_text())
    assert manifest["kind"] == "recsys"
    assert manifest["columns"]["log"] == {"user": "user_id", "item": "item_id", "time": "time_stamp", "event": "action_type"}
    assert manifest["counts"]["load"]["unknown_item_events"] == 1
    assert load_retrieval_split(out, "test").kind == "recsys"


def test_failed_build_leaves_an_existing_data_dir_untouched(tiny_shop, tmp_path):
    out = tmp_path / "data"
    build_recsys(*tiny_shop, out)
    before = (out / "queries.jsonl").read_text()
    bad = write(tmp_path / "bad.csv", "user_id,item_id,time_stamp,rating\nu1,i1,1,good\n")
    with pytest.raises(DataError):
        build_recsys(bad, tiny_shop[1], out)
    assert (out / "queries.jsonl").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.suffix != ".lock"] == []


def test_catalog_without_attributes_warns_that_only_ids_remain(tmp_path):
    raw = write_shop(generate_shop(n_users=30, n_items=40, uniform=True, attributes=False, seed=2), tmp_path / "raw")
    report = build_recsys(raw["log"], raw["items"], tmp_path / "data")
    assert report.profile_unk_share["hist_categories"] == 1.0
    assert any("MiniLM cannot learn" in w for w in report.warnings)
    assert any("item field category is 'unk' in 100% of items" in w for w in report.warnings)
    text = (tmp_path / "data" / "queries.jsonl").read_text()
    assert "- HistCategories: unk\\n- HistShops: unk\\n- HistBrands: unk" in text


def test_users_file_adds_attributes_to_profiles(tiny_shop, tmp_path):
    users = write(tmp_path / "users.csv", "user_id,age_range,gender\nu1,25-30,f\n")
    build_recsys(*tiny_shop, tmp_path / "data", users_path=users)
    first = json.loads((tmp_path / "data" / "queries.jsonl").read_text().splitlines()[0])["text"]
    assert "- user_id: u1\n- age_range: 25-30\n- gender: f\n- HistCategories:" in first
    assert (tmp_path / "data" / "users.parquet").is_file()


def test_custom_jinja_templates(tiny_shop, tmp_path):
    config = RecsysConfig(user_template="likes {{ hist_categories }} ({{ history_length }} events)",
                          item_template="{{ title }} in {{ category }}")
    build_recsys(*tiny_shop, tmp_path / "data", config=config)
    assert read_corpus(tmp_path / "data" / "corpus.jsonl")["i1"].text == "Air Max in shoes"
    first = json.loads((tmp_path / "data" / "queries.jsonl").read_text().splitlines()[0])["text"]
    assert first == "likes shoes (1 events)"


def test_config_file_and_bad_template_are_clear_errors(tiny_shop, tmp_path):
    cfg = write(tmp_path / "c.yaml", "recsys:\n  hist_top_n: 3\n  columns: {user: user_id}\n")
    assert load_recsys_config(cfg).hist_top_n == 3
    bad = write(tmp_path / "bad.yaml", "hist_top_n: 0\ncolumns: {customer: x}\n")
    with pytest.raises(Exception, match=r"bad\.yaml: invalid recsys config: .*unknown roles \[.customer.\].*hist_top_n: Input should be greater"):
        load_recsys_config(bad)
    with pytest.raises(Exception, match="user_template: template syntax error"):
        build_recsys(*tiny_shop, tmp_path / "d", config=RecsysConfig(user_template="{% for x %}"))
    with pytest.raises(Exception, match="variables available"):
        build_recsys(*tiny_shop, tmp_path / "d", config=RecsysConfig(user_template="{{ nope }}"))


def test_recbole_type_suffixes_are_dropped_from_attribute_names(tmp_path):
    inter = write(tmp_path / "ml.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                  "1\t10\t5\t100\n1\t11\t4\t200\n1\t10\t3\t300\n")
    item = write(tmp_path / "ml.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                 "10\tHeat\t1995\tAction Crime\n11\tFargo\t1996\tCrime Drama\n")
    config = RecsysConfig(item_template="{{ title }} ({{ attributes.release_year }})")
    build_recsys(inter, item, tmp_path / "data", config=config)
    corpus = read_corpus(tmp_path / "data" / "corpus.jsonl")
    assert corpus["10"].text == "Heat (1995)"
    assert corpus["11"].metadata["release_year"] == "1996"
