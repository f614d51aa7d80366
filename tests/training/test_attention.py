"""attention_dropout and the training attention kernel change the run only, and the kernel only training forwards."""

from __future__ import annotations

from embedtune.training.attention import (
    ALWAYS,
    MATH_KERNEL_MAX_TOKENS,
    attention_dropout,
    attention_dropout_modules,
    describe_attention_kernel,
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
    """The scaled-dot-product-attention operators one forward pass of ``model`` ran."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    features = model.tokenize(list(texts))
    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.set_grad_enabled(grad):
        model(dict(features))
    return {e.key for e in prof.key_averages() if "scaled_dot_product" in e.key}


def test_auto_attention_kernel_is_math_for_short_batches_on_a_cpu_and_pytorch_on_a_gpu():
    assert resolve_attention_kernel("auto", "cpu") == MATH_KERNEL_MAX_TOKENS
    assert resolve_attention_kernel("auto", "cuda") == 0
    assert resolve_attention_kernel("pytorch", "cpu") == 0
    assert resolve_attention_kernel("math", "cuda") == ALWAYS
    assert describe_attention_kernel(0) == "pytorch" and describe_attention_kernel(ALWAYS) == "math"
    assert describe_attention_kernel(192) == "math up to 192 tokens, pytorch above"


def test_math_kernel_applies_to_training_forwards_only_and_is_undone(base_model):
    with attention_dropout(base_model, 0.0):
        fused = _attention_ops(base_model, grad=True)
        assert not any("math" in op for op in fused)  # PyTorch's own choice: a fused kernel
        with training_attention_kernel(base_model, ALWAYS):
            assert any("math" in op for op in _attention_ops(base_model, grad=True))
            assert _attention_ops(base_model, grad=False) == fused  # evaluation keeps PyTorch's choice
        with training_attention_kernel(base_model, 8):  # batches longer than 8 tokens keep the fused kernel
            assert any("math" in op for op in _attention_ops(base_model, grad=True, texts=("short",)))
            assert _attention_ops(base_model, grad=True, texts=(LONGER,)) == fused
        assert _attention_ops(base_model, grad=True) == fused
    assert "forward" not in base_model[0].__dict__


def test_math_kernel_stacks_on_the_bf16_autocast_patch_and_gives_the_same_gradients(base_model):
    import torch

    from embedtune.training.precision import Precision, encoder_autocast

    features = base_model.tokenize(["what does the widget do", "it answers visitors' questions"])
    was_training = base_model.training

    def gradient(kernel: int, precision: str) -> torch.Tensor:
        base_model.zero_grad()
        with (encoder_autocast(base_model, Precision(precision, "cpu", "test")), attention_dropout(base_model, 0.0),
              training_attention_kernel(base_model, kernel)):
            base_model.eval()  # no hidden dropout: the two kernels must agree
            embeddings = base_model(dict(features))["sentence_embedding"]
            (embeddings[0] @ embeddings[1]).backward()  # a cosine: (normalised embeddings' norms are constant)
        weight = base_model[0].auto_model.encoder.layer[0].attention.self.query.weight
        return weight.grad.detach().clone()

    for precision, tolerance in (("fp32", 1e-4), ("bf16", 5e-2)):
        reference, math = gradient(0, precision), gradient(ALWAYS, precision)
        assert torch.allclose(reference, math, atol=tolerance * float(reference.abs().max()))
        assert "forward" not in base_model[0].__dict__  # both patches undone, in order
    base_model.zero_grad(set_to_none=True)
    base_model.train(was_training)
