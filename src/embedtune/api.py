"""The library's front door: one function per job, taking paths or the objects the other calls return.

Everything here is a thin layer over the stage modules — it picks defaults, accepts a path or an object,
and calls the same code as the ``embedtune`` command, so a library run and a CLI run give the same
results. Import it as ``import embedtune`` (the names below are re-exported there, lazily, so
``import embedtune`` stays light).

Example (runnable from the repository root; it fine-tunes on the bundled help centre, a few minutes on a CPU)::

    import embedtune

    run = embedtune.train(data="src/embedtune/examples/helpcenter", output="runs/help", epochs=1)
    print(run.eval.verdict)                                   # model vs base vs BM25, 95% CIs

    report = embedtune.evaluate(run, "src/embedtune/examples/helpcenter", split="test")
    print(report.systems["hybrid"].metrics["ndcg@10"])

    index = embedtune.Index.build(run, "src/embedtune/examples/helpcenter", "runs/help-index")
    for hit in index.search("how do I get a refund?", k=3):
        print(round(hit.score, 3), hit.title)
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from embedtune.config import TrainConfig, load_train_config
from embedtune.errors import EmbedtuneError

__all__ = ["Index", "build_recsys", "build_site", "evaluate", "recommend", "train"]


def _model_path(model: Any) -> str | Path:
    """A model given as a name, a folder, or a run result (anything with an ``output`` folder)."""
    output = getattr(model, "output", None)
    return output if isinstance(output, str | Path) else model


def train(config: TrainConfig | str | Path | None = None, /, *, show_progress: bool = True, **settings: Any):
    """Fine-tune a bi-encoder and evaluate it against the baselines; returns a ``TrainResult``.

    ``config`` is a :class:`~embedtune.config.TrainConfig`, a YAML recipe path, or nothing; ``settings``
    are :class:`~embedtune.config.TrainConfig` fields (``data``, ``output``, ``epochs``, ``lr``, ...)
    that override it, exactly as ``embedtune train`` flags override a recipe.

    Example::

        run = embedtune.train(data="src/embedtune/examples/helpcenter", output="runs/help", epochs=1)
        print(run.eval.verdict, run.output)
    """
    from embedtune.training import train as run_training

    if isinstance(config, TrainConfig):
        cfg = config.model_copy(update=settings) if settings else config
        cfg = TrainConfig.model_validate(cfg.model_dump())  # validate the overrides too
    else:
        cfg = load_train_config(config, **settings)
    return run_training(cfg, show_progress=show_progress)


def evaluate(model: Any, data: str | Path, split: str = "test", *, output: str | Path | None = None,
             overwrite: bool = False, **options: Any):
    """Score ``model`` and its baselines on one split of a DATA_DIR; returns an ``EvalResult``.

    ``model`` is a model name (``all-MiniLM-L6-v2``), a model folder, a ``TrainResult`` or a loaded
    ``SentenceTransformer`` (saved to a temporary folder first, so its embeddings are cached by their
    weights like any model's). ``options`` go to :func:`embedtune.eval.evaluate` (``hybrid``,
    ``baselines``, ``n_resamples``, ...). With ``output``, ``eval.json``, ``eval.md``, the runs and the
    report are written there (as ``embedtune eval --output``).

    Example::

        result = embedtune.evaluate("all-MiniLM-L6-v2", "src/embedtune/examples/helpcenter")
        print(result.verdict)
    """
    from embedtune.eval import evaluate as run_evaluation
    from embedtune.eval import write_eval
    from embedtune.fileio import check_output_dir

    if output is not None:
        check_output_dir(output, overwrite=overwrite, producer="eval")
    with tempfile.TemporaryDirectory(prefix="embedtune-model-") as scratch:
        if hasattr(model, "encode") and hasattr(model, "save"):
            model.save(scratch)
            model = scratch
        result = run_evaluation(_model_path(model), data, split, **options)
    if output is not None:
        from embedtune.report import write_report

        write_eval(result, output)
        write_report(output)
    return result


class Index:
    """A searchable index folder with its encoder: build it, open it, search it by text, update it.

    Searches go through the same code as ``POST /search`` (:func:`embedtune.index.hybrid.search`), so
    ``mode`` is ``dense``, ``lexical`` or ``hybrid`` and the default is what the server would serve
    (hybrid when the model's ``fusion.json`` beat dense on dev).

    Example::

        index = embedtune.Index.build("all-MiniLM-L6-v2", "src/embedtune/examples/helpcenter", "runs/help-index")
        index = embedtune.Index.open("runs/help-index")
        hits = index.search("reset my password", k=5)           # SearchHit(id, score, title, text, metadata)
        index.add("more/corpus.jsonl"); index.delete(["doc-7"])
    """

    def __init__(self, path: str | Path, backend: str | None = None):
        from embedtune.index import VectorIndex

        self.path = Path(path)
        self._index = VectorIndex.load(self.path)
        self.backend = backend or self._index.manifest.backend
        self._encoder: Any = None

    @classmethod
    def open(cls, path: str | Path, backend: str | None = None) -> Index:
        """Open an index folder (``backend`` overrides the one it was built with)."""
        return cls(path, backend)

    @classmethod
    def build(cls, model: Any, corpus: str | Path, output: str | Path, *, overwrite: bool = False,
              show_progress: bool = False, **options: Any) -> Index:
        """Encode ``corpus`` (a ``corpus.jsonl`` or a DATA_DIR) with ``model`` into an index folder at
        ``output``; ``options`` are :func:`embedtune.index.build_index`'s (``ann``, ``dtype``, ``backend``)."""
        from embedtune.index import build_index
        from embedtune.recsys.stats import index_attachments

        model = _model_path(model)
        build_index(model, corpus, output, overwrite=overwrite, show_progress=show_progress,
                    attachments=index_attachments(corpus, model), **options)
        return cls(output)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from embedtune.encoders import load_encoder

            self._encoder = load_encoder(self._index.manifest.model, self.backend)
        return self._encoder

    @property
    def default_mode(self) -> str:
        """The mode a search without ``mode`` uses, as ``embedtune serve`` would choose it."""
        from embedtune.index.hybrid import choose_mode

        return choose_mode(self._index).default

    def __len__(self) -> int:
        return len(self._index)

    def search(self, query: str | Sequence[str], k: int = 10, *, mode: str | None = None,
               filters: Mapping[str, Any] | None = None) -> list:
        """The top ``k`` hits for ``query`` (a list of hits), or for each of several queries (a list of lists)."""
        from embedtune.index.hybrid import choose_mode, search

        single = isinstance(query, str)
        queries = [query] if single else list(query)
        if not queries or any(not q.strip() for q in queries):
            raise EmbedtuneError("give a non-empty query text")
        choice = choose_mode(self._index, mode)
        vectors = None if choice.default == "lexical" else self.encoder.encode(queries)
        hits = search(self._index, queries, vectors, k, choice.default, fusion=choice.fusion, filters=filters)
        return hits[0] if single else hits

    def add(self, corpus: str | Path) -> tuple[int, int]:
        """Upsert the documents of ``corpus``; returns ``(added, updated)``. The folder is saved, locked."""
        from embedtune.index import VectorIndex, add_to_index

        result = add_to_index(self.path, corpus, encoder=self.encoder, show_progress=False)
        self._index = VectorIndex.load(self.path)
        return result

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents by id; returns how many existed. The folder is saved, locked."""
        from embedtune.index import VectorIndex, delete_from_index

        n = delete_from_index(self.path, list(ids))
        self._index = VectorIndex.load(self.path)
        return n


def build_site(source: str | Path | None, output: str | Path, *, overwrite: bool = False,
               show_progress: bool = False, **options: Any):
    """Website (folder, sitemap, URL or BEIR corpus) → passages → training queries → a site DATA_DIR.

    ``options`` are :class:`~embedtune.site.build.SiteBuildOptions` fields (``url``, ``questions``,
    ``search_log``, ``generators``, ...). Returns the ``SiteBuildReport``.

    Example::

        report = embedtune.build_site("src/embedtune/examples/site", "runs/site-data",
                                      url="https://quillnote.example/",
                                      questions="src/embedtune/examples/site/questions.jsonl")
    """
    from embedtune.site.build import SiteBuildOptions, build_site_dataset

    return build_site_dataset(source, output, SiteBuildOptions(**options), progress=show_progress,
                              overwrite=overwrite)


def build_recsys(log: str | Path, items: str | Path, output: str | Path, *, users: str | Path | None = None,
                 overwrite: bool = False, show_progress: bool = False, **config: Any):
    """Interaction log + item catalog → user/item prompts → a leave-one-out recommendation DATA_DIR.

    ``config`` are :class:`~embedtune.recsys.config.RecsysConfig` fields. Returns the ``BuildReport``.

    Example::

        embedtune.build_recsys("runs/shop/raw/log.csv", "runs/shop/raw/items.csv", "runs/shop/data",
                               max_train_per_user=3)
    """
    from embedtune.recsys.build import build_recsys as run_build
    from embedtune.recsys.config import RecsysConfig

    return run_build(log, items, output, users_path=users, config=RecsysConfig(**config), overwrite=overwrite,
                     progress=show_progress)


def recommend(model: Any, data: str | Path, *, user: str | None = None, history: Sequence[str] | None = None,
              k: int = 10, mode: str | None = None, **options: Any) -> list:
    """Top ``k`` items for a known ``user`` of the DATA_DIR's log or for an ad-hoc ``history`` of item ids
    (history items are never recommended). Returns ``Recommendation(item_id, score, metadata)`` records.
    ``mode``: ``text``, ``cooccurrence`` or ``hybrid`` (default: hybrid when the model's ``fusion.json``
    says it beat the text tower on dev, else text; docs/recsys.md).

    Example::

        for rec in embedtune.recommend("runs/shop/model", "runs/shop/data", user="1", k=5, mode="hybrid"):
            print(rec.item_id, round(rec.score, 3))
    """
    from embedtune.recsys.recommend import Recommender

    if k < 1:
        raise EmbedtuneError("k must be at least 1")
    return Recommender(_model_path(model), data, **options).recommend(user_id=user, history=history, k=k, mode=mode)
