"""The model card: sentence-transformers' generated card plus embedtune's honest-evaluation section.

sentence-transformers writes ``README.md`` when the model is saved (widget, dataset statistics, loss,
hyper-parameters, training logs, evaluator metrics, framework versions). We insert a section with the
baseline table and bootstrap CIs from the final held-out evaluation, the data doctor's findings, and
the "learned nothing" check, so the card says whether the fine-tune helped, not only that it ran.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from embedtune._version import __version__
from embedtune.chance import learned_nothing_threshold
from embedtune.data.origin import HOW_TO_ADD_REAL_QUESTIONS
from embedtune.fileio import write_text_atomic

SECTION_TITLE = "## embedtune: did the fine-tune help?"


def embedtune_section(config, eval_result, doctor_report, log: dict[str, Any]) -> str:
    lines = [SECTION_TITLE, ""]
    if eval_result is not None and eval_result.generated:
        lines += [
            f"**Not evaluated on real questions.** Split `{eval_result.split.name}` of `{eval_result.data}` holds "
            "queries generated from the corpus, so the numbers below are not evidence that real users' searches "
            "improve.",
            "",
            eval_result.to_markdown(),
        ]
    elif eval_result is not None:
        lines += [
            f"Evaluated on held-out split `{eval_result.split.name}` of `{eval_result.data}`, which shares no "
            "query with training, next to the base model and a lexical/popularity baseline.",
            "",
            eval_result.to_markdown(),
        ]
    else:
        lines += ["No held-out split was available, so this model was **not evaluated**; treat it as unverified.", ""]
        if _is_site_data(config):
            lines += [f"**Recommendation:** serve base_hybrid (the base model fused with BM25: no training) until real "
                      f"questions exist; {HOW_TO_ADD_REAL_QUESTIONS}.", ""]
    losses = log.get("epoch_losses") or []
    chance = log.get("chance_loss")
    lines += ["### Training loss check", ""]
    if losses and chance:
        lines.append(
            "Mean loss per epoch: " + ", ".join(f"{v:.4f}" for v in losses)
            + f" (chance level ln(candidates per anchor) = {chance:.4f}; warning threshold "
            f"{learned_nothing_threshold(chance):.4f})."
        )
    if log.get("learned_nothing"):
        lines += ["", "**Warning: the loss stayed near chance level: this model learned nothing.**"]
    if log.get("pairs_per_second"):
        lines.append(
            f"\nTrained on {log.get('n_pairs')} pairs in {log.get('train_seconds')} s "
            f"({log['pairs_per_second']} pairs/s, {platform.processor() or platform.machine()})."
        )
    if log.get("precision"):
        precision = log["precision"]
        facts = [f"Precision: {precision['name']} on {precision['device']} ({precision['reason']}); weights saved as fp32"]
        if log.get("padding_share") is not None:
            grouping = "length-grouped batches" if log.get("group_by_length") else "random batches"
            skipped = [g for g in log.get("length_grouping") or [] if not g["grouped"]]
            if skipped and not log.get("group_by_length"):
                grouping += (f"; grouping by length would have padded {skipped[0]['padding_grouped']:.1%} instead of "
                             f"{skipped[0]['padding_random']:.1%}, less than the {skipped[0]['min_saving']:.0%} "
                             "saving (group_min_saving) that would be worth less varied in-batch negatives")
            facts.append(f"padding share {log['padding_share']:.1%} ({grouping})")
        if log.get("attention_kernel"):
            facts.append(f"attention kernel while training: {log['attention_kernel']}")
        lines.append("\n" + "; ".join(facts) + ".")
    lines += ["", "### Data doctor", "", doctor_report.to_markdown() if doctor_report is not None else "not run", ""]
    lines += [
        "### embedtune configuration",
        "",
        "```yaml",
        config.to_yaml().rstrip(),
        "```",
        "",
        f"Produced by embedtune {__version__}.",
        "",
    ]
    return "\n".join(lines)


def _is_site_data(config) -> bool:
    from embedtune.data.beir import is_beir_dir, read_manifest

    first = next((d for d in getattr(config, "data", None) or [] if is_beir_dir(d)), None)
    return first is not None and read_manifest(first).get("kind") == "site"


def add_embedtune_section(card_path: Path, config, eval_result, doctor_report, log: dict[str, Any]) -> None:
    """Insert the section before the card's "Training Details" (or append it), atomically."""
    _write_section(Path(card_path), embedtune_section(config, eval_result, doctor_report, log))


def _write_section(card_path: Path, section: str) -> None:
    """Put ``section`` (starting with SECTION_TITLE) in the card: replace the old one, or insert it before
    "Training Details", or append it; atomically."""
    text = card_path.read_text(encoding="utf-8") if card_path.is_file() else f"# {card_path.parent.name}\n"
    marker = "\n## Training Details"
    if SECTION_TITLE in text:
        start = text.index(SECTION_TITLE)
        end = text.find("\n## ", start + len(SECTION_TITLE))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    elif marker in text:
        idx = text.index(marker)
        text = text[: idx + 1] + section + text[idx + 1 :]
    else:
        text = text.rstrip() + "\n\n" + section
    write_text_atomic(card_path, text)


def note_merge(card_path: Path, record: dict[str, Any]) -> None:
    """Replace the embedtune section of a merged model's card: its metrics described the unmerged weights."""
    section = (
        f"{SECTION_TITLE}\n\n"
        f"**Weight interpolation (WiSE-FT):** these weights are {1 - record['alpha']:g} × `{record['base_model']}` + "
        f"{record['alpha']:g} × `{record['model']}` (`merge.json`). The embedtune evaluation of the fine-tuned "
        "model was removed from this card because it does not describe these weights; score them with "
        "`embedtune eval --model <this folder> --data DATA --split test`. The training details below are the "
        "fine-tuned model's.\n"
    )
    _write_section(Path(card_path), section)
