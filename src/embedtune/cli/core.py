"""Core commands: ``train``, ``eval``, ``doctor``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embedtune.base_model import DEFAULT_BASE_MODEL, silence_progress_bars
from embedtune.cli.options import config_flags
from embedtune.config import TrainConfig
from embedtune.fusion import DEFAULT_COLD_SLOT


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    app.command("doctor")(doctor_command)
    app.command("merge")(merge_command)


#: ``embedtune train --help`` groups TrainConfig's flags under these headings (unlisted fields: "Training").
TRAIN_PANELS = {
    **dict.fromkeys(("data", "output", "base_model", "max_pairs", "force", "overwrite"), "Data and output"),
    **dict.fromkeys(("hard_negatives", "hard_negatives_from", "hard_negative_range_min", "hard_negative_range_max", "hard_negative_margin"),
                    "Hard negatives"),
    **dict.fromkeys(("eval_split", "dev_corpus_max", "final_split", "eval_batch_size", "baselines"), "Evaluation"),
    **dict.fromkeys(("keep", "keep_checkpoints", "checkpoint_steps", "resume", "merge_base", "logging_steps"),
                    "Saving and resuming"),
}


@config_flags(
    TrainConfig,
    decls={"data": ("--data", "-d"), "output": ("--output", "-o"), "no_duplicates": ("--no-duplicates/--allow-duplicates",)},
    panels=TRAIN_PANELS,
    default_panel="Training",
)
def train_command(
    config: Annotated[Path | None, typer.Argument(help="YAML config (recipe); flags override it.")] = None,
    nproc: Annotated[
        int | None,
        typer.Option(help="Train in N processes on this machine (runs torchrun); --batch-size stays the global batch."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    *,
    overrides: dict[str, Any],
) -> None:
    """Fine-tune a bi-encoder (MultipleNegativesRankingLoss) and evaluate it against the baselines.

    Every setting of a run (TrainConfig in embedtune/config.py) is a flag of the same name: a flag overrides the CONFIG file, which overrides the defaults shown.

    Example:

        embedtune train --data ../shared/data/scifact --output runs/scifact --epochs 3 --lr 3e-5

        embedtune train recipes/seed-site.yaml --data site-data --output runs/site

    A run works in OUTPUT.partial and renames it to OUTPUT when done; after an interruption, run the same command with --resume to continue from the last checkpoint.

    Several processes (data parallel, in-batch negatives gathered across them):

        embedtune train recipe.yaml --nproc 2        # = torchrun --nproc-per-node 2 -m embedtune train recipe.yaml
    """
    import os
    import sys

    from embedtune.config import load_train_config
    from embedtune.training import train
    from embedtune.training.distributed import launch, without_option

    if nproc is not None and nproc > 1 and "WORLD_SIZE" not in os.environ:
        raise typer.Exit(launch(nproc, without_option(sys.argv[1:], "--nproc")))

    if quiet:
        silence_progress_bars()
    cfg = load_train_config(config, **overrides)
    result = train(cfg, show_progress=not quiet, echo=typer.echo)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 reports
    typer.echo("")
    if result.eval is not None:
        typer.echo(result.eval.to_markdown())
    typer.echo(f"epoch losses: {', '.join(f'{v:.4f}' for v in result.epoch_losses)}")
    if result.learned_nothing:
        typer.secho("WARNING: the loss stayed near chance level: this model learned nothing.", fg=typer.colors.RED)
    typer.echo(f"model saved to {result.output} ({result.n_pairs} pairs, {result.seconds:.0f} s)")


def eval_command(
    model: Annotated[str, typer.Option("--model", "-m", help=f"'{DEFAULT_BASE_MODEL}' or a model folder.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="BEIR-layout folder.")],
    split: Annotated[str, typer.Option(help="Split to evaluate on.")] = "test",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write eval.json, eval.md, runs/ here.")] = None,
    base_model: Annotated[str, typer.Option(help="Baseline base model.")] = DEFAULT_BASE_MODEL,
    no_baselines: Annotated[bool, typer.Option("--no-baselines", help="Score only the model.")] = False,
    no_hybrid: Annotated[
        bool, typer.Option("--no-hybrid", help="Skip the hybrid systems (model ⊕ BM25, base model ⊕ BM25; "
                                     "on recommendation data ⊕ cooccurrence ⊕ transitions ⊕ popularity ⊕ attributes).")
    ] = False,
    fusion: Annotated[
        Path | None,
        typer.Option(help="Fuse the hybrids with this fusion.json instead of choosing weights on the dev split."),
    ] = None,
    keep_cold: Annotated[
        float | None,
        typer.Option(help="Recommendation data: fuse a 'cold' part too and choose the weights among those that keep "
                     "this share (0-1] of the model's dev NDCG@10 on cold targets (new items; costs overall score: "
                     "docs/recsys.md).", min=0.0, max=1.0),
    ] = None,
    cold_slot: Annotated[
        str, typer.Option(help="Recommendation data: keep a place in the hybrid's list for the model's best new item "
                          "(its place chosen on dev): auto (where dev shows it helps new items at little cost), on, "
                          "off (docs/recsys.md, \"Cold items\").")
    ] = DEFAULT_COLD_SLOT,
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 64,
    max_seq_length: Annotated[int | None, typer.Option(help="Override the model's max tokens.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 10_000,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not cache corpus embeddings.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into OUTPUT even if it holds something other than an evaluation.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Score a model and its baselines (base model, BM25 or popularity) on a held-out split.

    It also scores `hybrid` (the model fused with BM25 — on recommendation data with cooccurrence,
    transitions, popularity and attributes) and `base_hybrid` (the base model fused with the same), with fusion weights chosen on
    the data's dev split only; the chosen fusion is kept in the model folder as fusion.json (and in
    --output).

    Example:

        embedtune eval --model runs/scifact --data ../shared/data/scifact --split test --output runs/scifact/eval
    """
    from embedtune.eval import evaluate, write_eval
    from embedtune.eval.hybrid import HYBRID, save_model_fusion
    from embedtune.fileio import check_output_dir
    from embedtune.fusion import FusionSpec, check_cold_slot

    if output is not None:
        check_output_dir(output, overwrite=overwrite, producer="eval")
    if quiet:
        silence_progress_bars()
    result = evaluate(
        model, data, split, base_model=base_model, baselines=not no_baselines, batch_size=batch_size,
        max_seq_length=max_seq_length, n_resamples=resamples, use_cache=not no_cache, show_progress=not quiet,
        hybrid=not no_hybrid, fusion=FusionSpec.load(fusion) if fusion is not None else None, keep_cold=keep_cold,
        cold_slot=check_cold_slot(cold_slot),
    )
    typer.echo(result.to_markdown())
    if HYBRID in result.fusions:
        spec = result.fusions[HYBRID]
        saved = save_model_fusion(spec, model)
        typer.echo(f"hybrid fusion: {spec.describe()} ({'documented default' if spec.default else f'chosen on split {spec.split!r}'})"
                   + (f"; wrote {saved} (what serving fuses with)" if saved else ""))
    if output is not None:
        write_eval(result, output)
        typer.echo(f"wrote {output / 'eval.json'} and {output / 'eval.md'}"
                   + (f" and {output / 'fusion.json'}" if HYBRID in result.fusions else ""))
        from embedtune.report import write_report

        typer.echo(f"wrote {write_report(output)}")


