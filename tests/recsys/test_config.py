"""RecsysConfig: the CLI's text forms are parsed by the config, not by the CLI."""

from __future__ import annotations

import sys

import pytest

from embedtune.cli import main
from embedtune.errors import EmbedtuneError
from embedtune.recsys.config import RecsysConfig, load_recsys_config


def test_event_map_text_and_mapping_give_the_same_config():
    assert RecsysConfig(event_map="0=click, 2 = buy").event_map == {"0": "click", "2": "buy"}
    assert RecsysConfig(event_map={"0": "click"}).event_map == {"0": "click"}
    assert load_recsys_config(None, {"event_map": "1=cart"}).event_map == {"1": "cart"}


@pytest.mark.parametrize("text", ["0click", "0=", "=buy", ","])
def test_a_bad_event_map_is_one_clear_error(text):
    with pytest.raises(EmbedtuneError, match="raw=label pairs"):
        load_recsys_config(None, {"event_map": text})


def test_cli_bad_event_map_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    log, items = tmp_path / "log.csv", tmp_path / "items.csv"
    log.write_text("user_id,item_id,timestamp\nu1,i1,1\n")
    items.write_text("item_id,title\ni1,A\n")
    monkeypatch.setattr(sys, "argv", ["embedtune", "recsys", "build", "--log", str(log), "--items", str(items),
                                      "-o", str(tmp_path / "out"), "--event-map", "0click", "-q"])
    with pytest.raises(SystemExit) as caught:
        main()
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "event_map" in err and "raw=label pairs" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
