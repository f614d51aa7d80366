"""A leakage-free split by passage: what is judged in dev or test is never trained on.

Passages, not queries, are assigned to splits. A dev or test passage contributes no training pair
(none of its generated queries, and it is never a positive), so a score on dev/test measures how the
model handles passages it has not been trained to match. Real visitor questions (``--questions``,
JSONL ``{"question", "url"[, "anchor"]}``, or a search log's queries and clicked pages, see
:mod:`embedtune.site.searchlog`) become the test split: their pages' passages (or the one section
named by ``anchor``) are relevant, and all of them leave the training data. A generated query
whose text equals a real question is dropped too, and dev keeps no query that contains its passage's
whole title (it would measure title matching).

With enough real questions (a site-search log of hundreds of searches), ``real_train_fraction`` and
``real_dev_fraction`` split *the questions* instead: a seeded share of them (a repeated question always
whole) trains and another is dev, the rest stay test. Then no passage leaves the training data — a site's
new searches look for the pages its earlier searches found, which is what the held-out questions measure —
but no held-out question, nor a generated query equal to one, is ever trained on. The real training
questions are written to ``qrels/train.tsv`` (so evaluation can expand BM25's documents with them,
:mod:`embedtune.data.expansion`); the generated training queries only to ``pairs.jsonl``. With a real
dev share, dev holds only real questions, so the fusion weights and every dev choice are made on them.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from embedtune.data.records import Document, Pair
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import iter_jsonl
from embedtune.site.chunk import slugify
from embedtune.site.queries import GeneratedQuery, names_title, normalize_query

log = logging.getLogger(__name__)

DEFAULT_DEV_FRACTION = 0.1
#: A real training question judged against a long page trains on at most this many of its passages.
MAX_POSITIVES_PER_QUESTION = 4
# Per-epoch evaluation encodes every dev query; a few hundred give a stable number at little cost.
DEFAULT_MAX_DEV_PASSAGES = 200


@dataclass(frozen=True)
class RealQuestion:
    """A question a visitor really asked, and the page (optionally the section) that answers it.

    ``url`` (and ``more_urls``, for a search clicked through to several pages) is a page URL, matched
    by path, or the id of a ``corpus.jsonl`` document (the prefix of its passages' ids).
    """

    question: str
    url: str
    anchor: str = ""
    line: int = 0
    more_urls: tuple[str, ...] = ()
    source: str = "questions"  # or "search-log": which file the line number refers to

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.url, *self.more_urls)


@dataclass
class SiteSplit:
    """Queries, qrels per split (``split → query id → passage id → 1``) and the training pairs."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, dict[str, int]]]
    train_pairs: list[Pair]
    passages_per_split: dict[str, int]
    unmatched_questions: list[int] = field(default_factory=list)
    #: lines of the search log whose query matched no page
    unmatched_search_log: list[int] = field(default_factory=list)
    #: split → generator → queries of that generator in the split (what training really sees)
    generator_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: split → real questions in it (only the test split unless the questions were split)
    real_questions: dict[str, int] = field(default_factory=dict)
    #: training pairs whose anchor is a real question
    real_train_pairs: int = 0


def read_questions(path: str | Path) -> list[RealQuestion]:
    """Read real questions (JSONL); a missing or empty ``question``/``url`` names file and line."""
    path = Path(path)
    questions = []
    for line, obj in iter_jsonl(path):
        values = {}
        for key in ("question", "url"):
            value = obj.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DataError(path, f"field {key!r} is missing or empty", line,
                                hint='each line is {"question": "...", "url": "..."[, "anchor": "..."]}')
            values[key] = value.strip()
        anchor = obj.get("anchor") or ""
        if not isinstance(anchor, str):
            raise DataError(path, "field 'anchor' must be a string", line)
        questions.append(RealQuestion(values["question"], values["url"], anchor.strip().lstrip("#"), line))
    if not questions:
        raise DataError(path, "no questions in file")
    return questions


def page_key(url: str) -> str:
    """Compare pages by path only: ``https://site/docs/sync/``, ``/docs/sync`` and ``/docs/sync/index.html`` match."""
    path = "/" + unquote(urlsplit(url).path).lstrip("/")  # "docs/a.html" is site-relative too
    for index in ("index.html", "index.htm", "index.md"):
        if path.endswith("/" + index):
            path = path[: -len(index)]
    for suffix in (".html", ".htm", ".md"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return path.rstrip("/").lower() or "/"


def match_questions(
    questions: Sequence[RealQuestion], passages: Sequence[Document]
) -> tuple[dict[str, dict[str, int]], dict[str, str], list[RealQuestion]]:
    """Relevant passages for each question: qrels, query texts, and the questions that matched no page."""
    by_page: dict[str, list[Document]] = {}
    by_id: dict[str, list[Document]] = {}
    for doc in passages:
        by_id.setdefault(doc.id.split("#", 1)[0], []).append(doc)
        for url in doc.metadata.get("urls") or [doc.metadata.get("url", "")]:
            if url:
                by_page.setdefault(page_key(url), []).append(doc)
    qrels: dict[str, dict[str, int]] = {}
    texts: dict[str, str] = {}
    unmatched: list[RealQuestion] = []
    for i, question in enumerate(questions, start=1):
        relevant: dict[str, int] = {}
        for target in question.targets:
            docs = by_id.get(target) or by_page.get(page_key(target), [])
            anchor = question.anchor or unquote(urlsplit(target).fragment)
            if docs and anchor:
                section = [d for d in docs if d.metadata.get("anchor") == slugify(anchor)]
                docs = section or docs
            relevant.update((doc.id, 1) for doc in docs)
        if not relevant:
            unmatched.append(question)
            log.warning("%s line %s: no page at %s", question.source, question.line or i, ", ".join(question.targets))
            continue
        qid = f"real-{i}"
        texts[qid] = question.question
        qrels[qid] = relevant
    return qrels, texts, unmatched


def assign_questions(
    texts: Mapping[str, str], train_fraction: float, dev_fraction: float, seed: int
) -> dict[str, str]:
    """``{question id: "train" | "dev" | "test"}``: seeded shares of the distinct questions (by normalised text,
    so a question asked twice is never on both sides), the rest test; test always keeps at least one."""
    check_question_fractions(train_fraction, dev_fraction)
    groups: dict[str, list[str]] = {}
    for qid, text in texts.items():
        groups.setdefault(normalize_query(text), []).append(qid)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_train, n_dev = question_shares(len(keys), train_fraction, dev_fraction)
    if n_train + n_dev >= len(keys):
        raise EmbedtuneError(
            f"{len(keys)} distinct real questions leave none for test at train {train_fraction:g} and dev "
            f"{dev_fraction:g}; bring more questions or lower the fractions"
        )
    where = {}
    for i, key in enumerate(keys):
        name = "train" if i < n_train else "dev" if i < n_train + n_dev else "test"
        where.update((qid, name) for qid in groups[key])
    return where


def question_shares(n: int, train_fraction: float, dev_fraction: float) -> tuple[int, int]:
    """How many of ``n`` distinct questions :func:`assign_questions` puts in train and in dev."""
    return round(n * train_fraction), round(n * dev_fraction)


def check_question_fractions(train_fraction: float, dev_fraction: float) -> None:
    if not (0 <= train_fraction < 1 and 0 <= dev_fraction < 1 and train_fraction + dev_fraction < 1):
        raise EmbedtuneError(
            f"real-question fractions must be in [0, 1) and leave some for test: train {train_fraction:g}, "
            f"dev {dev_fraction:g}"
        )


def split_by_passage(
    passages: Sequence[Document],
    generated: Mapping[str, list[GeneratedQuery]],
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    max_dev_passages: int = DEFAULT_MAX_DEV_PASSAGES,
    seed: int = 42,
    questions: Sequence[RealQuestion] = (),
    max_train_pairs: int | None = None,
    real_train_fraction: float = 0.0,
    real_dev_fraction: float = 0.0,
) -> SiteSplit:
    """Assign passages to test (real questions), dev (a random share) and train; build pairs from train.

    ``max_train_pairs`` keeps a random sample of the generated training queries (a budget for slow
    hardware); dev, test and real training questions are not affected. ``real_train_fraction`` /
    ``real_dev_fraction`` split the real questions instead of their passages (module docstring).
    """
    if not 0 <= dev_fraction < 1:
        raise EmbedtuneError(f"dev fraction must be in [0, 1), got {dev_fraction}")
    check_question_fractions(real_train_fraction, real_dev_fraction)
    by_question = real_train_fraction > 0 or real_dev_fraction > 0
    if by_question and not questions:
        raise EmbedtuneError("splitting real questions into train/dev/test needs real questions "
                             "(--questions or --search-log)")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {"train": {}, "dev": {}}
    unmatched: list[RealQuestion] = []
    test_passages: set[str] = set()
    real_texts: set[str] = set()
    real_train: dict[str, dict[str, int]] = {}
    if questions:
        real_qrels, texts, unmatched = match_questions(questions, passages)
        if not real_qrels:
            raise EmbedtuneError(
                f"none of the {len(questions)} questions' urls matches a page that was read; "
                "check that the questions' urls use the site's paths (or pass --url with the site's address)"
            )
        where = (assign_questions(texts, real_train_fraction, real_dev_fraction, seed) if by_question
                 else dict.fromkeys(real_qrels, "test"))
        qrels["test"] = {}
        for qid, judged in real_qrels.items():
            qrels[where[qid]][qid] = judged
        real_train = dict(qrels["train"])
        queries.update(texts)
        if not by_question:
            test_passages = {doc_id for judged in qrels["test"].values() for doc_id in judged}
        real_texts = {normalize_query(t) for t in texts.values()}
    real_counts = {name: len(judged) for name, judged in qrels.items() if judged}  # only real questions so far

    candidates = [d.id for d in passages if d.id not in test_passages and generated.get(d.id)]
    rng = random.Random(seed)
    rng.shuffle(candidates)
    n_dev = min(round(len(candidates) * dev_fraction), max_dev_passages)
    real_dev = bool(qrels["dev"])
    if real_dev:
        n_dev = 0  # dev holds the real dev questions only
    elif dev_fraction > 0 and n_dev == 0 and len(candidates) >= 4:
        n_dev = 1
    dev_passages = set(candidates[:n_dev])
    train_passages = set(candidates[n_dev:])

    by_id = {d.id: d for d in passages}
    train_queries = [q for d in passages if d.id in train_passages for q in generated.get(d.id, [])]
    keep: set[int] | None = None
    if max_train_pairs is not None and len(train_queries) > max_train_pairs:
        keep = {id(q) for q in random.Random(seed + 1).sample(train_queries, max_train_pairs)}
    pairs: list[Pair] = []
    trained_on: set[str] = set()  # passages some training pair has as its positive's source
    by_generator: dict[str, Counter[str]] = {"train": Counter(), "dev": Counter()}
    n = 0
    for doc in passages:  # corpus order, so files are stable and readable
        if doc.id not in dev_passages and doc.id not in train_passages:
            continue
        split = "dev" if doc.id in dev_passages else "train"
        for query in generated.get(doc.id, []):
            if normalize_query(query.text) in real_texts:
                continue
            if split == "train" and keep is not None and id(query) not in keep:
                continue
            if split == "dev" and (names_title(query.text, doc.title) or query.positive is not None):
                # A title or a sentence cut from the passage would be judged against the whole
                # passage, which contains it: dev would measure copying, not retrieval.
                continue
            n += 1
            by_generator[split][query.generator] += 1
            if split == "train":
                pairs.append(Pair(query.text, query.positive or by_id[doc.id].full_text))
                trained_on.add(doc.id)
                if real_train:  # the train qrels are the real questions' (module docstring)
                    continue
            qid = f"q{n}"
            queries[qid] = query.text
            qrels[split][qid] = {doc.id: 1}
    n_real_pairs = 0
    for qid, judged in real_train.items():
        for doc_id in list(judged)[:MAX_POSITIVES_PER_QUESTION]:
            pairs.append(Pair(queries[qid], by_id[doc_id].full_text))
            trained_on.add(doc_id)
            n_real_pairs += 1
    if not pairs:
        raise EmbedtuneError(
            "no training pairs: every passage is in dev/test or no generator wrote a query for it (titles and cloze "
            "need titles of 4+ words and passages of 2+ distinct sentences; try another --generators set, e.g. "
            "headings,keywords,sentences or titles,cloze)"
        )
    judged_in = {name: {doc_id for judged in qrels.get(name, {}).values() for doc_id in judged} for name in ("dev", "test")}
    counts = {"train": len(trained_on), "dev": len(judged_in["dev"]) if real_dev else len(dev_passages),
              "test": len(judged_in["test"])}
    for name in ("dev", "test"):
        if not qrels.get(name):
            qrels.pop(name, None)
    return SiteSplit(queries=queries, qrels=qrels, train_pairs=pairs, passages_per_split=counts,
                     unmatched_questions=[q.line for q in unmatched if q.source == "questions"],
                     unmatched_search_log=[q.line for q in unmatched if q.source == "search-log"],
                     generator_counts={name: dict(c.most_common()) for name, c in by_generator.items()},
                     real_questions=real_counts, real_train_pairs=n_real_pairs)