def doctor_command(
    data: Annotated[Path, typer.Argument(help="Pairs file or BEIR folder.")],
    max_seq_length: Annotated[int, typer.Option(help="Max tokens per text.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Planned batch size.")] = 32,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the findings as JSON.")] = None,
) -> None:
    """Check training data for what makes fine-tunes fail or evaluations lie.

    Exits 1 when a finding is an error.

    Example:

        embedtune doctor ../shared/data/scifact --batch-size 32
    """
    from embedtune.doctor import diagnose_path
    from embedtune.fileio import write_json_atomic

    report = diagnose_path(data, max_seq_length=max_seq_length, batch_size=batch_size)
    typer.echo(report.to_markdown())
    if output is not None:
        write_json_atomic(output, report.to_dict())
    if report.has_errors:
        raise typer.Exit(1)


def merge_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Fine-tuned model folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the interpolated model.")],
    alpha: Annotated[float, typer.Option(help="Weight of the fine-tuned model: (1-alpha)*base + alpha*model.")] = 0.5,
    base_model: Annotated[str, typer.Option(help="The model it was fine-tuned from.")] = DEFAULT_BASE_MODEL,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Interpolate a fine-tuned model's weights with its base model (WiSE-FT).

    Guards against fine-tunes on synthetic or narrow data drifting away from what the base model
    did well; evaluate the result with `embedtune eval` like any model.

    Example:

        embedtune merge --model runs/site --alpha 0.5 --output runs/site-merged
    """
    from embedtune.merge import merge_model_dir

    if quiet:
        silence_progress_bars()
    out = merge_model_dir(model, base_model, alpha, output, overwrite=overwrite)
    typer.echo(f"wrote {out}: {1 - alpha:g} x {base_model} + {alpha:g} x {model}")
