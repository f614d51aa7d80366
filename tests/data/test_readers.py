"""Readers validate every input and name the file and line of the first problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedtune.data import (
    Pair,
    load_retrieval_split,
    load_training_pairs,
    read_corpus,
    read_pairs,
    read_qrels,
)
from embedtune.data.pairs import write_pairs
from embedtune.errors import DataError, EmbedtuneError


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return path


def test_pairs_jsonl_with_aliases_negatives_and_several_positives(tmp_path):
    path = write_lines(tmp_path / "pairs.jsonl", [
        json.dumps({"sentence_0": "q1", "sentence_1": "p1"}),
        json.dumps({"sentence_0": "q2", "sentence_1": ["p2a", "p2b"]}),
    ])
    assert read_pairs(path) == [Pair("q1", "p1"), Pair("q2", "p2a"), Pair("q2", "p2b")]
    path = write_lines(tmp_path / "neg.jsonl", [json.dumps({"anchor": "q", "positive": "p", "negative_2": "n2", "negative_1": "n1"})])
    assert read_pairs(path) == [Pair("q", "p", ("n1", "n2"))]


def test_pairs_csv_and_parquet(tmp_path):
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text('anchor,positive,negative\n"how, really?",answer,wrong\nq2,a2,n2\n', encoding="utf-8")
    assert read_pairs(csv_path)[0] == Pair("how, really?", "answer", ("wrong",))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"anchor": ["a", "b"], "positive": ["x", "y"]}), tmp_path / "pairs.parquet")
    assert read_pairs(tmp_path / "pairs.parquet") == [Pair("a", "x"), Pair("b", "y")]


def test_pairs_roundtrip(tmp_path):
    pairs = [Pair("q", "p", ("n",)), Pair("q2", "p2", ("n2",))]
    write_pairs(tmp_path / "out.jsonl", pairs)
    assert read_pairs(tmp_path / "out.jsonl") == pairs


@pytest.mark.parametrize(
    ("lines", "line_no", "fragment"),
    [
        ([json.dumps({"anchor": "q", "positive": "p"}), '{"anchor": "q2", "positive": '], 2, "malformed JSON"),
        ([json.dumps({"anchor": "q", "text": "p"})], 1, "missing column 'positive'"),
        ([json.dumps({"anchor": "q", "positive": "p"}), json.dumps({"anchor": "  ", "positive": "p"})], 2, "is empty"),
        ([json.dumps({"anchor": "q", "positive": "p"}), b'{"anchor": "caf\xe9", "positive": "p"}'], 2, "not valid UTF-8"),
        ([json.dumps({"anchor": "q", "positive": 3})], 1, "must be text"),
        ([json.dumps(["anchor", "positive"])], 1, "expected a JSON object"),
    ],
)
def test_pairs_bad_input_names_file_and_line(tmp_path, lines, line_no, fragment):
    path = write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataError) as err:
        read_pairs(path)
    assert err.value.line == line_no
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_csv_wrong_field_count_and_huge_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("anchor,positive\nq,p\nq2,p2,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv:3: expected 2 fields"):
        read_pairs(path)
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps({"anchor": "q", "positive": "x" * (9 * 1024 * 1024)}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="huge.jsonl:1: line is .* bytes"):
        read_pairs(huge)


def test_beir_split_and_training_pairs(tiny_beir):
    split = load_retrieval_split(tiny_beir, "test")
    assert split.kind == "retrieval"
    assert split.query_ids == ["q-security-1", "q-security-2"]
    assert split.relevant("q-security-1") == {"security-1"}
    pairs = load_training_pairs(tiny_beir)
    assert len(pairs) == 9
    assert pairs[0].positive.startswith("Billing ")  # title + text, as the evaluator embeds it


def test_beir_folder_with_its_own_pairs_file_trains_on_it(tiny_beir):
    """site build ships pairs.jsonl: its positives may be cut from the passage, unlike the corpus text."""
    (tiny_beir / "pairs.jsonl").write_text('{"anchor": "a sentence", "positive": "the rest of its passage"}\n')
    assert [(p.anchor, p.positive) for p in load_training_pairs(tiny_beir)] == [("a sentence", "the rest of its passage")]


def test_qrels_unknown_ids_and_bad_score(tiny_beir):
    corpus = read_corpus(tiny_beir / "corpus.jsonl")
    bad = tiny_beir / "qrels" / "bad.tsv"
    bad.write_text("query-id\tcorpus-id\tscore\nq-billing-0\tnope\t1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:2: unknown corpus id 'nope'"):
        read_qrels(bad, corpus)
    bad.write_text("q-billing-0\tbilling-0\thigh\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:1: score 'high' is not a number"):
        read_qrels(bad, corpus)


def test_corpus_duplicate_id_and_missing_split(tiny_beir):
    path = tiny_beir / "corpus.jsonl"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    path.write_text(first + "\n" + first + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"corpus.jsonl:2: duplicate document id"):
        read_corpus(path)
    with pytest.raises(EmbedtuneError, match="no 'validation' split"):
        load_retrieval_split(tiny_beir, "validation")


def test_not_a_dataset(tmp_path):
    with pytest.raises(EmbedtuneError, match="no such file or folder"):
        load_training_pairs(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported pairs format"):
        load_training_pairs(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("text", "line_no", "fragment"),
    [
        # the quote opened on line 3 is never closed: the csv module used to swallow lines 4-5 into it
        ('anchor,positive\nq1,p1\nq2,"p2\nq3,p3\nq4,p4\n', 3, "unterminated quote"),
        ('anchor,positive\nq1,p1\nq2,"p2\nq3,p3\nq4,"p4"\n', 3, "unterminated quote"),
        ('anchor,positive\nq1,"p1"x\n', 2, "malformed CSV"),
        ('anchor,positive\nq1,p1\nq2\n', 3, "expected 2 fields"),
    ],
)
def test_csv_never_loses_rows_silently(tmp_path, text, line_no, fragment):
    path = tmp_path / "pairs.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_pairs(path)
    assert err.value.line == line_no and fragment in str(err.value) and f"pairs.csv:{line_no}:" in str(err.value)


def test_csv_quoted_newlines_are_one_field_and_report_their_first_line(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('anchor,positive\nq1,"two\nlines"\nq2,\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.csv:4: column 'positive' is empty"):
        read_pairs(path)
    path.write_text('anchor,positive\nq1,"two\nlines"\nq2,p2\n', encoding="utf-8")
    assert read_pairs(path) == [Pair("q1", "two\nlines"), Pair("q2", "p2")]
