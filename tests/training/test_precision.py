"""Precision: detection from CPU flags (faked here), bf16 only inside the encoder, fp32 saved weights."""

from __future__ import annotations

import pytest
import torch

from embedtune.errors import EmbedtuneError
from embedtune.training.precision import (
    Precision,
    cpu_bf16_feature,
    encoder_autocast,
    proc_cpuinfo_flags,
    resolve_precision,
)

AMX_CPU = {"sse4_2", "avx2", "avx512f", "amx_tile", "amx_bf16"}
AVX512_BF16_CPU = {"avx2", "avx512f", "avx512_bf16"}
OLD_CPU = {"sse4_2", "avx2", "fma"}


def test_auto_is_bf16_on_cpus_with_hardware_bf16_and_fp32_elsewhere():
    assert cpu_bf16_feature(AMX_CPU) == "amx_bf16" and cpu_bf16_feature(AVX512_BF16_CPU) == "avx512_bf16"
    assert cpu_bf16_feature(OLD_CPU) is None
    amx = resolve_precision("auto", cuda=False, cuda_bf16=False, flags=AMX_CPU)
    assert (amx.name, amx.device, amx.autocast_cpu) == ("bf16", "cpu", True) and "amx_bf16" in amx.reason
    assert resolve_precision("auto", cuda=False, cuda_bf16=False, flags=AVX512_BF16_CPU).name == "bf16"
    old = resolve_precision("auto", cuda=False, cuda_bf16=False, flags=OLD_CPU)
    assert (old.name, old.autocast_cpu) == ("fp32", False) and "neither AMX nor AVX512-BF16" in old.reason
    assert resolve_precision("fp32", cuda=False, cuda_bf16=False, flags=AMX_CPU).name == "fp32"


def test_gpu_choices_use_the_trainer_flags_and_cpu_bf16_does_not():
    assert resolve_precision("auto", cuda=True, cuda_bf16=True, flags=OLD_CPU).trainer_flags() == {"bf16": True}
    assert resolve_precision("auto", cuda=True, cuda_bf16=False, flags=OLD_CPU).trainer_flags() == {"fp16": True}
    assert resolve_precision("bf16", cuda=False, cuda_bf16=False, flags=AMX_CPU).trainer_flags() == {}
    with pytest.raises(EmbedtuneError, match="fp16 needs a GPU"):
        resolve_precision("fp16", cuda=False, cuda_bf16=False, flags=AMX_CPU)
    with pytest.raises(EmbedtuneError, match="does not support bf16"):
        resolve_precision("bf16", cuda=True, cuda_bf16=False)


def test_proc_cpuinfo_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert proc_cpuinfo_flags(cpuinfo) == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert proc_cpuinfo_flags(tmp_path / "missing") == frozenset()


def test_encoder_autocast_runs_the_encoder_in_bf16_and_returns_fp32(base_model):
    texts = ["how do I reset my password", "refunds are issued within 30 days of purchase"]
    features = base_model.tokenize(texts)
    bf16 = Precision("bf16", "cpu", "test")
    with torch.no_grad():
        reference = base_model(dict(features))["sentence_embedding"]
        with encoder_autocast(base_model, bf16):
            encoder_out = base_model[0](dict(features))
            mixed = base_model(dict(features))["sentence_embedding"]
        after = base_model(dict(features))["sentence_embedding"]
    assert encoder_out["token_embeddings"].dtype == torch.float32 and mixed.dtype == torch.float32
    assert not torch.equal(mixed, reference)  # the encoder really ran in bf16 ...
    assert torch.nn.functional.cosine_similarity(mixed, reference).min() > 0.99  # ... with little effect
    assert torch.equal(after, reference) and "forward" not in vars(base_model[0])  # and the patch is gone
    with encoder_autocast(base_model, Precision("fp32", "cpu", "test")):
        assert "forward" not in vars(base_model[0])




def _tiny_pairs(path, qa):
    from embedtune.data.pairs import write_pairs
    from embedtune.data.records import Pair

    write_pairs(path, [Pair(q, a) for q, a in qa[:12]])
    return path


def _fine_tune(tmp_path, qa, name, **overrides):
    from safetensors.torch import load_file

    from embedtune.config import TrainConfig
    from embedtune.training import train

    config = TrainConfig(data=[_tiny_pairs(tmp_path / "pairs.jsonl", qa)], output=tmp_path / name, epochs=1, batch_size=4,
                         max_seq_length=32, keep_checkpoints=False, **overrides)
    train(config, show_progress=False, echo=lambda *_: None)
    return load_file(str(tmp_path / name / "model.safetensors"))


@pytest.mark.slow
def test_fp32_is_the_plain_path_and_bf16_saves_an_fp32_model(tmp_path, monkeypatch, help_qa):
    import json

    from sentence_transformers import SentenceTransformer

    from embedtune.training import precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset(AMX_CPU))
    fp32 = _fine_tune(tmp_path, help_qa, "fp32", precision="fp32")
    # auto on a CPU without hardware bf16 is the same fp32 run, bit for bit
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset(OLD_CPU))
    auto_old_cpu = _fine_tune(tmp_path, help_qa, "auto-old", precision="auto")
    assert fp32.keys() == auto_old_cpu.keys()
    assert all(torch.equal(fp32[k], auto_old_cpu[k]) for k in fp32)

    monkeypatch.setattr(precision_module, "cpu_flags", lambda: frozenset(AMX_CPU))
    bf16 = _fine_tune(tmp_path, help_qa, "bf16", precision="auto")
    assert all(t.dtype == torch.float32 for t in bf16.values())
    assert any(not torch.equal(fp32[k], bf16[k]) for k in fp32)  # the bf16 run did differ ...
    assert max(float((fp32[k] - bf16[k]).abs().max()) for k in fp32) < 1e-3  # ... by a few lr-sized steps at most
    log = json.loads((tmp_path / "bf16" / "train_log.json").read_text())
    assert log["precision"]["name"] == "bf16" and "amx_bf16" in log["precision"]["reason"]
    assert 0.0 <= log["padding_share"] < 1.0 and log["pairs_per_second"] > 0 and log["pairs_trained"] == 12
    assert [set(g) for g in log["length_grouping"]] == [{"grouped", "padding_random", "padding_grouped", "min_saving"}]
    assert "Precision: bf16 on cpu" in (tmp_path / "bf16" / "README.md").read_text()
    model = SentenceTransformer(str(tmp_path / "bf16"))
    assert model.encode(["does sync work offline?"]).shape == (1, 384)
