"""attention_dropout and the training attention kernel change the run only, and the kernel only training forwards."""

from __future__ import annotations

from embedtune.training.attention import (
    ALWAYS,
    EAGER_MAX_TOKENS,
    TrainingAttention,
    attention_dropout,
    attention_dropout_modules,
    resolve_attention_kernel,
    training_attention_kernel,
)


def test_attention_dropout_is_set_inside_and_restored_after(base_model):
    modules = attention_dropout_modules(base_model)
    assert len(modules) == 6 and {m.p for m in modules} == {0.1}  # one per layer of all-MiniLM-L6-v2
    hidden = [m for name, m in base_model.named_modules() if name.endswith("output.dropout")]
    with attention_dropout(base_model, 0.0):
        assert {m.p for m in modules} == {0.0}
        assert {m.p for m in hidden} == {0.1}  # hidden-state dropout is untouched
    assert {m.p for m in modules} == {0.1}
    assert base_model[0].auto_model.config.attention_probs_dropout_prob == 0.1
    with attention_dropout(base_model, None):
        assert {m.p for m in modules} == {0.1}


LONGER = "another, somewhat longer sentence to pad against"  # 12 tokens with [CLS] and [SEP]


def _attention_ops(model, *, grad: bool, texts: tuple[str, ...] = ("a short sentence", LONGER)) -> set[str]:
    """The attention operators one forward pass of ``model`` ran: PyTorch's scaled-dot-product kernels, or
    ``eager`` when it ran softmax outside them (the transformers library's eager attention)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    features = model.tokenize(list(texts))
    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.set_grad_enabled(grad):
        model(dict(features))
    keys = {e.key for e in prof.key_averages()}
    ops = {key for key in keys if "scaled_dot_product" in key}
    return ops if ops else ({"eager"} if "aten::softmax" in keys else set())


def test_auto_attention_kernel_is_eager_for_short_batches_on_a_cpu_and_pytorch_on_a_gpu():
    assert resolve_attention_kernel("auto", "cpu") == TrainingAttention("eager", EAGER_MAX_TOKENS)
    assert resolve_attention_kernel("auto", "cuda").describe() == "pytorch"
    assert resolve_attention_kernel("pytorch", "cpu").describe() == "pytorch"
    assert resolve_attention_kernel("math", "cuda") == TrainingAttention("math", ALWAYS)
    assert resolve_attention_kernel("eager", "cpu").describe() == "eager"
    assert TrainingAttention("eager", 192).describe() == "eager up to 192 tokens, pytorch above"
    assert TrainingAttention("math", 0).describe() == "pytorch"


def test_kernel_applies_to_training_forwards_only_and_is_undone(base_model):
    config = base_model[0].auto_model.config
    implementation = config._attn_implementation
    with attention_dropout(base_model, 0.0):
        fused = _attention_ops(base_model, grad=True)
        assert fused and not any("math" in op for op in fused)  # PyTorch's own choice: a fused kernel
        with training_attention_kernel(base_model, TrainingAttention("math")):
            assert any("math" in op for op in _attention_ops(base_model, grad=True))
            assert _attention_ops(base_model, grad=False) == fused  # evaluation keeps PyTorch's choice
        with training_attention_kernel(base_model, TrainingAttention("eager")):
            assert _attention_ops(base_model, grad=True) == {"eager"}
            assert _attention_ops(base_model, grad=False) == fused
            assert config._attn_implementation == implementation  # switched for the forward pass only
        with training_attention_kernel(base_model, TrainingAttention("eager", 8)):  # longer batches: fused
            assert _attention_ops(base_model, grad=True, texts=("short",)) == {"eager"}
            assert _attention_ops(base_model, grad=True, texts=(LONGER,)) == fused
        assert _attention_ops(base_model, grad=True) == fused
    assert "forward" not in base_model[0].__dict__
    assert config._attn_implementation == implementation


def test_kernels_stack_on_the_bf16_autocast_patch_and_give_the_same_gradients(base_model):
    import torch

    from embedtune.training.precision import Precision, encoder_autocast

    features = base_model.tokenize(["what does the widget do", "it answers visitors' questions"])
    was_training = base_model.training

    def gradient(attention: TrainingAttention, precision: str) -> torch.Tensor:
        base_model.zero_grad()
        with (encoder_autocast(base_model, Precision(precision, "cpu", "test")), attention_dropout(base_model, 0.0),
              training_attention_kernel(base_model, attention)):
            base_model.eval()  # no hidden dropout: the kernels must agree
            embeddings = base_model(dict(features))["sentence_embedding"]
            (embeddings[0] @ embeddings[1]).backward()  # a cosine: (normalised embeddings' norms are constant)
        weight = base_model[0].auto_model.encoder.layer[0].attention.self.query.weight
        return weight.grad.detach().clone()

    for precision, tolerance in (("fp32", 1e-4), ("bf16", 5e-2)):
        reference = gradient(TrainingAttention("pytorch", 0), precision)
        for kernel in ("math", "eager"):
            other = gradient(TrainingAttention(kernel), precision)
            assert torch.allclose(reference, other, atol=tolerance * float(reference.abs().max())), kernel
            assert "forward" not in base_model[0].__dict__  # both patches undone, in order
    base_model.zero_grad(set_to_none=True)
    base_model.train(was_training)
