"""The split never trains on what it judges: dev/test passages and their queries stay out of training."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedtune.data.records import Document
from embedtune.errors import DataError, EmbedtuneError
from embedtune.site.queries import GeneratedQuery
from embedtune.site.split import RealQuestion, page_key, read_questions, split_by_passage


def _site(n_pages: int, sections: int):
    docs, generated = [], {}
    for p in range(n_pages):
        for s in range(sections):
            doc_id = f"p{p}-{s}"
            docs.append(Document(id=doc_id, title=f"Page {p} — Part {s}", text=f"text of page {p} part {s}",
                                 metadata={"url": f"https://s/page{p}.html", "urls": [f"https://s/page{p}.html"],
                                           "anchor": f"part-{s}"}))
            generated[doc_id] = [GeneratedQuery(f"query {k} for {doc_id}", doc_id, "keywords") for k in range(2)]
    return docs, generated


def _assert_no_leak(docs, result):
    by_id = {d.id: d for d in docs}
    judged = {doc_id for name in ("dev", "test") for qrels in result.qrels.get(name, {}).values() for doc_id in qrels}
    train_positives = {p.positive for p in result.train_pairs}
    assert not train_positives & {by_id[d].full_text for d in judged}
    train_anchors = {p.anchor for p in result.train_pairs}
    held_out_queries = {result.queries[q] for name in ("dev", "test") for q in result.qrels.get(name, {})}
    assert not train_anchors & held_out_queries
    train_docs = {d for qrels in result.qrels["train"].values() for d in qrels}
    assert not train_docs & judged


@settings(max_examples=30, deadline=None)
@given(n_pages=st.integers(2, 12), sections=st.integers(1, 4), dev=st.floats(0.0, 0.5), seed=st.integers(0, 10**6),
       n_questions=st.integers(0, 3))
def test_no_dev_or_test_passage_is_trained_on(n_pages, sections, dev, seed, n_questions):
    docs, generated = _site(n_pages, sections)
    questions = [RealQuestion(f"real question {i}", f"/page{i}.html") for i in range(min(n_questions, n_pages - 1))]
    result = split_by_passage(docs, generated, dev_fraction=dev, seed=seed, questions=questions)
    _assert_no_leak(docs, result)
    assert len(result.train_pairs) == len(result.qrels["train"])


def test_real_questions_become_the_test_split_and_their_pages_leave_training():
    docs, generated = _site(5, 3)
    questions = [
        RealQuestion("how do I do part one", "https://other-host/page1.html#part-1"),  # anchor in the url
        RealQuestion("tell me about page two", "page2.html"),  # whole page
        RealQuestion("part two of page three", "/page3.html", anchor="Part 2"),
        RealQuestion("nowhere", "/missing.html", line=4),
    ]
    result = split_by_passage(docs, generated, dev_fraction=0.2, seed=1, questions=questions)
    test = result.qrels["test"]
    assert test == {"real-1": {"p1-1": 1}, "real-2": {"p2-0": 1, "p2-1": 1, "p2-2": 1}, "real-3": {"p3-2": 1}}
    assert result.queries["real-2"] == "tell me about page two"
    assert result.unmatched_questions == [4]
    assert result.passages_per_split["test"] == 5
    _assert_no_leak(docs, result)


def test_generated_query_equal_to_a_real_question_is_not_trained_on():
    docs, generated = _site(3, 1)
    generated["p2-0"].append(GeneratedQuery("How do I do it", "p2-0", "headings"))
    result = split_by_passage(docs, generated, dev_fraction=0, questions=[RealQuestion("how do I do it?", "/page0.html")])
    assert "How do I do it" not in {p.anchor for p in result.train_pairs}


def test_max_train_pairs_samples_training_only():
    docs, generated = _site(10, 2)
    full = split_by_passage(docs, generated, dev_fraction=0.2, seed=3)
    small = split_by_passage(docs, generated, dev_fraction=0.2, seed=3, max_train_pairs=5)
    assert len(small.train_pairs) == 5 and len(small.qrels["train"]) == 5
    assert small.qrels["dev"].keys() != set() and len(small.qrels["dev"]) == len(full.qrels["dev"])


def test_questions_that_match_no_page_are_an_error(tmp_path):
    docs, generated = _site(2, 1)
    with pytest.raises(EmbedtuneError, match="none of the 1 questions"):
        split_by_passage(docs, generated, questions=[RealQuestion("q", "/elsewhere.html")])


def test_read_questions_names_file_and_line(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"question": "ok", "url": "/a"}) + "\n" + json.dumps({"question": "no url"}) + "\n")
    with pytest.raises(DataError) as err:
        read_questions(path)
    assert err.value.line == 2 and "url" in str(err.value)


def test_page_key_matches_the_forms_of_one_page():
    assert page_key("https://site/docs/sync/") == page_key("/docs/sync") == page_key("docs/sync/index.html")
    assert page_key("https://site/docs/a.html") == page_key("docs/a") != page_key("/docs/b.html")


def test_cut_out_positives_are_trained_on_and_kept_out_of_dev():
    docs, generated = _site(20, 1)
    for doc in docs:
        generated[doc.id].append(GeneratedQuery(f"sentence of {doc.id}", doc.id, "cloze", positive=f"rest of {doc.id}"))
    result = split_by_passage(docs, generated, dev_fraction=0.3, seed=1)
    trained = {p.anchor: p.positive for p in result.train_pairs}
    cut = {a: pos for a, pos in trained.items() if a.startswith("sentence of")}
    assert cut and all(pos == "rest of " + a.removeprefix("sentence of ") for a, pos in cut.items())
    dev_queries = {result.queries[q] for q in result.qrels["dev"]}
    assert dev_queries and not any(q.startswith("sentence of") for q in dev_queries)


# --- real questions split by question (--real-train-fraction / --real-dev-fraction) ---------------------------


@settings(max_examples=30, deadline=None)
@given(n_questions=st.integers(3, 20), train=st.floats(0.05, 0.6), dev=st.floats(0.0, 0.3), seed=st.integers(0, 10**6))
def test_split_by_question_never_trains_on_a_held_out_question(n_questions, train, dev, seed):
    docs, generated = _site(6, 2)
    # every third question is asked twice (differently cased): both copies must land in one split
    questions = [RealQuestion(f"question {i % (n_questions - n_questions // 3)}" if i % 3 else f"Question {i // 3}?",
                              f"/page{i % 6}.html") for i in range(n_questions)]
    try:
        result = split_by_passage(docs, generated, dev_fraction=0.2, seed=seed, questions=questions,
                                  real_train_fraction=train, real_dev_fraction=dev)
    except EmbedtuneError as err:  # a few distinct questions at high fractions: said, not a silent empty test split
        assert "leave none for test" in str(err)
        return
    anchors = {p.anchor for p in result.train_pairs}
    held_out = {result.queries[q] for name in ("dev", "test") for q in result.qrels.get(name, {})}
    assert held_out and not anchors & held_out
    by_text: dict[str, set[str]] = {}
    for name, judged in result.qrels.items():
        for q in judged:
            by_text.setdefault(result.queries[q].lower().rstrip("?"), set()).add(name)
    assert all(len(names) == 1 for names in by_text.values())  # a repeated question sits in one split
    assert result.real_questions.get("test", 0) >= 1


def test_real_training_questions_train_and_judge_while_their_pages_stay_in_training():
    docs, generated = _site(5, 3)
    questions = [RealQuestion(f"question about page {i}", f"/page{i % 5}.html", anchor="part 1") for i in range(20)]
    result = split_by_passage(docs, generated, dev_fraction=0.2, seed=7, questions=questions,
                              real_train_fraction=0.5, real_dev_fraction=0.25)
    assert result.real_questions == {"train": 10, "dev": 5, "test": 5}
    # train/dev qrels hold the real questions only; the generated training queries live in pairs.jsonl
    assert all(q.startswith("real-") for name in ("train", "dev") for q in result.qrels[name])
    assert result.real_train_pairs == 10  # one section per question (the anchor)
    generated_pairs = len(result.train_pairs) - result.real_train_pairs
    assert generated_pairs == sum(len(g) for g in generated.values())  # no passage leaves training
    assert result.passages_per_split["train"] == len(docs)
    for q, judged in result.qrels["train"].items():
        passage = next(d for d in docs if d.id in judged)
        assert any(p.anchor == result.queries[q] and p.positive == passage.full_text for p in result.train_pairs)


def test_a_real_dev_share_replaces_the_generated_dev_queries():
    docs, generated = _site(5, 2)
    questions = [RealQuestion(f"q{i}", f"/page{i % 5}.html") for i in range(10)]
    only_train = split_by_passage(docs, generated, dev_fraction=0.2, seed=1, questions=questions, real_train_fraction=0.5)
    assert not any(q.startswith("real-") for q in only_train.qrels["dev"])  # dev stays generated
    assert "dev" not in only_train.real_questions
    with_dev = split_by_passage(docs, generated, dev_fraction=0.2, seed=1, questions=questions,
                                real_train_fraction=0.5, real_dev_fraction=0.2)
    assert with_dev.qrels["dev"] and all(q.startswith("real-") for q in with_dev.qrels["dev"])


def test_splitting_questions_needs_questions_and_leaves_some_for_test():
    docs, generated = _site(3, 1)
    with pytest.raises(EmbedtuneError, match="needs real questions"):
        split_by_passage(docs, generated, real_train_fraction=0.5)
    with pytest.raises(EmbedtuneError, match="leave some for test"):
        split_by_passage(docs, generated, questions=[RealQuestion("q", "/page0.html")], real_train_fraction=0.6,
                         real_dev_fraction=0.4)
    two = [RealQuestion("q one", "/page0.html"), RealQuestion("q two", "/page1.html")]
    with pytest.raises(EmbedtuneError, match="leave none for test"):
        split_by_passage(docs, generated, questions=two, real_train_fraction=0.5, real_dev_fraction=0.4)


def test_a_dev_share_too_small_for_one_question_keeps_the_generated_dev():
    docs, generated = _site(6, 2)
    questions = [RealQuestion(f"q{i}", f"/page{i % 6}.html") for i in range(4)]
    result = split_by_passage(docs, generated, dev_fraction=0.2, seed=1, questions=questions,
                              real_train_fraction=0.5, real_dev_fraction=0.1)  # round(4 × 0.1) = 0 questions
    assert "dev" not in result.real_questions
    assert result.qrels["dev"] and not any(q.startswith("real-") for q in result.qrels["dev"])
