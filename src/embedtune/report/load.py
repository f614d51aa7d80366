"""Read a run folder (a ``train`` output or an ``eval --output`` folder) into typed records.

Every input is optional: what is missing becomes ``None`` plus one line in :attr:`RunData.missing`
that the report shows in place of the section, so a partial folder still gets a report.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from embedtune.config import read_yaml
from embedtune.data.records import Document
from embedtune.errors import DataError, EmbedtuneError
from embedtune.eval.schema import EvalReport
from embedtune.fileio import iter_jsonl, iter_tsv

logger = logging.getLogger(__name__)

#: Token-length histograms tokenize at most this many texts per column (a seeded sample).
MAX_TOKENIZED = 2000


#: The content of ``eval.json`` (written by evaluation, read here): :class:`embedtune.eval.schema.EvalReport`.
EvalSummary = EvalReport


@dataclass(frozen=True)
class QueryResult:
    """One line of ``per_query.jsonl``: a query (or user), its relevant ids and each system's metrics."""

    query_id: str
    query: str
    relevant: tuple[str, ...]
    metrics: dict[str, dict[str, float]]


@dataclass
class TrainLog:
    """What ``train_log.json`` says about the optimisation."""

    loss_steps: list[int]
    losses: list[float]
    loss_epochs: list[float]
    epoch_losses: list[float]
    chance_loss: float | None
    dev_history: list[dict[str, float]]
    learned_nothing: bool
    n_pairs: int | None
    pairs_per_second: float | None
    train_seconds: float | None
    best_checkpoint: str | None


@dataclass
class TokenLengths:
    """Token counts of (a sample of) the training anchors and positives, and the truncation point."""

    anchors: list[int]
    positives: list[int]
    max_seq_length: int
    n_pairs: int
    sampled: bool


@dataclass
class RunData:
    """Everything the report draws from one run folder; ``None`` where an input is missing."""

    name: str
    eval: EvalSummary | None = None
    per_query: list[QueryResult] = field(default_factory=list)
    runs: dict[str, dict[str, list[tuple[str, float]]]] = field(default_factory=dict)
    train_log: TrainLog | None = None
    doctor: Any = None  # embedtune.doctor.DoctorReport
    config: dict[str, Any] | None = None
    token_lengths: TokenLengths | None = None
    missing: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None

    @property
    def is_training_run(self) -> bool:
        return self.train_log is not None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(path, "not valid UTF-8", hint="re-save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON ({exc.msg})", exc.lineno) from None
    if not isinstance(obj, dict):
        raise DataError(path, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def read_eval_summary(path: Path) -> EvalReport:
    """Parse ``eval.json``; a bad or missing field names the file instead of raising a bare error."""
    obj = _read_json(path)
    try:
        return EvalReport.model_validate(obj)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'eval'}: {e['msg']}" for e in exc.errors()[:5])
        raise DataError(path, f"not an embedtune eval.json (bad or missing field: {problems})") from None


