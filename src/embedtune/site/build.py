"""SOURCE → DATA_DIR: the whole site pipeline, written atomically in BEIR layout.

``read pages → extract main text → chunk by section → merge duplicates → generate queries →
split by passage → write``. The output folder holds ``corpus.jsonl`` (passages with ``url``,
``urls``, ``title``), ``queries.jsonl``, ``qrels/train.tsv``, ``qrels/dev.tsv``, ``qrels/test.tsv``
(only with real questions: ``--questions`` or ``--search-log``), ``pairs.jsonl`` (the training pairs)
and ``embedtune.json`` (kind ``site``, the generators, counts, a summary of every skipped page, and
``query_origin``: which splits hold generated queries and which real ones — evaluation reads it, since a
score on generated queries is no evidence that visitors' searches improve; with ``real_train_fraction`` /
``real_dev_fraction`` the real questions are split by question and train and dev are real too). It is written to a
temporary folder and renamed into place, so a failed build leaves nothing behind.

Example::

    from embedtune.site import SiteBuildOptions, build_site_dataset

    report = build_site_dataset("public/", "data/site", SiteBuildOptions(questions="questions.jsonl"))
    print(report.manifest["counts"])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from embedtune.base_model import DEFAULT_BASE_MODEL
from embedtune.data.beir import read_corpus, write_beir_files
from embedtune.data.origin import GENERATED, HOW_TO_ADD_REAL_QUESTIONS, MIN_REAL_QUESTIONS, REAL
from embedtune.data.pairs import write_pairs
from embedtune.data.records import Document
from embedtune.errors import EmbedtuneError
from embedtune.fileio import atomic_dir, check_output_dir
from embedtune.site import crawl, queries, split
from embedtune.site.chunk import DEFAULT_MAX_TOKENS, chunk_document, chunk_page, load_token_counter
from embedtune.site.dedupe import DEFAULT_NEAR_DUPLICATE_THRESHOLD, dedupe_passages
from embedtune.site.extract import extract_page
from embedtune.site.queries import DEFAULT_GENERATORS
from embedtune.site.searchlog import read_search_log
from embedtune.site.sources import DEFAULT_MAX_PAGE_BYTES, Page, SkipLog, read_folder, read_sitemap

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Written to ``embedtune.json`` → ``recommended_training``; ``embedtune train`` applies what the user leaves
#: unset (:mod:`embedtune.data.recommended`): a mined hard negative, weights merged 0.5 with the base model.
#: Without them ``headings,keywords,sentences`` lost ~2 points of NDCG@10 to the base model on SciFact's real
#: claims; with them they do not (the default generators: :data:`embedtune.site.queries.DEFAULT_GENERATORS`).
RECOMMENDED_TRAINING = {"hard_negatives": 1, "merge_base": 0.5}
#: With this many real questions, all of them in test, the build suggests splitting them (train, dev and test).
SPLIT_QUESTIONS_FROM = 10 * MIN_REAL_QUESTIONS
#: The shares it suggests (train, dev): those measured on SciFact as a site (docs/benchmarks.md "(6)").
SUGGESTED_QUESTION_FRACTIONS = (0.6, 0.1)


class SiteBuildOptions(BaseModel):
    """Every knob of ``embedtune site build``, with its default written down once."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="crawl this running site (or re-root a folder's/sitemap's URLs on it)")
    max_pages: int = Field(crawl.DEFAULT_MAX_PAGES, ge=1, description="pages to read at most")
    max_depth: int = Field(crawl.DEFAULT_MAX_DEPTH, ge=0, description="link depth from the start URL (crawl)")
    rate: float = Field(
        crawl.DEFAULT_RATE, gt=0, description="requests per second (crawl; robots.txt Crawl-delay wins if slower)"
    )
    timeout: float = Field(crawl.DEFAULT_TIMEOUT, gt=0, description="seconds per request (crawl)")
    max_page_bytes: int = Field(DEFAULT_MAX_PAGE_BYTES, ge=1024, description="larger pages are skipped")
    follow_links: bool = Field(False, description="read symbolic links that lead out of the source folder")
    base_model: str = Field(DEFAULT_BASE_MODEL, description="model whose tokenizer measures passage length")
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=32, le=8192, description="passage length limit, title included")
    dedupe: bool = Field(True, description="merge exact and near-duplicate passages (pages only)")
    near_duplicate_threshold: float = Field(
        DEFAULT_NEAR_DUPLICATE_THRESHOLD, gt=0, le=1,
        description="passages whose word 3-shingles have at least this Jaccard similarity are near duplicates",
    )
    generators: list[str] = Field(list(DEFAULT_GENERATORS), description="query generators to run")
    max_queries_per_passage: int = Field(queries.DEFAULT_MAX_QUERIES_PER_PASSAGE, ge=1, description="cap on queries per passage")
    max_train_pairs: int | None = Field(None, ge=1, description="keep a random sample of this many training pairs")
    questions: Path | None = Field(
        None, description='real visitor questions, JSONL with "question", "url" (optional "anchor"): the test split'
    )
    search_log: Path | None = Field(
        None, description="search-log export (query + clicked URL or page id; CSV/TSV/JSONL): real questions for test"
    )
    real_train_fraction: float = Field(
        0.0, ge=0, lt=1, description="share of the real questions to train on (split by question; default: all are test)"
    )
    real_dev_fraction: float = Field(
        0.0, ge=0, lt=1, description="share of the real questions held out for dev (then dev holds only real questions)"
    )
    dev_fraction: float = Field(split.DEFAULT_DEV_FRACTION, ge=0, lt=1, description="share of passages held out for dev")
    max_dev_passages: int = Field(
        split.DEFAULT_MAX_DEV_PASSAGES, ge=0, description="at most this many dev passages (per-epoch evaluation cost)"
    )
    llm_url: str | None = Field(None, description="OpenAI-compatible endpoint for the llm generator")
    llm_model: str | None = Field(None, description="model name at llm_url")
    seed: int = Field(42, description="random seed (split, sampling, MinHash)")

    @model_validator(mode="after")
    def _questions_to_split(self) -> SiteBuildOptions:
        if self.real_train_fraction or self.real_dev_fraction:
            if self.real_train_fraction + self.real_dev_fraction >= 1:
                raise ValueError("real_train_fraction + real_dev_fraction must leave real questions for test (< 1)")
            if not (self.questions or self.search_log):
                raise ValueError("real_train_fraction / real_dev_fraction split real questions: give questions or "
                                 "search_log")
        return self

    @classmethod
    def checked(cls, **values: Any) -> SiteBuildOptions:
        """Validate options given by a user; a bad value raises :class:`EmbedtuneError`, not a traceback."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}" for err in exc.errors()
            )
            raise EmbedtuneError(f"invalid site build options: {problems}") from None


@dataclass
class SiteBuildReport:
    out_dir: Path
    manifest: dict[str, Any]

    def summary_lines(self) -> list[str]:
        """What the CLI prints: counts, query generators and skipped pages by reason."""
        m = self.manifest
        c = m["counts"]
        lines = [
            f"wrote {self.out_dir}",
            f"pages: {c['pages_read']} read, {c['pages_used']} with text; "
            f"passages: {c['passages']} ({c['duplicates_merged']['exact']} exact and "
            f"{c['duplicates_merged']['near']} near duplicates merged)",
            "queries: " + ", ".join(f"{split_name} {n}" for split_name, n in c["queries"].items())
            + f"; training pairs: {c['train_pairs']}"
            + (f" ({c['train_pairs_real']} from real questions)" if c.get("train_pairs_real") else ""),
        ]
        real = m.get("real_questions", {}).get("per_split") or {}
        if set(real) - {"test"}:
            lines.append("real questions split by question: " + ", ".join(f"{k} {v}" for k, v in real.items())
                         + " (no held-out question is trained on; the pages they find are)")
        in_train = m["queries_per_generator"].get("train", {})
        for name, stat in m["query_generation"].items():
            lines.append(
                f"  {name}: {in_train.get(name, 0)} training queries; {stat['generated']} generated, "
                f"{stat['dropped_repeats_passage']} dropped for repeating their passage, "
                f"{stat['dropped_duplicates']} as duplicates, {stat['kept']} within the per-passage cap"
            )
        skipped = m["skipped_pages"]
        if skipped["total"]:
            lines.append(f"skipped {skipped['total']} page(s):")
            lines += [f"  {n} × {reason}" for reason, n in skipped["by_reason"].items()]
        if m.get("unmatched_questions"):
            lines.append(f"questions with no matching page (lines): {m['unmatched_questions'][:20]}")
        if m.get("unmatched_search_log"):
            lines.append(f"search-log queries with no matching page (lines): {m['unmatched_search_log'][:20]}")
        n_real = c["queries"].get("test", 0)
        if n_real < MIN_REAL_QUESTIONS:
            lines.append(ask_for_real_questions(n_real, has_dev=c["queries"].get("dev", 0) > 0))
        elif n_real >= SPLIT_QUESTIONS_FROM and not set(real) - {"test"}:
            train, dev = SUGGESTED_QUESTION_FRACTIONS
            lines.append(
                f"{n_real} real questions, all in test: enough to train and choose on some of them too — "
                f"`--real-train-fraction {train:g} --real-dev-fraction {dev:g}` keeps "
                f"{n_real - sum(split.question_shares(n_real, train, dev))} for test (docs/site.md: on SciFact as a site with a search log, the model went from level with the base "
                "model to detectably above it)"
            )
        return lines


def ask_for_real_questions(n_real: int, has_dev: bool = True) -> str:
    """What to tell a user whose DATA_DIR has fewer than :data:`MIN_REAL_QUESTIONS` real questions."""
    if n_real == 0:
        scored = (
            "a model can only be scored on generated queries (dev), which share words with their passages and are no "
            "evidence that visitors' searches improve" if has_dev
            else "nothing in this DATA_DIR can tell whether a fine-tune helps (the generated queries are cut out of "
            "their passages, so none can judge one)"
        )
        return (
            f"NO REAL QUESTIONS: without a test split {scored}. Until real questions exist, serve the base model fused "
            f"with BM25 (base_hybrid: no training); {HOW_TO_ADD_REAL_QUESTIONS}."
        )
    return (
        f"only {n_real} real question(s) matched a page: a confidence interval on fewer than {MIN_REAL_QUESTIONS} "
        f"queries is too wide to tell small gains from noise; {HOW_TO_ADD_REAL_QUESTIONS}."
    )


def detect_source(source: str | Path | None, url: str | None) -> str:
    """``crawl``, ``sitemap``, ``corpus`` (BEIR ``corpus.jsonl``) or ``folder``."""
    if source is None:
        if not url:
            raise EmbedtuneError("give a SOURCE (folder, sitemap.xml or corpus.jsonl) or --url to crawl")
        return "crawl"
    text = str(source)
    if text.startswith(("http://", "https://")):
        return "crawl"
    path = Path(source)
    if not path.exists():
        raise EmbedtuneError(f"{path}: no such file or folder")
    if path.is_dir():
        return "corpus" if (path / "corpus.jsonl").is_file() and not any(path.glob("*.htm*")) else "folder"
    if path.suffix.lower() == ".xml":
        return "sitemap"
    if path.suffix.lower() == ".jsonl":
        return "corpus"
    raise EmbedtuneError(f"{path}: expected a folder of pages, a sitemap.xml, a corpus.jsonl or an http(s) URL")


def read_pages(source: str | Path | None, kind: str, options: SiteBuildOptions, skips: SkipLog,
               progress: bool) -> list[Page]:
    if kind == "crawl":
        start = options.url or str(source)
        limits = crawl.CrawlLimits(options.max_pages, options.max_depth, options.rate, options.timeout,
                                   options.max_page_bytes)
        return crawl.crawl_site(start, skips, limits, progress=progress)
    if kind == "sitemap":
        return read_sitemap(source, skips, options.url, options.max_pages, options.max_page_bytes)
    return read_folder(source, skips, options.url, options.max_pages, options.max_page_bytes, options.follow_links)


def _corpus_passages(source: Path, options: SiteBuildOptions, count) -> list[Document]:
    path = source / "corpus.jsonl" if source.is_dir() else source
    docs: list[Document] = []
    for doc in read_corpus(path).values():
        docs.extend(chunk_document(doc, options.max_tokens, count))
    return docs


def build_site_dataset(
    source: str | Path | None, out_dir: str | Path, options: SiteBuildOptions | None = None,
    progress: bool = False, overwrite: bool = False,
) -> SiteBuildReport:
    """Build a site dataset from ``source`` into ``out_dir`` (see the module docstring)."""
    from tqdm.auto import tqdm

    options = options or SiteBuildOptions()
    out_dir = check_output_dir(out_dir, overwrite=overwrite, producer="site")
    kind = detect_source(source, options.url)
    generators = queries.make_generators(options.generators, options.llm_url, options.llm_model)
    real_questions = split.read_questions(options.questions) if options.questions else []
    log_stats = None
    if options.search_log:
        seen = {queries.normalize_query(q.question) for q in real_questions}
        logged, log_stats = read_search_log(options.search_log)
        real_questions += [q for q in logged if queries.normalize_query(q.question) not in seen]
    count = load_token_counter(options.base_model)
    skips = SkipLog()
    exact = near = 0
    if kind == "corpus":
        passages = _corpus_passages(Path(source), options, count)
        pages_read = pages_used = len({d.id.split("#", 1)[0] for d in passages})
    else:
        pages = read_pages(source, kind, options, skips, progress)
        pages_read = len(pages)
        site_passages = []
        used = 0
        for i, page in enumerate(tqdm(pages, desc="extract", unit="page", disable=not progress), start=1):
            extracted = extract_page(page, skips)
            if extracted is None:
                continue
            used += 1
            site_passages.extend(chunk_page(extracted, options.max_tokens, count, id_prefix=f"p{i}"))
        pages_used = used
        if not site_passages:
            raise EmbedtuneError(
                f"{source or options.url}: no page with usable text ({skips.total} skipped: "
                + ", ".join(f"{n} {r}" for r, n in skips.reasons.most_common()) + ")"
            )
        if options.dedupe:
            site_passages, report = dedupe_passages(site_passages, options.near_duplicate_threshold, options.seed)
            exact, near = report.exact, report.near
        passages = [p.to_document() for p in site_passages]

    generated, stats = queries.generate_queries(
        passages, generators, options.max_queries_per_passage, options.seed, progress=progress
    )
    site_split = split.split_by_passage(
        passages, generated, options.dev_fraction, options.max_dev_passages, options.seed, real_questions,
        options.max_train_pairs, options.real_train_fraction, options.real_dev_fraction,
    )
    real_per_split = site_split.real_questions
    manifest = {
        "kind": "site",
        "schema_version": SCHEMA_VERSION,
        "source": str(source) if source is not None else options.url,
        "source_type": kind,
        "base_model": options.base_model,
        "max_tokens": options.max_tokens,
        "generators": [g.name for g in generators],
        "max_queries_per_passage": options.max_queries_per_passage,
        "seed": options.seed,
        "counts": {
            "pages_read": pages_read,
            "pages_used": pages_used,
            "passages": len(passages),
            "duplicates_merged": {"exact": exact, "near": near},
            "passages_per_split": site_split.passages_per_split,
            "queries": {name: len(judged) for name, judged in site_split.qrels.items()},
            "train_pairs": len(site_split.train_pairs),
            "train_pairs_real": site_split.real_train_pairs,
        },
        "query_generation": stats.as_dict(),
        "queries_per_generator": site_split.generator_counts,
        "skipped_pages": skips.summary(),
        "unmatched_questions": site_split.unmatched_questions,
        "unmatched_search_log": site_split.unmatched_search_log,
        # Which splits a score can be trusted on: "generated" queries come from the generators above.
        "query_origin": {name: REAL if name in real_per_split else GENERATED for name in site_split.qrels},
        "recommended_training": dict(RECOMMENDED_TRAINING),
        "real_questions": {
            "questions": str(options.questions) if options.questions else None,
            "search_log": {"path": str(options.search_log), **log_stats.as_dict()} if log_stats else None,
            "test_queries": len(site_split.qrels.get("test", {})),
            "per_split": real_per_split,
            "fractions": {"train": options.real_train_fraction, "dev": options.real_dev_fraction},
        },
    }
    if options.llm_url:
        manifest["llm"] = {"url": options.llm_url, "model": options.llm_model}
    with atomic_dir(out_dir) as tmp:
        write_beir_files(tmp, passages, site_split.queries, site_split.qrels, manifest)
        write_pairs(tmp / "pairs.jsonl", site_split.train_pairs)
    return SiteBuildReport(out_dir=out_dir, manifest=manifest)
