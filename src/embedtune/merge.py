"""Weight-space interpolation with the base model (WiSE-FT, Wortsman et al., CVPR 2022).

``θ = (1 − α)·θ_base + α·θ_tuned``: α = 1 is the fine-tuned model, α = 0 the base model. Fine-tuning on
synthetic or narrow data moves a strong pretrained encoder away from what made it good on real
questions; averaging the weights keeps most of the in-domain gain and much of the base model's
generality, and often beats both ends. The site pipeline's corpus-only SciFact benchmark is the case
in point (docs/benchmarks.md). α is a setting, not something tuned on the test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from embedtune.errors import EmbedtuneError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MERGE_FILE = "merge.json"


def interpolate_with_base(model: SentenceTransformer, base: SentenceTransformer, alpha: float) -> int:
    """Replace ``model``'s transformer weights by ``(1 - alpha)·base + alpha·model`` in place.

    Returns the number of tensors interpolated. Both must be the same architecture (same parameter
    names and shapes); integer buffers are kept from ``model``.
    """
    check_alpha(alpha)
    import torch

    tuned_module, base_module = model[0].auto_model, base[0].auto_model
    tuned_state, base_state = tuned_module.state_dict(), base_module.state_dict()
    missing = sorted(set(tuned_state) - set(base_state))
    if missing:
        raise EmbedtuneError(f"the base model lacks {len(missing)} of the model's weights (e.g. {missing[0]}): "
                             "it is not the model this one was fine-tuned from")
    merged = {}
    with torch.no_grad():
        for name, tensor in tuned_state.items():
            other = base_state[name]
            if other.shape != tensor.shape:
                raise EmbedtuneError(f"weight {name} has shape {tuple(tensor.shape)} in the model but "
                                     f"{tuple(other.shape)} in the base model")
            if tensor.is_floating_point():
                mixed = (1.0 - alpha) * other.to(tensor.device, torch.float32) + alpha * tensor.float()
                merged[name] = mixed.to(tensor.dtype)
            else:
                merged[name] = tensor
    tuned_module.load_state_dict(merged)
    return sum(1 for t in tuned_state.values() if t.is_floating_point())


def check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise EmbedtuneError(f"merge alpha must be between 0 and 1, got {alpha}")


def merge_model_dir(model_dir: str | Path, base_model: str, alpha: float, output: str | Path,
                    overwrite: bool = False) -> Path:
    """Write ``output``: the model in ``model_dir`` interpolated with ``base_model`` (see module doc).

    The output is a plain sentence-transformers folder (loadable with ``SentenceTransformer(path)``)
    with ``merge.json`` recording the inputs; nothing is written if anything fails. ``alpha`` and
    ``output`` are checked before any model is loaded (:func:`~embedtune.fileio.check_output_dir`).
    """
    from embedtune.base_model import load_model
    from embedtune.card import note_merge
    from embedtune.fileio import atomic_dir, check_output_dir, write_json_atomic

    check_alpha(alpha)
    check_output_dir(output, overwrite=overwrite, producer="merge")
    model = load_model(model_dir)
    n = interpolate_with_base(model, load_model(base_model), alpha)
    record = merge_record(str(model_dir), base_model, alpha, n)
    with atomic_dir(output) as tmp:
        model.save(str(tmp))
        write_json_atomic(tmp / MERGE_FILE, record)
        note_merge(tmp / "README.md", record)
    return Path(output)


def merge_record(model: str, base_model: str, alpha: float, n_tensors: int) -> dict:
    return {
        "method": "linear weight interpolation with the base model (WiSE-FT)",
        "formula": "(1 - alpha) * base + alpha * model",
        "alpha": alpha,
        "model": model,
        "base_model": base_model,
        "tensors": n_tensors,
    }
