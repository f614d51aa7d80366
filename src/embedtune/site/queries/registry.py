"""The registry: every query generator by name, and the few that run by default."""

from __future__ import annotations

from collections.abc import Iterable

from embedtune.errors import EmbedtuneError
from embedtune.site.queries.base import QueryGenerator
from embedtune.site.queries.cloze import ClozeQueries
from embedtune.site.queries.headings import HeadingQuestions
from embedtune.site.queries.keywords import KeywordQueries
from embedtune.site.queries.llm import LLMQueries
from embedtune.site.queries.sentences import SentenceFragments
from embedtune.site.queries.templates import TemplateQueries
from embedtune.site.queries.titles import TitleQueries

#: Generators that need nothing but the passages, by name, in the order they run.
GENERATORS: dict[str, type[QueryGenerator]] = {
    cls.name: cls
    for cls in (TemplateQueries, HeadingQuestions, KeywordQueries, SentenceFragments, TitleQueries, ClozeQueries)
}
GENERATOR_NAMES = (*GENERATORS, LLMQueries.name)
#: ``site build``'s default, chosen on real questions of two corpora (docs/benchmarks.md, issue-13 section (3b)):
#: with the recommended training (a mined hard negative, merged 0.5 with the base model) these generators were
#: never detectably worse than the base model (SciFact corpus-only 0.6489 vs 0.6451, n.s.) and detectably
#: better on the bundled site's visitor questions (0.7886 vs 0.7232); ``titles,cloze`` scored 0.6527 (n.s.) and
#: 0.7424 (n.s.), the mix of all five 0.6494 (n.s.) and 0.7795.
DEFAULT_GENERATORS = ("headings", "keywords", "sentences")


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
            generators.append(GENERATORS[name]())
    return generators
