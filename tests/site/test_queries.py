"""Query generators: each writes queries a visitor would type, none copies its passage."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from embedtune.data.records import Document
from embedtune.errors import EmbedtuneError
from embedtune.site.queries import (
    ClozeQueries,
    HeadingQuestions,
    KeywordQueries,
    LLMQueries,
    SentenceFragments,
    TemplateQueries,
    TitleQueries,
    generate_queries,
    make_generators,
    repeats_passage,
)

SYNC = Document(
    id="sync",
    title="Sync troubleshooting — Offline devices",
    text=(
        "A device that is offline queues its changes locally and pushes them within a few seconds of reconnecting. "
        "To retry a stuck sync, open Settings and choose Sync now. "
        "You can sign out and back in to rebuild the local cache. "
        "A conflict is a note that two devices changed at the same time."
    ),
)
EXPORT = Document(
    id="export",
    title="Exporting notes",
    text="Inkpad never locks your notes in. To export a notebook, right-click it and choose Export as Markdown. "
    "The archive holds one Markdown file per note with attachments beside it.",
)
PRICING = Document(
    id="pricing",
    title="Pricing — Refunds",
    text="Annual plans can be refunded in full within thirty days of purchase because billing is handled in-house.",
)
SITE = [SYNC, EXPORT, PRICING]


def _run(generator, doc=SYNC, seed=0):
    generator.prepare(SITE)
    return generator.generate(doc, random.Random(seed))


def test_templates_name_the_topic_not_the_text():
    queries = _run(TemplateQueries())
    assert queries == [
        "Summarize Offline devices", "Explain Offline devices", "Key points about Offline devices",
        "In simple terms: Offline devices",
    ]


def test_heading_questions_from_headings_and_sentences():
    queries = _run(HeadingQuestions())
    assert queries[0] in ("What is Offline devices?", "Tell me about Offline devices", "What should I know about Offline devices?")
    assert "How do I retry a stuck sync?" in queries
    assert "Can I sign out and back in to rebuild the local cache?" in queries
    assert "What is a conflict?" in queries or "What is conflict?" in queries
    gerund = _run(HeadingQuestions(), EXPORT)
    assert gerund[0] in ("How does exporting notes work?", "Help with exporting notes", "What do I need to know about exporting notes?")
    assert "How do I export a notebook?" in gerund
    why = [q.lower() for q in _run(HeadingQuestions(), PRICING)]
    assert "why annual plans can be refunded in full within thirty days of purchase?" in why


def test_heading_forms_numbered_imperative_and_plural_headings():
    generator = HeadingQuestions()
    rng = random.Random(0)
    assert generator.from_heading("4. Bring your old notes", rng) == ["How do I bring my old notes?"]
    assert generator.from_heading("How to share a notebook", rng) == ["How do I share a notebook?"]
    assert generator.from_heading("Is my data encrypted", rng) == ["Is my data encrypted?"]
    assert all(q in ("What are Tables?", "Tell me about Tables", "What should I know about Tables?")
               for seed in range(5) for q in generator.from_heading("Tables", random.Random(seed)))
    assert generator.from_heading("The", rng) == []


def test_keyword_queries_use_salient_terms_in_text_order():
    generator = KeywordQueries()
    queries = _run(generator)
    assert queries and all(2 <= len(q.split()) <= 4 for q in queries)
    vocabulary = set(SYNC.full_text.lower().replace(".", " ").split())
    assert all(set(q.split()) <= vocabulary for q in queries)
    # Words every passage shares are not salient; words only this passage has are.
    assert "sync" in generator.salient_terms(SYNC, 3)
    assert not any(w in ("the", "and", "a") for q in queries for w in q.split())


def test_sentence_fragments_are_partial_and_drop_function_words():
    queries = _run(SentenceFragments())
    assert queries
    for query in queries:
        assert 3 <= len(query.split()) <= 12
        assert not repeats_passage(query, SYNC.text) or len(query.split()) < 8


def test_repeats_passage_flags_copies_but_not_topics():
    assert repeats_passage("Summarize: " + SYNC.text, SYNC.text)
    assert repeats_passage("queues its changes locally and pushes them within a few", SYNC.text)
    assert repeats_passage("To retry a stuck sync, open Settings", SYNC.text)
    assert not repeats_passage("Explain offline devices", SYNC.text)
    assert not repeats_passage("why does my laptop not sync", SYNC.text)


def test_generate_queries_filters_dedupes_caps_and_is_deterministic():
    generators = make_generators(["templates", "headings", "keywords", "sentences"])
    copycat = Document(id="copy", title="", text="Summarize Offline devices is what people ask about Offline devices pages.")
    result, stats = generate_queries([*SITE, copycat], generators, max_per_passage=3, seed=7)
    assert all(len(qs) <= 3 for qs in result.values())
    kept = [q for qs in result.values() for q in qs]
    assert len({q.text.lower() for q in kept}) == len(kept)
    for q in kept:
        doc = next(d for d in [*SITE, copycat] if d.id == q.passage_id)
        assert not repeats_passage(q.text, doc.text)
    # Generators take turns, so each gets a share of the cap.
    assert len({q.generator for q in result["sync"]}) == 3
    assert sum(s["kept"] for s in stats.as_dict().values()) == len(kept)
    again, _ = generate_queries([*SITE, copycat], make_generators(["templates", "headings", "keywords", "sentences"]),
                                max_per_passage=3, seed=7)
    assert again == result


def test_a_query_generated_for_two_passages_is_dropped_from_both():
    twin_a = Document(id="a", title="Billing — Invoices", text="Invoices are listed under History as PDF files.")
    twin_b = Document(id="b", title="Account — Invoices", text="Every invoice can be downloaded from the web app.")
    result, stats = generate_queries([twin_a, twin_b], make_generators(["templates"]), max_per_passage=4)
    assert result == {"a": [], "b": []}
    assert stats.as_dict()["templates"]["dropped_duplicates"] == 8


def test_unknown_generator_and_llm_without_url_are_clear_errors():
    with pytest.raises(EmbedtuneError, match="unknown query generator"):
        make_generators(["headings", "magic"])
    with pytest.raises(EmbedtuneError, match="--llm-url"):
        make_generators(["llm"])


class _FakeChat(BaseHTTPRequestHandler):
    requests: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        answer = {"choices": [{"message": {"content": "1. why is my phone not syncing\n- laptop offline notes missing\n\nok"}}]}
        payload = json.dumps(answer).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_llm():
    _FakeChat.requests = []
    _FakeChat.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_llm_generator_asks_an_openai_compatible_endpoint(fake_llm, monkeypatch):
    monkeypatch.setenv("EMBEDTUNE_LLM_API_KEY", "sk-test")
    generators = make_generators(["keywords"], llm_url=fake_llm, llm_model="tiny-chat")
    assert [g.name for g in generators] == ["keywords", "llm"]
    llm = generators[1]
    llm.prepare(SITE)
    questions = llm.generate(SYNC, random.Random(0))
    llm.close()
    assert questions == ["why is my phone not syncing", "laptop offline notes missing"]
    request = _FakeChat.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "tiny-chat"
    assert SYNC.text in request["body"]["messages"][0]["content"]
    assert request["auth"] == "Bearer sk-test"


def test_llm_endpoint_errors_stop_the_build_with_a_clear_message(fake_llm):
    _FakeChat.status = 401
    llm = LLMQueries(fake_llm, "tiny-chat")
    llm.prepare(SITE)
    with pytest.raises(EmbedtuneError, match="HTTP 401"):
        llm.generate(SYNC, random.Random(0))
    llm.close()
    with pytest.raises(EmbedtuneError, match="unreachable"):
        LLMQueries("http://127.0.0.1:9/v1", "m", timeout=2).generate(SYNC, random.Random(0))


PAPER = Document(
    id="paper",
    title="Open access increases citation rate",
    text="Citation counts were compared across journals. Articles were matched by field and year. "
    "Open access articles were cited more often than closed ones in every field studied.",
)


def test_title_queries_pair_a_descriptive_title_with_the_text_alone():
    assert _run(TitleQueries(), PAPER) == [("Open access increases citation rate", PAPER.text)]
    assert _run(TitleQueries(), EXPORT) == []  # "Exporting notes" is a heading, not a statement


def test_cloze_queries_cut_the_sentence_out_of_the_positive():
    out = _run(ClozeQueries(), PAPER, seed=3)
    assert out[0][0] == "Open access articles were cited more often than closed ones in every field studied."
    assert len(out) == 2
    for sentence, positive in out:
        assert sentence not in positive
        assert positive.startswith(PAPER.title + " ")
    assert _run(ClozeQueries(), PRICING) == []  # one sentence: nothing left to match


def test_generated_cut_out_queries_carry_their_positive_and_never_copy_it():
    generated, stats = generate_queries([PAPER, SYNC], make_generators(["cloze", "titles"]), max_per_passage=10)
    paper = generated["paper"]
    assert {q.generator for q in paper} == {"cloze", "titles"}
    for query in paper:
        assert query.positive is not None and query.text not in query.positive
        assert not repeats_passage(query.text, query.positive)
    assert stats.as_dict()["cloze"]["kept"] == len([q for q in paper + generated["sync"] if q.generator == "cloze"])
