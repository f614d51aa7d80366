"""SciFact supervised hybrid, dev only: a uniform "model soup" of fine-tunes, fused with BM25.

Averages the weights of several models fine-tuned from the same base model (Wortsman et al., "Model
soups", ICML 2022: fine-tunes that share an initialisation lie in one basin, and their average often
ranks better than each), saves the soup, and scores it on the data folder's ``dev`` split with
``bench/hybrid_dev.py`` (fusion chosen on dev, as ``embedtune eval`` does). Never reads test.

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/soup_dev.py --data bench/out/sf-dense/data \\
        --model bench/out/sf-dense/model --model bench/out/sf-bm25/model --name soup3

Results: ``bench/out/hybrid/dev-<name>.json``; the soup in ``bench/out/soups/<name>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCH = Path(__file__).resolve().parent


def soup(models: list[str], output: Path) -> Path:
    """Save the uniform average of ``models``' transformer weights (same architecture) to ``output``."""
    import torch

    from embedtune.base_model import load_model
    from embedtune.merge import interpolate_with_base

    first = load_model(models[0])
    # A running mean by repeated interpolation: after model i (1-based), weight 1/i on the new one.
    for i, path in enumerate(models[1:], start=2):
        other = load_model(path)
        interpolate_with_base(other, first, 1.0 / i)  # other := (1 - 1/i)·mean + (1/i)·other
        first = other
    with torch.no_grad():
        first.save(str(output))
    (output / "soup.json").write_text(json.dumps({"models": models, "method": "uniform weight average"}, indent=2))
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True, help="repeatable; two or more")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    if len(args.model) < 2:
        parser.error("a soup needs two or more --model")
    out = soup(args.model, BENCH / "out" / "soups" / args.name)
    subprocess.run([sys.executable, str(BENCH / "hybrid_dev.py"), "--data", str(args.data), "--model", str(out),
                    "--depths", "100", "--name", args.name], check=True)


if __name__ == "__main__":
    main()