def read_per_query(path: Path) -> list[QueryResult]:
    out = []
    for line, obj in iter_jsonl(path):
        try:
            out.append(
                QueryResult(
                    query_id=str(obj["query_id"]),
                    query=str(obj.get("query", "")),
                    relevant=tuple(str(r) for r in obj.get("relevant", [])),
                    metrics={str(s): {m: float(v) for m, v in ms.items()} for s, ms in obj["metrics"].items()},
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(path, f"expected query_id, query, relevant and metrics ({exc})", line) from None
    return out


def read_trec_run(path: Path) -> dict[str, list[tuple[str, float]]]:
    """A TREC run file (``qid Q0 docid rank score tag``) as ranked ``(doc_id, score)`` lists per query."""
    rows: dict[str, list[tuple[int, str, float]]] = {}
    for line, fields in iter_tsv(path):
        parts = fields[0].split() if len(fields) == 1 else [p for f in fields for p in f.split()]
        if len(parts) < 5:
            raise DataError(path, "expected 'qid Q0 docid rank score [tag]'", line)
        try:
            rows.setdefault(parts[0], []).append((int(parts[3]), parts[2], float(parts[4])))
        except ValueError:
            raise DataError(path, "rank must be an integer and score a number", line) from None
    return {qid: [(doc, score) for _, doc, score in sorted(items)] for qid, items in rows.items()}


def read_train_log(path: Path) -> TrainLog:
    obj = _read_json(path)
    steps, losses, epochs = [], [], []
    for entry in obj.get("log_history", []):
        if isinstance(entry, dict) and "loss" in entry and "step" in entry:
            steps.append(int(entry["step"]))
            losses.append(float(entry["loss"]))
            epochs.append(float(entry.get("epoch", 0.0)))
    dev_history = [
        {str(k): float(v) for k, v in row.items() if isinstance(v, int | float)}
        for row in obj.get("dev_history", [])
        if isinstance(row, dict)
    ]
    chance = obj.get("chance_loss")
    return TrainLog(
        loss_steps=steps,
        losses=losses,
        loss_epochs=epochs,
        epoch_losses=[float(v) for v in obj.get("epoch_losses", [])],
        chance_loss=float(chance) if chance is not None else None,
        dev_history=dev_history,
        learned_nothing=bool(obj.get("learned_nothing", False)),
        n_pairs=obj.get("n_pairs"),
        pairs_per_second=obj.get("pairs_per_second"),
        train_seconds=obj.get("train_seconds"),
        best_checkpoint=obj.get("best_checkpoint"),
    )


def resolve_data_path(recorded: str | Path, run_dir: Path) -> Path | None:
    """Find a data path recorded in a run (relative to where the command ran, or to the run folder)."""
    if not str(recorded):
        return None
    path = Path(recorded)
    candidates = [path] if path.is_absolute() else [path, run_dir / path, run_dir.parent / path]
    return next((c for c in candidates if c.exists()), None)


def read_documents(corpus_path: Path, wanted: set[str]) -> dict[str, Document]:
    """Only the documents in ``wanted`` from a ``corpus.jsonl`` (streamed: corpora can be large)."""
    docs: dict[str, Document] = {}
    for _, obj in iter_jsonl(corpus_path):
        doc_id = str(obj.get("_id", ""))
        if doc_id in wanted:
            extra = {k: v for k, v in obj.items() if k not in ("_id", "title", "text")}
            docs[doc_id] = Document(id=doc_id, text=str(obj.get("text", "")), title=str(obj.get("title", "")),
                                    metadata=extra)
            if len(docs) == len(wanted):
                break
    return docs


def token_lengths(run_dir: Path, config: dict[str, Any]) -> TokenLengths:
    """Token counts of a seeded sample of the training pairs, with the run's own tokenizer."""
    from embedtune.base_model import load_tokenizer
    from embedtune.data.pairs import load_training_pairs

    data = config.get("data") or []
    if not data:
        raise EmbedtuneError("config.yaml names no training data")
    data_path = resolve_data_path(data[0], run_dir)
    if data_path is None:
        raise EmbedtuneError(f"training data {data[0]} is not reachable from here")
    pairs = load_training_pairs(data_path)
    sampled = len(pairs) > MAX_TOKENIZED
    if sampled:
        pairs = random.Random(0).sample(pairs, MAX_TOKENIZED)
    tokenizer = load_tokenizer(run_dir)

    def count(texts: list[str]) -> list[int]:
        ids = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(i) for i in ids]

    return TokenLengths(
        anchors=count([p.anchor for p in pairs]),
        positives=count([p.positive for p in pairs]),
        max_seq_length=int(config.get("max_seq_length") or 256),
        n_pairs=len(pairs),
        sampled=sampled,
    )


def load_run(run_dir: str | Path, *, with_token_lengths: bool = True) -> RunData:
    """Read every report input found in ``run_dir``; raise only when there is nothing to report on."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EmbedtuneError(f"{run_dir}: no such run folder")
    run = RunData(name=run_dir.resolve().name)
    eval_path = run_dir / "eval.json"
    if eval_path.is_file():
        run.eval = read_eval_summary(eval_path)
    else:
        run.missing["eval"] = "no eval.json in this folder: the run was not evaluated on a held-out split."
    if (run_dir / "per_query.jsonl").is_file():
        run.per_query = read_per_query(run_dir / "per_query.jsonl")
    else:
        run.missing["per_query"] = "no per_query.jsonl: per-query wins and losses cannot be shown."
    runs_dir = run_dir / "runs"
    if runs_dir.is_dir():
        for path in sorted(runs_dir.glob("*.trec")):
            run.runs[path.stem] = read_trec_run(path)
    if not run.runs:
        run.missing["runs"] = "no runs/*.trec rankings: metric@k curves and examples cannot be drawn."
    if (run_dir / "train_log.json").is_file():
        run.train_log = read_train_log(run_dir / "train_log.json")
    else:
        run.missing["train_log"] = "no train_log.json: this folder is an evaluation only, not a training run."
    if (run_dir / "doctor.json").is_file():
        from embedtune.doctor import DoctorReport

        run.doctor = DoctorReport.from_dict(_read_json(run_dir / "doctor.json"))
    else:
        run.missing["doctor"] = "no doctor.json: the data doctor's findings are written by training runs only."
    if (run_dir / "config.yaml").is_file():
        run.config = read_yaml(run_dir / "config.yaml")
    if run.eval is None and run.train_log is None:
        raise EmbedtuneError(
            f"{run_dir} has neither eval.json nor train_log.json: pass a folder written by `embedtune train` "
            "or `embedtune eval --output`"
        )
    if run.eval is not None:
        run.data_dir = resolve_data_path(run.eval.data, run_dir)
        if run.data_dir is None or not (run.data_dir / "corpus.jsonl").is_file():
            run.missing["corpus"] = (
                f"the data folder {run.eval.data!r} named in eval.json is not reachable from here: "
                "examples show document ids only."
            )
            run.data_dir = None
    if with_token_lengths:
        if run.config is None:
            run.missing["token_lengths"] = "no config.yaml: token lengths of the training pairs are not known."
        else:
            try:
                run.token_lengths = token_lengths(run_dir, run.config)
            except (EmbedtuneError, OSError, ValueError) as exc:
                run.missing["token_lengths"] = f"token lengths not measured: {exc}"
    return run
