"""Inference backends: ONNX export equals torch, int8 is checked on the user's texts, fallback works."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from embedtune.encoders import (
    OnnxEncoder,
    OpenVinoEncoder,
    TorchEncoder,
    check_agreement,
    export_onnx,
    load_encoder,
)
from embedtune.errors import EmbedtuneError

TEXTS = [
    "How do I update the credit card on my account?",
    "Annual plans can be refunded in full within 30 days of purchase.",
    "Sync pauses when a device is offline.",
    "Scan the QR code with an authenticator app to turn on two-factor authentication.",
    "Choose File > Export workspace to download every note as Markdown.",
    "Open the notebook, press Ctrl+P and pick which sections to print.",
    "Attachments are exported next to each Markdown file.",
    "All notes are encrypted in transit with TLS and at rest with AES-256.",
    "a",
    "A much longer passage that goes on and on about sentence embeddings, mean pooling over token vectors, "
    "attention masks and padding, so that batches mix long and short inputs and padding must not leak in.",
    "Ünïcödé and emoji 🙂 survive tokenization.",
    "Right-click a notebook and choose Keep on this device to exclude it from sync.",
]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory, base_model):
    """Export once per session (tens of seconds), into a private cache."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    export_onnx("all-MiniLM-L6-v2", cache_dir=cache)
    return cache


@pytest.fixture(scope="session")
def reference(base_model) -> np.ndarray:
    return base_model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)


def test_onnx_fp32_reproduces_sentence_transformers(onnx_cache, reference):
    encoder = OnnxEncoder("all-MiniLM-L6-v2", cache_dir=onnx_cache)
    vectors = encoder.encode(TEXTS, batch_size=4)  # small batches: order restored after length sorting
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.9999
    # padding must not change a text's vector: alone equals in a batch with long texts
    assert np.allclose(encoder.encode([TEXTS[8]])[0], vectors[8], atol=1e-5)


def test_export_is_cached(onnx_cache):
    first = export_onnx("all-MiniLM-L6-v2", cache_dir=onnx_cache)
    stamp = (first / "model.onnx").stat().st_mtime_ns
    assert export_onnx("all-MiniLM-L6-v2", cache_dir=onnx_cache) == first
    assert (first / "model.onnx").stat().st_mtime_ns == stamp
    assert {"model.onnx", "model_int8.onnx", "tokenizer.json", "export.json"} <= {p.name for p in first.iterdir()}


def test_int8_agreement_is_measured_and_reported(onnx_cache, reference):
    encoder = load_encoder("all-MiniLM-L6-v2", "onnx-int8", check_texts=TEXTS, cache_dir=onnx_cache)
    agreement = encoder.agreement
    assert agreement is not None and agreement.backend == "onnx-int8" and agreement.n_texts == len(TEXTS)
    assert 0.9 < agreement.mean_cosine <= 1.0 and 0.0 <= agreement.top10_overlap <= 1.0
    assert agreement.passed == (agreement.mean_cosine >= agreement.threshold)
    int8 = OnnxEncoder("all-MiniLM-L6-v2", quantized=True, cache_dir=onnx_cache).encode(TEXTS)
    # a gate just under the measured agreement serves int8: the vectors a caller gets are int8's
    served = load_encoder("all-MiniLM-L6-v2", "onnx-int8", check_texts=TEXTS, cache_dir=onnx_cache,
                          min_cosine=agreement.mean_cosine - 1e-4)
    assert isinstance(served, OnnxEncoder) and np.allclose(served.encode(TEXTS), int8, atol=1e-5)
    assert np.sum(int8 * reference, axis=1).mean() == pytest.approx(agreement.mean_cosine, abs=1e-4)
    assert "top-10 overlap" in agreement.summary()


def test_openvino_fp32_reproduces_sentence_transformers(onnx_cache, reference):
    encoder = OpenVinoEncoder("all-MiniLM-L6-v2", cache_dir=onnx_cache, precision="f32", threads=1)
    assert encoder.backend == "openvino" and encoder.precision.lower().startswith("f32")
    vectors = encoder.encode(TEXTS, batch_size=5)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.9999
    assert np.allclose(encoder.encode([TEXTS[8]])[0], vectors[8], atol=1e-4)


def test_openvino_default_precision_passes_the_agreement_check(onnx_cache):
    # On CPUs with bf16 units OpenVINO computes in bf16 by default: the gate measures what that costs.
    encoder = load_encoder("all-MiniLM-L6-v2", "openvino", check_texts=TEXTS, cache_dir=onnx_cache)
    assert isinstance(encoder, OpenVinoEncoder) and encoder.agreement is not None
    assert encoder.agreement.backend == "openvino" and encoder.agreement.mean_cosine > 0.999
    assert encoder.encode([]).shape == (0, 384)


def test_failed_agreement_falls_back_to_torch_with_a_warning(onnx_cache, caplog):
    with caplog.at_level(logging.WARNING, logger="embedtune.encoders"):
        encoder = load_encoder("all-MiniLM-L6-v2", "onnx-int8", check_texts=TEXTS, min_cosine=1.01, cache_dir=onnx_cache)
    assert isinstance(encoder, TorchEncoder) and encoder.backend == "torch"
    assert encoder.agreement is not None and not encoder.agreement.passed
    assert "falling back to the torch backend" in caplog.text


def test_check_agreement_counts_changed_neighbours():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((50, 8)).astype(np.float32)
    same = check_agreement(ref, ref.copy(), "x")
    assert same.mean_cosine == pytest.approx(1.0) and same.top10_overlap == 1.0 and same.passed
    shuffled = check_agreement(ref, rng.standard_normal((50, 8)).astype(np.float32), "x")
    assert shuffled.mean_cosine < 0.5 and shuffled.top10_overlap < 0.5 and not shuffled.passed


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(EmbedtuneError, match="unknown backend 'tensorrt'"):
        load_encoder("all-MiniLM-L6-v2", "tensorrt")
