"""The report's figures, drawn with matplotlib (Agg backend) and returned as SVG data URIs.

Each function takes typed records and returns ``data:image/svg+xml;base64,...`` for an ``<img>``:
embedded in the page (no network, no external files), isolated from the page's ids and scripts,
and sharp at any zoom. Output is deterministic (fixed SVG hash salt, no date metadata).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from embedtune.metrics import metric_curves as eval_metric_curves  # noqa: E402

#: k values of the metric@k curves.
CURVE_KS = tuple(range(1, 101))
#: One colour per system, stable across plots and runs (colour-blind-safe Okabe-Ito palette).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SYSTEM_COLORS = {"model": PALETTE[0], "base": PALETTE[1], "bm25": PALETTE[2], "popularity": PALETTE[2],
                 "cooccurrence": PALETTE[3], "transitions": PALETTE[6], "attributes": PALETTE[7], "hybrid": PALETTE[5], "base_hybrid": PALETTE[4]}
WIN, TIE, LOSS = "#2e8b57", "#9a9a9a", "#c0392b"

_STYLE = {
    "svg.fonttype": "none",  # real text, not glyph outlines: smaller files, selectable labels
    "svg.hashsalt": "embedtune",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.7,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "figure.dpi": 100,
}


def color_for(name: str, index: int) -> str:
    return SYSTEM_COLORS.get(name, PALETTE[index % len(PALETTE)])


def _to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def loss_plot(
    series: dict[str, tuple[Sequence[int], Sequence[float]]],
    chance_loss: float | None,
    dev: dict[str, tuple[Sequence[float], Sequence[float]]],
    dev_metric: str,
) -> str:
    """Training loss per logged step (one line per run) with the chance line, and the dev metric per epoch."""
    with plt.rc_context(_STYLE):
        n_panels = 2 if dev else 1
        fig, axes = plt.subplots(1, n_panels, figsize=(4.6 * n_panels, 3.0), squeeze=False)
        ax = axes[0][0]
        for i, (name, (steps, losses)) in enumerate(series.items()):
            ax.plot(steps, losses, color=PALETTE[i % len(PALETTE)], lw=1.6, marker="o" if len(steps) < 30 else None,
                    ms=3, label=name if len(series) > 1 else "training loss")
        if chance_loss is not None:
            ax.axhline(chance_loss, color=LOSS, ls="--", lw=1.2,
                       label=f"learned nothing: ln(candidates) = {chance_loss:.2f}")
        ax.set_xlabel("step")
        ax.set_ylabel("MNRL loss")
        ax.set_ylim(bottom=0)
        ax.set_title("Training loss")
        ax.legend(loc="best", fontsize=8)
        if dev:
            ax = axes[0][1]
            for i, (name, (epochs, values)) in enumerate(dev.items()):
                ax.plot(epochs, values, color=PALETTE[i % len(PALETTE)], lw=1.6, marker="o", ms=4,
                        label=name if len(dev) > 1 else None)
            values_all = [v for _, values in dev.values() for v in values]
            low, high = min(values_all), max(values_all)
            pad = max(0.02, (high - low) * 0.15)
            ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad) if high + pad <= 1.0 else 1.01)
            ax.set_xlabel("epoch (0 = before training)")
            ax.set_ylabel(dev_metric)
            ax.set_title(f"Dev {dev_metric} per epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
            if len(dev) > 1:
                ax.legend(fontsize=8)
        fig.tight_layout()
        return _to_data_uri(fig)


def curve_values(
    rankings: dict[str, Sequence[str]], relevant: dict[str, set[str]], ks: Sequence[int] = CURVE_KS
) -> dict[str, list[float]]:
    """Mean recall@k and NDCG@k for every k in ``ks``: :func:`embedtune.metrics.metric_curves`."""
    return eval_metric_curves(rankings, relevant, ks)


def metric_curves(
    systems: dict[str, dict[str, Sequence[str]]],
    relevant: dict[str, set[str]],
    ks: Sequence[int] = CURVE_KS,
    styles: dict[str, dict] | None = None,
) -> str:
    """Recall@k and NDCG@k for k in ``ks``, one line per system (rankings: ``{system: {qid: [doc ids]}}``)."""
    curves = {name: curve_values(rankings, relevant, ks) for name, rankings in systems.items()}
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.2))
        for ax, metric, label in ((axes[0], "recall", "Recall@k"), (axes[1], "ndcg", "NDCG@k")):
            for i, (name, values_by_metric) in enumerate(curves.items()):
                values = values_by_metric[metric]
                style = {"color": color_for(name, i), "lw": 1.8, **(styles or {}).get(name, {})}
                ax.plot(list(ks), values, label=name, **style)
            ax.set_xscale("log")
            ax.set_xlim(min(ks), max(ks))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("k (log scale)")
            ax.set_title(label)
        axes[0].legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        return _to_data_uri(fig)


def win_tie_loss_histogram(diffs: Sequence[float], system: str, baseline: str, unit: str = "query") -> str:
    """Histogram of per-query metric differences (system − baseline): wins green, ties grey, losses red."""
    d = np.asarray(diffs, dtype=float)
    eps = 1e-9
    wins, ties, losses = int((d > eps).sum()), int((np.abs(d) <= eps).sum()), int((d < -eps).sum())
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(9.2, 2.9))
        edges = np.linspace(-1, 1, 41)
        width = edges[1] - edges[0]
        nonzero = d[np.abs(d) > eps]
        counts, _ = np.histogram(nonzero, bins=edges)
        centers = (edges[:-1] + edges[1:]) / 2
        colors = [WIN if c > 0 else LOSS for c in centers]
        ax.bar(centers, counts, width=width * 0.92, color=colors)
        ax.bar([0.0], [ties], width=width * 0.5, color=TIE)
        ax.axvline(0, color="#555", lw=0.8)
        ax.set_xlim(-1.02, 1.02)
        ax.set_xlabel(f"NDCG@10 of {system} − NDCG@10 of {baseline}, per {unit}")
        ax.set_ylabel("users" if unit == "user" else "queries")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"{system} vs {baseline}: {wins} wins, {ties} ties, {losses} losses")
        handles = [Patch(color=WIN, label=f"{system} better: {wins}"), Patch(color=TIE, label=f"ties: {ties}"),
                   Patch(color=LOSS, label=f"{baseline} better: {losses}")]
        ax.legend(handles=handles, loc="upper left", fontsize=8)
        fig.tight_layout()
        return _to_data_uri(fig)


def token_length_histograms(anchors: Sequence[int], positives: Sequence[int], max_seq_length: int) -> str:
    """Token-length histograms of anchors and positives with the ``max_seq_length`` cut-off marked."""
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(9.2, 2.9))
        for ax, name, values, color in ((axes[0], "anchors", anchors, PALETTE[0]),
                                        (axes[1], "positives", positives, PALETTE[1])):
            arr = np.asarray(values, dtype=float)
            top = max(float(arr.max()) if arr.size else 1.0, max_seq_length * 1.05)
            ax.hist(arr, bins=np.linspace(0, top, 41), color=color, alpha=0.9)
            over = int((arr > max_seq_length).sum())
            ax.axvline(max_seq_length, color=LOSS, ls="--", lw=1.2,
                       label=f"max_seq_length {max_seq_length}: {over} of {arr.size} truncated")
            ax.set_xlabel("tokens (with special tokens)")
            ax.set_ylabel("texts")
            ax.set_title(f"Token lengths of {name}")
            ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        return _to_data_uri(fig)
