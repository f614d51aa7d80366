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
``titles``     a descriptive title as the query for the passage text without it.
``cloze``      one sentence as the query, the rest of the passage as its positive.
``llm``        questions a visitor would type, from an OpenAI-compatible chat endpoint
               (``--llm-url``/``--llm-model``); off by default, never contacted otherwise.
=============  ===========================================================================

One module per generator (``embedtune.site.queries.<name>``); :mod:`~.registry` maps names to them,
:mod:`~.base` holds the shared record and the leak check, :mod:`~.generate` runs them over a site.

Every query is checked against its passage's text: a query that repeats the passage (a run of
:data:`LEAK_RUN` words, or the whole query when it is a sentence-length span of the text) is dropped,
since a model learns nothing from matching a text with itself and the doctor flags such data. Queries
are deduplicated across the site (a query generated for two passages is ambiguous and dropped from
both) and capped per passage, taking generators in turn (in a random order per passage) so each keeps
a share.
"""

from embedtune.site.queries.base import (
    LEAK_RUN,
    LEAK_SHINGLE_SHARE,
    LEAK_WHOLE_MIN_WORDS,
    STOPWORDS,
    GeneratedQuery,
    QueryGenerator,
    names_title,
    normalize_query,
    repeats_passage,
    topic_of,
    words,
)
from embedtune.site.queries.cloze import ClozeQueries
from embedtune.site.queries.generate import DEFAULT_MAX_QUERIES_PER_PASSAGE, GenerationStats, generate_queries
from embedtune.site.queries.headings import HeadingQuestions
from embedtune.site.queries.keywords import KeywordQueries
from embedtune.site.queries.llm import LLMQueries
from embedtune.site.queries.registry import DEFAULT_GENERATORS, GENERATOR_NAMES, GENERATORS, make_generators
from embedtune.site.queries.sentences import SentenceFragments
from embedtune.site.queries.templates import TemplateQueries
from embedtune.site.queries.titles import TitleQueries

__all__ = [
    "DEFAULT_GENERATORS",
    "DEFAULT_MAX_QUERIES_PER_PASSAGE",
    "GENERATORS",
    "GENERATOR_NAMES",
    "LEAK_RUN",
    "LEAK_SHINGLE_SHARE",
    "LEAK_WHOLE_MIN_WORDS",
    "STOPWORDS",
    "ClozeQueries",
    "GeneratedQuery",
    "GenerationStats",
    "HeadingQuestions",
    "KeywordQueries",
    "LLMQueries",
    "QueryGenerator",
    "SentenceFragments",
    "TemplateQueries",
    "TitleQueries",
    "generate_queries",
    "make_generators",
    "names_title",
    "normalize_query",
    "repeats_passage",
    "topic_of",
    "words",
]
