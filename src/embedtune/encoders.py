"""Inference backends that turn texts into normalized embeddings: ``torch``, ``onnx``, ``onnx-int8``, ``openvino``.

``torch`` is stock :meth:`SentenceTransformer.encode`. ``onnx`` exports the whole
sentence-transformers pipeline (transformer + pooling + normalize) once with
``torch.onnx.export(..., dynamo=False)`` and serves it with onnxruntime + tokenizers only;
``onnx-int8`` is the same graph after ``onnxruntime.quantization.quantize_dynamic``. Both graphs are first
rewritten with onnxruntime's transformer fusions (attention, LayerNorm, GELU as single kernels). ``openvino``
compiles the same fp32 ONNX graph with the OpenVINO runtime, which on CPUs with bf16 units (AMX, AVX512-BF16)
computes in bf16 by default -- the fastest backend on this project's machines, with fp32-level agreement. Exports are
cached under ``$EMBEDTUNE_CACHE`` (default ``~/.cache/embedtune``), keyed by the model's weights.

A quantized model can change rankings even when cosines look close (see MEASUREMENTS.md), so
:func:`load_encoder` accepts the user's own texts and runs :func:`check_agreement` first: mean
cosine to the fp32 torch model must reach ``min_cosine`` (0.99) or it falls back to torch with a
warning; the top-10 overlap is measured and reported either way.

Example::

    from embedtune.encoders import load_encoder
    enc = load_encoder("all-MiniLM-L6-v2", backend="onnx-int8", check_texts=my_passages)
    vectors = enc.encode(["how do I reset my password?"])   # (1, 384) float32, unit length
    print(enc.backend, enc.agreement)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from embedtune.base_model import model_fingerprint, resolve_model_path
from embedtune.errors import EmbedtuneError
from embedtune.fileio import atomic_dir, cache_root

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8", "openvino"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8", "openvino")
DEFAULT_BACKEND: Backend = "torch"
DEFAULT_BATCH_SIZE = 32
MIN_AGREEMENT_COSINE = 0.99
AGREEMENT_SAMPLE = 256
ONNX_OPSET = 17
_EXPORT_FORMAT_VERSION = 3


class Encoder(Protocol):
    """Anything that maps texts to unit-length float32 vectors."""

    backend: str
    dim: int
    model_path: Path

    def encode(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE, show_progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class Agreement:
    """How closely a candidate backend reproduces the fp32 torch model on the user's texts."""

    backend: str
    n_texts: int
    mean_cosine: float
    min_cosine: float
    top10_overlap: float
    top1_same: float
    passed: bool
    threshold: float

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        verdict = "ok" if self.passed else f"below {self.threshold}"
        return (
            f"{self.backend} vs torch fp32 on {self.n_texts} of your texts: mean cosine {self.mean_cosine:.4f} "
            f"({verdict}), min {self.min_cosine:.4f}, top-10 overlap {self.top10_overlap:.3f}, "
            f"top-1 same {self.top1_same:.3f}"
        )


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class TorchEncoder:
    """Stock sentence-transformers encoding (the reference every other backend is checked against)."""

    backend = "torch"

    def __init__(self, model_path: str | Path, max_seq_length: int | None = None):
        from embedtune.base_model import load_model

        self.model_path = resolve_model_path(model_path)
        self.model = load_model(self.model_path, max_seq_length=max_seq_length, device="cpu")
        self.dim = int(self.model.get_embedding_dimension())
        self.agreement: Agreement | None = None

    @classmethod
    def from_model(cls, model, model_path: str | Path) -> TorchEncoder:
        """Wrap an already loaded SentenceTransformer (saves a reload)."""
        encoder = cls.__new__(cls)
        encoder.model_path = Path(model_path)
        encoder.model = model
        encoder.dim = int(model.get_embedding_dimension())
        encoder.agreement = None
        return encoder

    def encode(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class _ExportedEncoder:
    """Shared by the exported-graph backends: the fast tokenizer, length-sorted batches, padding, normalization.
    Subclasses load the graph in ``_load`` (setting ``input_names``) and run one padded batch in ``_infer``."""

    backend: str
    input_names: set[str]

    def __init__(self, model_path: str | Path, threads: int | None = None, cache_dir: str | Path | None = None):
        from tokenizers import Tokenizer

        self.model_path = resolve_model_path(model_path)
        export_dir = export_onnx(self.model_path, cache_dir=cache_dir)
        info = json.loads((export_dir / "export.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        self.max_seq_length = int(info["max_seq_length"])
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.no_padding()
        self.pad_id = int(info["pad_token_id"])
        self.dim = int(info["dim"])
        self.agreement: Agreement | None = None
        self._load(export_dir, threads or default_threads())

    def _load(self, export_dir: Path, threads: int) -> None:
        raise NotImplementedError

    def _infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        input_ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        attention = np.zeros((len(texts), width), dtype=np.int64)
        type_ids = np.zeros((len(texts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            input_ids[row, :n] = enc.ids
            attention[row, :n] = 1
            type_ids[row, :n] = enc.type_ids
        feeds = {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": type_ids}
        return self._infer({k: v for k, v in feeds.items() if k in self.input_names})

    def encode(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE, show_progress: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Same trick as SentenceTransformer.encode: longest first, so each batch pads little.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if show_progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"encode ({self.backend})", unit="batch")
        for start in starts:
            idx = order[start : start + batch_size]
            result[idx] = self._run([texts[i] for i in idx])
        # The graph ends in the model's own Normalize module; re-normalizing guards int8/bf16 drift.
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        return result / np.maximum(norms, 1e-12)


class OnnxEncoder(_ExportedEncoder):
    """onnxruntime + tokenizers: no torch at inference time. Batches are sorted by length (less padding)."""

    def __init__(self, model_path: str | Path, quantized: bool = False, threads: int | None = None,
                 cache_dir: str | Path | None = None):
        self.backend = "onnx-int8" if quantized else "onnx"
        self._quantized = quantized
        super().__init__(model_path, threads=threads, cache_dir=cache_dir)

    def _load(self, export_dir: Path, threads: int) -> None:
        import onnxruntime as ort

        onnx_file = export_dir / ("model_int8.onnx" if self._quantized else "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}

    def _infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        (out,) = self.session.run(None, feeds)
        return out


class OpenVinoEncoder(_ExportedEncoder):
    """The fp32 ONNX export compiled by the OpenVINO runtime (CPU plugin, latency hint).

    OpenVINO picks its inference precision from the CPU: bf16 where the CPU has bf16 units (AMX or
    AVX512-BF16, as on this project's reference machines), fp32 elsewhere; ``precision`` forces one
    (``"f32"`` or ``"bf16"``). The precision it ran with is in ``self.precision``. Like int8, bf16
    must pass the agreement check of :func:`load_encoder` before it serves.
    """

    backend = "openvino"

    def __init__(self, model_path: str | Path, threads: int | None = None, cache_dir: str | Path | None = None,
                 precision: str | None = None):
        self._precision_hint = precision or os.environ.get("EMBEDTUNE_OPENVINO_PRECISION") or None
        super().__init__(model_path, threads=threads, cache_dir=cache_dir)

    def _load(self, export_dir: Path, threads: int) -> None:
        try:
            import openvino as ov
        except ImportError as exc:  # pragma: no cover - openvino is a declared dependency
            raise EmbedtuneError("the openvino backend needs the `openvino` package: pip install openvino") from exc
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        if self._precision_hint:
            config["INFERENCE_PRECISION_HINT"] = self._precision_hint
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(export_dir / "model.onnx")), "CPU", config)
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.precision = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)  # "f32" / "bf16"
        self._output = self.compiled.output(0)
        self.input_names = {name for port in self.compiled.inputs for name in port.get_names()}
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: callers from several threads take turns

    def _infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        with self._lock:
            result = self._request.infer(feeds)
            return np.array(result[self._output], dtype=np.float32, copy=True)


def _fuse_transformer(onnx_file: Path, hf_config) -> bool:
    """Rewrite ``onnx_file`` in place with onnxruntime's transformer fusions (attention, LayerNorm, GELU).

    The exported graph spells attention and LayerNorm out in dozens of small ops; the fused graph runs
    them as single kernels (and the int8 model then quantizes the fused attention too). Only BERT-like
    encoders are fused; anything unexpected keeps the plain graph (returns False).
    """
    heads = getattr(hf_config, "num_attention_heads", None)
    hidden = getattr(hf_config, "hidden_size", None)
    if getattr(hf_config, "model_type", "") not in ("bert", "roberta", "xlm-roberta", "mpnet") or not heads or not hidden:
        return False
    try:
        from onnxruntime.transformers import optimizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimized = optimizer.optimize_model(
                str(onnx_file), model_type="bert", num_heads=int(heads), hidden_size=int(hidden), opt_level=1,
                use_gpu=False,
            )
        fused_ops = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        if not fused_ops.get("Attention") and not fused_ops.get("MultiHeadAttention"):
            log.info("onnx fusion found no attention to fuse; keeping the plain graph")
            return False
        optimized.save_model_to_file(str(onnx_file))
        return True
    except Exception as exc:  # the plain graph is correct, only slower
        log.warning("onnx transformer fusion failed (%s); keeping the plain graph", exc)
        return False


def export_onnx(model_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Export a sentence-transformers folder to ONNX (fp32 and dynamic int8); return the export folder.

    The folder holds ``model.onnx`` (token ids → normalized sentence embedding), ``model_int8.onnx``,
    ``tokenizer.json`` and ``export.json``. It is written atomically and reused while the model's
    files are unchanged.
    """
    model_dir = resolve_model_path(model_path)
    export_key = hashlib.sha256(
        f"v{_EXPORT_FORMAT_VERSION}|opset{ONNX_OPSET}|{model_fingerprint(model_dir)}".encode()
    ).hexdigest()[:20]
    out = (Path(cache_dir) if cache_dir is not None else cache_root()) / "onnx" / export_key
    if (out / "export.json").is_file():
        return out
    if not (model_dir / "tokenizer.json").is_file():
        raise EmbedtuneError(f"{model_dir} has no tokenizer.json (a fast tokenizer is needed for the onnx backends)")

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from embedtune.base_model import load_model

    model = load_model(model_dir, device="cpu")
    model.eval()
    transformer = model[0]
    tokenizer = model.tokenizer
    max_seq_length = int(model.max_seq_length or 512)

    class _SentenceEmbedding(torch.nn.Module):
        def __init__(self, st):
            super().__init__()
            self.st = st

        def forward(self, input_ids, attention_mask, token_type_ids):
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.st(features)["sentence_embedding"]

    sample = tokenizer(["an example sentence to trace", "a second one"], padding=True, return_tensors="pt")
    token_type_ids = sample.get("token_type_ids", torch.zeros_like(sample["input_ids"]))
    args = (sample["input_ids"], sample["attention_mask"], token_type_ids)
    try:
        auto_model = transformer.auto_model
        if hasattr(auto_model, "set_attn_implementation"):
            auto_model.set_attn_implementation("eager")
    except Exception as exc:  # tracing still works with the default attention on most models
        log.debug("could not switch to eager attention: %s", exc)
    with atomic_dir(out) as tmp:
        fp32 = tmp / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _SentenceEmbedding(model),
                args,
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "token_type_ids": {0: "batch", 1: "sequence"},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        fused = _fuse_transformer(fp32, transformer.auto_model.config)
        # Per-channel weight scales: per-tensor int8 cost ~0.05 mean cosine on MiniLM here (0.95 vs 0.993).
        # (Fused contrib ops have no ONNX shape inference: tell the quantizer their tensors are float.)
        quantize_dynamic(str(fp32), str(tmp / "model_int8.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        shutil.copy2(model_dir / "tokenizer.json", tmp / "tokenizer.json")
        info = {
            "format_version": _EXPORT_FORMAT_VERSION,
            "model_path": str(model_dir),
            "max_seq_length": max_seq_length,
            "pad_token_id": int(tokenizer.pad_token_id or 0),
            "dim": int(model.get_embedding_dimension()),
            "opset": ONNX_OPSET,
            "fused": fused,
        }
        (tmp / "export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out


def check_agreement(reference: np.ndarray, candidate: np.ndarray, backend: str, k: int = 10,
                    threshold: float = MIN_AGREEMENT_COSINE) -> Agreement:
    """Compare two encodings of the same texts: per-text cosine, and whether each text's top-k
    neighbours among the others stay the same (the texts stand in for queries and documents)."""
    ref = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    cand = candidate / np.maximum(np.linalg.norm(candidate, axis=1, keepdims=True), 1e-12)
    cosines = np.sum(ref * cand, axis=1)
    n = len(ref)
    kk = min(k, n - 1)
    if kk >= 1:
        sims_ref, sims_cand = ref @ ref.T, cand @ cand.T
        np.fill_diagonal(sims_ref, -np.inf)
        np.fill_diagonal(sims_cand, -np.inf)
        top_ref = np.argsort(-sims_ref, axis=1, kind="stable")[:, :kk]
        top_cand = np.argsort(-sims_cand, axis=1, kind="stable")[:, :kk]
        overlap = float(np.mean([len(set(a) & set(b)) / kk for a, b in zip(top_ref, top_cand, strict=True)]))
        top1 = float(np.mean(top_ref[:, 0] == top_cand[:, 0]))
    else:
        overlap = top1 = 1.0
    mean_cos = float(np.mean(cosines))
    return Agreement(
        backend=backend, n_texts=n, mean_cosine=mean_cos, min_cosine=float(np.min(cosines)),
        top10_overlap=overlap, top1_same=top1, passed=mean_cos >= threshold, threshold=threshold,
    )


def sample_texts(texts: list[str], n: int = AGREEMENT_SAMPLE, seed: int = 0) -> list[str]:
    if len(texts) <= n:
        return list(texts)
    rng = np.random.default_rng(seed)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=n, replace=False))]


def load_encoder(
    model_path: str | Path,
    backend: str = DEFAULT_BACKEND,
    check_texts: list[str] | None = None,
    min_cosine: float = MIN_AGREEMENT_COSINE,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
) -> TorchEncoder | OnnxEncoder | OpenVinoEncoder:
    """Load an encoder for ``backend``; with ``check_texts``, verify an onnx/openvino backend against torch.

    A failed check logs a warning and returns the torch encoder (with ``.agreement`` set so the
    caller can report why).
    """
    if backend not in BACKENDS:
        raise EmbedtuneError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if threads:
        import torch

        torch.set_num_threads(threads)
    if backend == "torch":
        return TorchEncoder(model_path)
    candidate: OnnxEncoder | OpenVinoEncoder
    if backend == "openvino":
        candidate = OpenVinoEncoder(model_path, threads=threads, cache_dir=cache_dir)
    else:
        candidate = OnnxEncoder(model_path, quantized=backend == "onnx-int8", threads=threads, cache_dir=cache_dir)
    if not check_texts:
        return candidate
    sample = sample_texts([t for t in check_texts if t.strip()])
    reference = TorchEncoder(model_path)
    agreement = check_agreement(reference.encode(sample), candidate.encode(sample), backend, threshold=min_cosine)
    if agreement.passed:
        log.info(agreement.summary())
        candidate.agreement = agreement
        return candidate
    log.warning("%s: falling back to the torch backend", agreement.summary())
    reference.agreement = agreement
    return reference
