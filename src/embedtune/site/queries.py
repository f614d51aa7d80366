"""Training queries for passages that have none: switchable generators, none of which copies the answer.

=============  ===========================================================================
generator      what it writes for a passage
=============  ===========================================================================
``templates``  the prompts users know: "Summarize …", "Explain …", "Key points about …",
               "In simple terms: …" about the passage's topic (its heading). Expected to help
               little: every query of a kind looks alike.
``headings``   questions from headings ("Exporting notes" → "How does exporting notes work?")
               and from definitional/instructional sentences ("X is a …" → "What is X?",
               "To export notes, …" → "How do I export notes?", "You can …" → "Can I …?").
``keywords``   2–4 salient terms of the passage by TF-IDF over the whole site, in text order.
``sentences``  partial sentences: a window of a passage sentence with most function words
               dropped, the way people paste half-remembered phrases into a search box.
``llm``        questions a visitor would type, from an OpenAI-compatible chat endpoint
               (``--llm-url``/``--llm-model``); off by default, never contacted otherwise.
=============  ===========================================================================

Every query is checked against its passage's text: a query that repeats the passage (a run of
:data:`LEAK_RUN` words, or the whole query when it is a sentence-length span of the text) is dropped,
since a model learns nothing from matching a text with itself and the doctor flags such data. Queries
are deduplicated across the site (a query generated for two passages is ambiguous and dropped from
both) and capped per passage, taking generators in turn (in a random order per passage) so each keeps
a share.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from embedtune.data.records import Document
from embedtune.errors import EmbedtuneError
from embedtune.site.chunk import split_sentences
from embedtune.text import shingles
from embedtune.text import words as text_words

log = logging.getLogger(__name__)

GENERATOR_NAMES = ("templates", "headings", "keywords", "sentences", "titles", "cloze", "llm")
DEFAULT_GENERATORS = ("headings", "keywords", "sentences")
DEFAULT_MAX_QUERIES_PER_PASSAGE = 4
# A query sharing this many consecutive words with its passage's text copies the answer.
LEAK_RUN = 8
# A query this long (in words) that appears whole in the passage text is a copied sentence.
LEAK_WHOLE_MIN_WORDS = 5
# ... or has this share of its word 3-shingles in the passage (the doctor's containment test).
LEAK_SHINGLE_SHARE = 0.8

_WORD = re.compile(r"[\w][\w'-]*")


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | {
        "also", "can", "may", "might", "one", "use", "used", "using", "via", "within", "per", "every", "many",
        "much", "always", "never", "however", "whether", "without", "across", "well", "like", "get", "make",
    }


STOPWORDS = _stopwords()


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def repeats_passage(query: str, passage_text: str, passage_title: str = "") -> bool:
    """True when ``query`` copies its passage: the data problem the doctor flags.

    Naming the passage's topic (its title) is fine; copying a sentence of its body, or most of a
    short passage, is not. The shingle tests match the doctor's ``query_contains_positive`` check
    on the embedded text (title and text).
    """
    # Leak checks split words the way the doctor does ("il-1beta" is two words), so both agree.
    q, p = text_words(query), text_words(passage_text)
    if not q or not p:
        return False
    full = text_words(f"{passage_title} {passage_text}") if passage_title else p
    q_shingles, full_shingles = shingles(q), shingles(full)
    if len(q_shingles & full_shingles) >= LEAK_SHINGLE_SHARE * len(full_shingles):
        return True  # the query holds (nearly) the whole passage
    if len(q) >= LEAK_RUN:
        grams = {tuple(p[i : i + LEAK_RUN]) for i in range(len(p) - LEAK_RUN + 1)}
        if any(tuple(q[i : i + LEAK_RUN]) in grams for i in range(len(q) - LEAK_RUN + 1)):
            return True
        if len(q_shingles & full_shingles) >= LEAK_SHINGLE_SHARE * len(q_shingles):
            return True  # most of the query's word 3-shingles occur in the passage
    if len(q) >= LEAK_WHOLE_MIN_WORDS:
        n = len(q)
        return any(p[i : i + n] == q for i in range(len(p) - n + 1))
    return False


def names_title(query: str, title: str) -> bool:
    """True when the query contains the passage's whole title (of two words or more).

    Fine for training (visitors do search for a page's name) but an evaluation query that contains
    its answer's title measures title matching, not retrieval: such queries stay out of dev.
    """
    t = words(title)
    return len(t) >= 2 and f" {' '.join(t)} " in f" {' '.join(words(query))} "


def normalize_query(text: str) -> str:
    return " ".join(words(text))


def topic_of(doc: Document) -> str:
    """The passage's topic: its section heading (the part of the title after the page title)."""
    title = doc.title.strip()
    if " — " in title:
        title = title.rsplit(" — ", 1)[1].strip()
    return title


@dataclass(frozen=True)
class GeneratedQuery:
    text: str
    passage_id: str
    generator: str
    #: the training positive when it is not the whole passage (cloze: the passage without the query
    #: sentence; titles: the passage without its title), else None
    positive: str | None = None


class QueryGenerator(Protocol):
    """Writes candidate queries for one passage; ``prepare`` sees the whole site first.

    ``generate`` returns query texts, or ``(query, positive)`` tuples when the query was cut out of
    the passage and the training positive must be what is left (never the query's own words).
    """

    name: str

    def prepare(self, passages: Sequence[Document]) -> None: ...

    def generate(self, passage: Document, rng: random.Random) -> list[str | tuple[str, str]]: ...


class TemplateQueries:
    """The seed templates users know, about the passage's topic (never its text)."""

    name = "templates"
    TEMPLATES = ("Summarize {topic}", "Explain {topic}", "Key points about {topic}", "In simple terms: {topic}")

    def prepare(self, passages: Sequence[Document]) -> None:
        self._keywords = KeywordQueries()
        self._keywords.prepare(passages)

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        topic = topic_of(passage)
        if not topic:
            terms = self._keywords.salient_terms(passage, 3)
            topic = " ".join(terms)
        if not topic:
            return []
        return [template.format(topic=_lower_first(topic)) for template in self.TEMPLATES]


_PRONOUNS = {"your": "my", "you": "I", "yours": "mine", "yourself": "myself"}
_DEFINITION = re.compile(
    r"^(?:(?:an?|the)\s+)?(?P<subject>[\w][\w'-]*(?:\s+[\w][\w'-]*){0,4}?)\s+"
    r"(?P<verb>is|are|means|refers to)\s+(?:an?|the|when|how|what|where|your|our)\b",
    re.IGNORECASE,
)
_TO_DO = re.compile(r"^to\s+(?P<task>[^,]{3,80}?),\s", re.IGNORECASE)
_YOU_CAN = re.compile(r"^you\s+can(?:not|'t)?\s+(?P<task>[^.;:]{3,80})", re.IGNORECASE)
_BECAUSE = re.compile(r"^(?P<effect>[^,;:]{8,90}?)\s+(?:because|since|due to)\s", re.IGNORECASE)
_NOT_SUBJECTS = frozenset(
    {"this", "that", "these", "those", "it", "there", "here", "which", "what", "who", "he", "she", "they", "we",
     "you", "i", "its", "our", "their", "each", "all", "result", "results", "aim", "purpose", "goal"}
)
_NUMBERING = re.compile(r"^(?:(?:step|part|chapter)\s+)?(?:\d+|[ivx]+|[a-z])[.):]\s+", re.IGNORECASE)
_IMPERATIVES = frozenset(
    "add back bring change check choose connect create delete disable download edit enable export find get import "
    "install invite keep link manage move open organize pick print publish recover remove rename reset restore "
    "search send set share sign start stop switch sync tag turn undo update upgrade upload use write".split()
)
_QUESTION_WORDS = ("how", "what", "why", "when", "where", "which", "who", "can", "is", "are", "do", "does", "should")


def _lower_first(text: str) -> str:
    """Lower-case a leading function word or gerund ("The app", "Exporting notes"), keep names ("Inkpad")."""
    first = text.split()[0] if text.split() else ""
    if len(first) > 1 and first[0].isupper() and first[1:].islower() and (
        first.lower() in STOPWORDS or first.lower().endswith("ing")
    ):
        return text[0].lower() + text[1:]
    return text


def _second_person_to_first(text: str) -> str:
    return " ".join(_PRONOUNS.get(w.lower(), w) for w in text.split())


class HeadingQuestions:
    """Questions from the passage's heading and from definitional or how-to sentences."""

    name = "headings"

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def from_heading(self, heading: str, rng: random.Random) -> list[str]:
        heading = _NUMBERING.sub("", heading.strip()).rstrip(":.").strip()
        if not heading or len(heading.split()) > 14 or heading.lower() in STOPWORDS:
            return []
        first = heading.split()[0].lower()
        lowered = _lower_first(heading)
        if heading.endswith("?"):
            return [heading]
        if first in _QUESTION_WORDS:
            if lowered.lower().startswith("how to "):
                return [f"How do I {_second_person_to_first(heading[7:])}?"]
            return [heading + "?"]
        if first in _IMPERATIVES:  # "Bring your old notes" → "How do I bring my old notes?"
            return [f"How do I {_second_person_to_first(heading[0].lower() + heading[1:])}?"]
        if first.endswith("ing") and len(first) > 4:
            forms = (f"How does {lowered} work?", f"Help with {lowered}", f"What do I need to know about {lowered}?")
        else:
            last = heading.split()[-1].lower()
            verb = "are" if last.endswith("s") and not last.endswith(("ss", "us", "is")) else "is"
            forms = (f"What {verb} {lowered}?", f"Tell me about {lowered}", f"What should I know about {lowered}?")
        return [rng.choice(forms)]

    def from_sentences(self, text: str) -> list[str]:
        questions = []
        for sentence in split_sentences(" ".join(text.split())):
            sentence = sentence.lstrip("-*# ").strip()
            if match := _DEFINITION.match(sentence):
                subject = match.group("subject").strip()
                if subject.split()[0].lower() not in _NOT_SUBJECTS and not subject.isdigit():
                    verb = "are" if match.group("verb").lower() == "are" else "is"
                    questions.append(f"What {verb} {_lower_first(subject)}?")
            if match := _TO_DO.match(sentence):
                questions.append(f"How do I {_second_person_to_first(match.group('task').strip())}?")
            if match := _YOU_CAN.match(sentence):
                task = " ".join(match.group("task").split()[:10])
                questions.append(f"Can I {_second_person_to_first(task)}?")
            if match := _BECAUSE.match(sentence):
                effect = match.group("effect").strip()
                if effect.split()[0].lower() not in _NOT_SUBJECTS:
                    questions.append(f"Why {_lower_first(_second_person_to_first(effect))}?")
        return questions

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        questions = self.from_heading(topic_of(passage), rng)
        found = self.from_sentences(passage.text)
        rng.shuffle(found)
        return questions + found


class KeywordQueries:
    """Two to four salient terms of the passage (TF-IDF over the site), in the order the text uses them."""

    name = "keywords"

    def __init__(self, max_terms: int = 8) -> None:
        self.max_terms = max_terms
        self.idf: dict[str, float] = {}

    @staticmethod
    def _terms(text: str) -> list[str]:
        return [w for w in words(text) if len(w) > 2 and w not in STOPWORDS and not w.isdigit()]

    def prepare(self, passages: Sequence[Document]) -> None:
        df: Counter[str] = Counter()
        for doc in passages:
            df.update(set(self._terms(doc.full_text)))
        n = max(len(passages), 1)
        self.idf = {term: math.log((n + 1) / (count + 0.5)) for term, count in df.items()}

    def salient_terms(self, passage: Document, k: int) -> list[str]:
        tf = Counter(self._terms(passage.full_text))
        if not tf:
            return []
        default_idf = max(self.idf.values(), default=1.0)
        scored = sorted(tf, key=lambda t: (-(1 + math.log(tf[t])) * self.idf.get(t, default_idf), t))
        return scored[:k]

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        top = self.salient_terms(passage, self.max_terms)
        if len(top) < 2:
            return []
        order = {t: i for i, t in enumerate(dict.fromkeys(self._terms(passage.full_text)))}
        queries = []
        for _ in range(3):
            size = rng.randint(2, min(4, len(top)))
            picked = rng.sample(top, size)
            queries.append(" ".join(sorted(picked, key=order.__getitem__)))
        return queries


class SentenceFragments:
    """Partial sentences: a 5–12 word window of a sentence, most function words dropped."""

    name = "sentences"

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        sentences = [s for s in split_sentences(" ".join(passage.text.split())) if len(s.split()) >= 6]
        rng.shuffle(sentences)
        queries = []
        for sentence in sentences[:3]:
            tokens = [t.strip(".,;:()[]\"'") for t in sentence.split()]
            tokens = [t for t in tokens if t and t not in ("-", "*", "#")]
            size = min(len(tokens), rng.randint(6, 12))
            start = rng.randint(0, len(tokens) - size)
            window = tokens[start : start + size]
            kept = [t for t in window if t.lower() not in STOPWORDS or rng.random() < 0.25]
            if len([t for t in kept if t.lower() not in STOPWORDS]) >= 3:
                queries.append(" ".join(kept))
        return queries


class TitleQueries:
    """The passage's own title as a query for its text (the title → abstract pairs of S2ORC/SPECTER).

    Only descriptive titles (at least ``min_words`` words: "Open access increases citation rate", not
    "Installation") are used, and the positive is the passage text without the title, so the model
    learns to match a statement to the body that supports it.
    """

    name = "titles"

    def __init__(self, min_words: int = 4) -> None:
        self.min_words = min_words

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def generate(self, passage: Document, rng: random.Random) -> list[str | tuple[str, str]]:
        topic = topic_of(passage).rstrip(" .:")
        if len(topic.split()) < self.min_words or not passage.text.strip():
            return []
        return [(topic, passage.text)]


class ClozeQueries:
    """Inverse Cloze Task (Lee et al., ACL 2019): one sentence of the passage as the query, the rest as positive.

    The passage's last sentence (where abstracts and help pages state their finding or answer) and one
    random other sentence of at least ``min_words`` words are taken; each is removed from the positive,
    so the query never appears in the text it is trained to match. Passages with fewer than three
    sentences are skipped (too little context is left).
    """

    name = "cloze"

    def __init__(self, per_passage: int = 2, min_words: int = 6) -> None:
        self.per_passage = per_passage
        self.min_words = min_words

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def generate(self, passage: Document, rng: random.Random) -> list[str | tuple[str, str]]:
        sentences = split_sentences(" ".join(passage.text.split()))
        if len(sentences) < 3:
            return []
        usable = [i for i, s in enumerate(sentences) if len(s.split()) >= self.min_words]
        if not usable:
            return []
        picked = [usable[-1]]
        others = usable[:-1]
        rng.shuffle(others)
        picked += others[: self.per_passage - 1]
        out: list[str | tuple[str, str]] = []
        for i in picked:
            rest = " ".join(sentences[:i] + sentences[i + 1 :])
            positive = f"{passage.title} {rest}".strip() if passage.title else rest
            out.append((sentences[i], positive))
        return out


class LLMQueries:
    """Questions from an OpenAI-compatible chat endpoint (``POST {url}/chat/completions``).

    The API key, when the endpoint needs one, is read from ``EMBEDTUNE_LLM_API_KEY`` or
    ``OPENAI_API_KEY``. An endpoint that cannot be reached or answers with an HTTP error stops the
    build with a clear message; a single unusable answer only loses that passage's questions.
    """

    name = "llm"
    PROMPT = (
        "Here is a passage from a website:\n\n{passage}\n\n"
        "Write {n} different questions a visitor might type into this site's search box that this passage "
        "answers. Use the visitor's own words, do not copy sentences from the passage. One question per line, "
        "no numbering."
    )

    def __init__(self, url: str, model: str, n: int = 3, timeout: float = 60.0, max_chars: int = 3000) -> None:
        url = url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else f"{url}/chat/completions"
        self.model = model
        self.n = n
        self.timeout = timeout
        self.max_chars = max_chars
        self.failures = 0
        self._client = None

    def prepare(self, passages: Sequence[Document]) -> None:
        import httpx

        key = os.environ.get("EMBEDTUNE_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=self.timeout, headers=headers)

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        import httpx

        if self._client is None:
            self.prepare([])
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.PROMPT.format(passage=passage.full_text[: self.max_chars], n=self.n)}],
            "temperature": 0.7,
            "seed": rng.randrange(2**31),
        }
        try:
            response = self._client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise EmbedtuneError(f"LLM endpoint {self.url} unreachable: {exc} (check --llm-url)") from None
        if response.status_code >= 400:
            raise EmbedtuneError(
                f"LLM endpoint {self.url} answered HTTP {response.status_code}: {response.text[:200]} "
                "(check --llm-url, --llm-model and the API key in EMBEDTUNE_LLM_API_KEY)"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            self.failures += 1
            log.warning("LLM endpoint gave an unusable answer for passage %s", passage.id)
            return []
        lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"') for line in str(content).splitlines()]
        return [line for line in lines if len(line.split()) >= 2][: self.n]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def make_generators(
    names: Iterable[str], llm_url: str | None = None, llm_model: str | None = None
) -> list[QueryGenerator]:
    """Build the named generators (in :data:`GENERATOR_NAMES` order); ``llm`` needs url and model."""
    names = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in names if n not in GENERATOR_NAMES]
    if unknown:
        raise EmbedtuneError(f"unknown query generator(s) {', '.join(unknown)} (choose from {', '.join(GENERATOR_NAMES)})")
    if llm_url and "llm" not in names:
        names.append("llm")
    if not names:
        raise EmbedtuneError("no query generators selected")
    generators: list[QueryGenerator] = []
    for name in GENERATOR_NAMES:
        if name not in names:
            continue
        if name == "llm":
            if not llm_url or not llm_model:
                raise EmbedtuneError("the llm generator needs --llm-url and --llm-model")
            generators.append(LLMQueries(llm_url, llm_model))
        else:
            generators.append({"templates": TemplateQueries, "headings": HeadingQuestions,
                               "keywords": KeywordQueries, "sentences": SentenceFragments,
                               "titles": TitleQueries, "cloze": ClozeQueries}[name]())
    return generators


