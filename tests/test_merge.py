"""Weight interpolation with the base model (WiSE-FT): ends, midpoint, bad input, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from embedtune.cli import app
from embedtune.config import TrainConfig
from embedtune.errors import EmbedtuneError
from embedtune.merge import interpolate_with_base, merge_model_dir

SENTENCES = ["How do I reset my password?", "Shipping takes three to five days."]


@pytest.fixture(scope="module")
def tuned_dir(tmp_path_factory):
    """A 'fine-tuned' model: the base model with every float weight shifted by seeded noise."""
    from embedtune.base_model import load_model

    model = load_model("all-MiniLM-L6-v2")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model[0].auto_model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.01)
    path = tmp_path_factory.mktemp("merge") / "tuned"
    model.save(str(path))
    card = path / "README.md"
    card.write_text(card.read_text() + "\n## embedtune: did the fine-tune help?\n\n| model | ndcg@10 0.9876 |\n")
    return path


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model[0].auto_model.state_dict().items()}


def test_alpha_ends_and_midpoint(tuned_dir, base_model):
    from embedtune.base_model import load_model

    base_w = _weights(base_model)
    tuned_w = _weights(load_model(tuned_dir))
    for alpha in (0.0, 0.5, 1.0):
        model = load_model(tuned_dir)
        n = interpolate_with_base(model, base_model, alpha)
        assert n == len(base_w)
        got = _weights(model)
        for name in ("embeddings.word_embeddings.weight", "encoder.layer.3.output.dense.bias"):
            expected = (1 - alpha) * base_w[name] + alpha * tuned_w[name]
            torch.testing.assert_close(got[name], expected)
    assert not torch.equal(base_w["encoder.layer.3.output.dense.bias"], tuned_w["encoder.layer.3.output.dense.bias"])


def test_bad_alpha_and_other_architecture(tuned_dir, base_model):
    from embedtune.base_model import load_model

    model = load_model(tuned_dir)
    with pytest.raises(EmbedtuneError, match="between 0 and 1"):
        interpolate_with_base(model, base_model, 1.5)
    smaller = load_model(tuned_dir)
    smaller[0].auto_model.encoder.layer = smaller[0].auto_model.encoder.layer[:3]
    with pytest.raises(EmbedtuneError, match="lacks"):
        interpolate_with_base(model, smaller, 0.5)
    with pytest.raises(ValueError):
        TrainConfig(data=["x"], output="y", merge_base=2.0)


def test_merge_dir_at_alpha_zero_is_the_base_model(tuned_dir, base_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = merge_model_dir(tuned_dir, "all-MiniLM-L6-v2", 0.0, tmp_path / "merged")
    merged = SentenceTransformer(str(out))  # a plain sentence-transformers folder
    torch.testing.assert_close(
        torch.tensor(merged.encode(SENTENCES)), torch.tensor(base_model.encode(SENTENCES)), atol=1e-5, rtol=0
    )
    record = json.loads((out / "merge.json").read_text())
    assert record["alpha"] == 0.0 and record["base_model"] == "all-MiniLM-L6-v2"
    card = (out / "README.md").read_text()
    assert "Weight interpolation (WiSE-FT)" in card and card.count("## embedtune: did the fine-tune help?") == 1
    assert "0.9876" not in card  # the unmerged model's metrics do not describe the merged weights
    merge_model_dir(tuned_dir, "all-MiniLM-L6-v2", 0.5, out)  # an earlier merge is replaced
    assert json.loads((out / "merge.json").read_text())["alpha"] == 0.5
    with pytest.raises(EmbedtuneError, match="already exists"):  # any other folder is not
        merge_model_dir(tuned_dir, "all-MiniLM-L6-v2", 0.5, tuned_dir.parent)


def test_cli_merge(tuned_dir, tmp_path):
    out = tmp_path / "half"
    result = CliRunner().invoke(app, ["merge", "--model", str(tuned_dir), "--alpha", "0.5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file() and json.loads((out / "merge.json").read_text())["alpha"] == 0.5
    bad = CliRunner().invoke(app, ["merge", "--model", str(tuned_dir), "--alpha", "-1", "-o", str(tmp_path / "x")])
    assert bad.exit_code != 0 and not (tmp_path / "x").exists()
