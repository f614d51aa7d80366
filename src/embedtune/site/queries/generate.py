"""Run the generators over a site: filter, deduplicate across passages, cap per passage."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from embedtune.data.records import Document
from embedtune.site.queries.base import GeneratedQuery, QueryGenerator, normalize_query, repeats_passage

DEFAULT_MAX_QUERIES_PER_PASSAGE = 4


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
        close = getattr(generator, "close", None)
        if close is not None:
            close()
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
