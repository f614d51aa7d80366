"""Property tests: whatever bytes a user hands a reader, the answer is records or a DataError that
names the file (and a line inside it) -- never another exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedtune.data import read_corpus, read_pairs, read_qrels
from embedtune.data.beir import read_queries
from embedtune.errors import DataError

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None)

FIELDS = ["_id", "title", "text", "anchor", "positive", "negative", "negative_1", "query", "sentence_0", "sentence_1", "url"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
json_lines = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5).map(lambda d: json.dumps(d).encode())
odd_lines = st.binary(max_size=40) | st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass"))
# Lines that almost parse (right columns, wrong values) find more than pure noise.
lines = st.lists(st.one_of(json_lines, json_lines, odd_lines), max_size=8).map(lambda ls: b"\n".join(ls))
tsv_field = st.sampled_from(["q1", "d1", "1", "0", "-2", "2.5", "nan", "inf", "-inf", "1e400", "x", "", " ", "query-id", "corpus-id"])
tsv = st.lists(
    st.lists(tsv_field, min_size=3, max_size=4).map(lambda fs: "\t".join(fs).encode()) | odd_lines, max_size=8,
).map(lambda ls: b"\n".join(ls))
csv_text = st.lists(
    st.lists(st.sampled_from(["anchor", "positive", "negative", "q", "p", '"', '""', '"a,b"', '"open', "close\"", "", " ", "\r"]),
             min_size=1, max_size=4).map(lambda fs: ",".join(fs)),
    max_size=6,
).map(lambda ls: "\n".join(ls).encode()) | st.binary(max_size=60)


def _check(reader, data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            reader(path)
        except DataError as err:
            assert str(err).startswith(str(path)), err
            if err.line is not None:
                assert 1 <= err.line <= max(data.count(b"\n"), len(data.splitlines())) + 1, err  # CSV also ends lines at \r


READERS = {
    "pairs.jsonl": (read_pairs, lines),
    "pairs.csv": (read_pairs, csv_text),
    "corpus.jsonl": (read_corpus, lines),
    "queries.jsonl": (read_queries, lines),
    "test.tsv": (read_qrels, tsv),
}


@pytest.mark.parametrize("name", list(READERS))
@FAST
@given(data=st.data())
def test_line_readers(name, data):
    reader, strategy = READERS[name]
    _check(reader, data.draw(strategy), name)


parquet_columns = st.dictionaries(
    st.sampled_from(["anchor", "positive", "negative", "query", "other"]),
    st.one_of(
        st.lists(st.text(max_size=10), min_size=2, max_size=2),
        st.lists(st.none() | st.text(max_size=5), min_size=2, max_size=2),
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=2, max_size=2),
        st.lists(st.lists(st.text(max_size=5), max_size=2), min_size=2, max_size=2),
    ),
    max_size=4,
)


@FAST
@given(parquet_columns)
def test_pairs_parquet(columns):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.parquet"
        pq.write_table(pa.table(columns) if columns else pa.table({"x": [1]}), path)
        try:
            read_pairs(path)
        except DataError as err:
            assert str(err).startswith(str(path)), err


@FAST
@given(st.binary(max_size=200))
def test_pairs_parquet_garbage(data):
    _check(read_pairs, b"PAR1" + data, "pairs.parquet")