@dataclass
class GenerationStats:
    """Per generator: candidates written, dropped for repeating the passage, duplicates, kept."""

    generated: Counter[str] = field(default_factory=Counter)
    repeats_passage: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        names = sorted(set(self.generated) | set(self.kept))
        return {
            name: {
                "generated": self.generated[name],
                "dropped_repeats_passage": self.repeats_passage[name],
                "dropped_duplicates": self.duplicates[name],
                "kept": self.kept[name],
            }
            for name in names
        }


def generate_queries(
    passages: Sequence[Document],
    generators: Sequence[QueryGenerator],
    max_per_passage: int = DEFAULT_MAX_QUERIES_PER_PASSAGE,
    seed: int = 42,
    progress: bool = False,
) -> tuple[dict[str, list[GeneratedQuery]], GenerationStats]:
    """Queries for every passage: generated, filtered, deduplicated across the site and capped.

    Deterministic for a given ``seed``: each passage draws from its own random stream, so adding a
    page does not change the queries of the others.
    """
    from tqdm.auto import tqdm

    stats = GenerationStats()
    for generator in generators:
        generator.prepare(passages)
    candidates: dict[str, list[GeneratedQuery]] = {}
    owners: defaultdict[str, set[str]] = defaultdict(set)
    for doc in tqdm(passages, desc="queries", unit="passage", disable=not progress):
        rng = random.Random(f"{seed}:{doc.id}")
        per_generator: list[list[GeneratedQuery]] = []
        seen: set[str] = set()
        for generator in generators:
            mine = []
            for item in generator.generate(doc, rng):
                text, positive = item if isinstance(item, tuple) else (item, None)
                text = " ".join(text.split())
                key = normalize_query(text)
                stats.generated[generator.name] += 1
                if not key:
                    continue
                if positive is not None and not positive.strip():
                    continue
                if (
                    repeats_passage(text, positive, "")
                    if positive is not None
                    else repeats_passage(text, doc.text, doc.title)
                ):
                    stats.repeats_passage[generator.name] += 1
                    continue
                if key in seen:
                    stats.duplicates[generator.name] += 1
                    continue
                seen.add(key)
                owners[key].add(doc.id)
                mine.append(GeneratedQuery(text, doc.id, generator.name, positive))
            per_generator.append(mine)
        # Generators take turns in a per-passage random order, so a small cap is shared fairly.
        rng.shuffle(per_generator)
        candidates[doc.id] = _round_robin(per_generator)
    for generator in generators:
        if isinstance(generator, LLMQueries):
            generator.close()
    result: dict[str, list[GeneratedQuery]] = {}
    for doc_id, queries in candidates.items():
        unique = []
        for query in queries:
            if len(owners[normalize_query(query.text)]) > 1:
                stats.duplicates[query.generator] += 1
                continue
            unique.append(query)
        result[doc_id] = unique[:max_per_passage]
        for query in result[doc_id]:
            stats.kept[query.generator] += 1
    return result, stats


def _round_robin(lists: list[list[GeneratedQuery]]) -> list[GeneratedQuery]:
    out: list[GeneratedQuery] = []
    for i in range(max((len(lst) for lst in lists), default=0)):
        out.extend(lst[i] for lst in lists if i < len(lst))
    return out
