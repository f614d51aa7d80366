"""A leakage-free split by passage: what is judged in dev or test is never trained on.

Passages, not queries, are assigned to splits. A dev or test passage contributes no training pair
(none of its generated queries, and it is never a positive), so a score on dev/test measures how the
model handles passages it has not been trained to match. Real visitor questions (``--questions``,
JSONL ``{"question", "url"[, "anchor"]}``, or a search log's queries and clicked pages, see
:mod:`embedtune.site.searchlog`) become the test split: their pages' passages (or the one section
named by ``anchor``) are relevant, and all of them leave the training data. A generated query
whose text equals a real question is dropped too, and dev keeps no query that contains its passage's
whole title (it would measure title matching).
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


def split_by_passage(
    passages: Sequence[Document],
    generated: Mapping[str, list[GeneratedQuery]],
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    max_dev_passages: int = DEFAULT_MAX_DEV_PASSAGES,
    seed: int = 42,
    questions: Sequence[RealQuestion] = (),
    max_train_pairs: int | None = None,
) -> SiteSplit:
    """Assign passages to test (real questions), dev (a random share) and train; build pairs from train.

    ``max_train_pairs`` keeps a random sample of the training queries (a budget for slow hardware);
    dev and test are not affected.
    """
    if not 0 <= dev_fraction < 1:
        raise EmbedtuneError(f"dev fraction must be in [0, 1), got {dev_fraction}")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {"train": {}, "dev": {}}
    unmatched: list[RealQuestion] = []
    test_passages: set[str] = set()
    real_texts: set[str] = set()
    if questions:
        test_qrels, test_texts, unmatched = match_questions(questions, passages)
        if not test_qrels:
            raise EmbedtuneError(
                f"none of the {len(questions)} questions' urls matches a page that was read; "
                "check that the questions' urls use the site's paths (or pass --url with the site's address)"
            )
        qrels["test"] = test_qrels
        queries.update(test_texts)
        test_passages = {doc_id for judged in test_qrels.values() for doc_id in judged}
        real_texts = {normalize_query(t) for t in test_texts.values()}

    candidates = [d.id for d in passages if d.id not in test_passages and generated.get(d.id)]
    rng = random.Random(seed)
    rng.shuffle(candidates)
    n_dev = min(round(len(candidates) * dev_fraction), max_dev_passages)
    if dev_fraction > 0 and n_dev == 0 and len(candidates) >= 4:
        n_dev = 1
    dev_passages = set(candidates[:n_dev])
    train_passages = set(candidates[n_dev:])

    by_id = {d.id: d for d in passages}
    train_queries = [q for d in passages if d.id in train_passages for q in generated.get(d.id, [])]
    keep: set[int] | None = None
    if max_train_pairs is not None and len(train_queries) > max_train_pairs:
        keep = {id(q) for q in random.Random(seed + 1).sample(train_queries, max_train_pairs)}
    pairs: list[Pair] = []
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
            qid = f"q{n}"
            queries[qid] = query.text
            qrels[split][qid] = {doc.id: 1}
            if split == "train":
                pairs.append(Pair(query.text, query.positive or by_id[doc.id].full_text))
    if not pairs:
        raise EmbedtuneError(
            "no training pairs: every passage is in dev/test or no generator wrote a query for it (titles and cloze "
            "need titles of 4+ words and passages of 2+ distinct sentences; try another --generators set, e.g. "
            "headings,keywords,sentences or titles,cloze)"
        )
    trained_on = {doc_id for judged in qrels["train"].values() for doc_id in judged}
    counts = {"train": len(trained_on), "dev": len(dev_passages), "test": len(test_passages)}
    if not qrels["dev"]:
        del qrels["dev"]
    return SiteSplit(queries=queries, qrels=qrels, train_pairs=pairs, passages_per_split=counts,
                     unmatched_questions=[q.line for q in unmatched if q.source == "questions"],
                     unmatched_search_log=[q.line for q in unmatched if q.source == "search-log"],
                     generator_counts={name: dict(c.most_common()) for name, c in by_generator.items()})
