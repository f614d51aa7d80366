"""attention_dropout changes the attention-probability dropout for the run only."""

from __future__ import annotations

from embedtune.training.attention import attention_dropout, attention_dropout_modules


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
