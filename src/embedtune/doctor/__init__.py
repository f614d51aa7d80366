"""The data doctor: find what will make a fine-tune fail, or its evaluation lie, before training.

``diagnose(pairs, eval_splits=...)`` runs every check below on typed records and returns a
:class:`DoctorReport` of :class:`Finding` s; ``diagnose_path(DATA)`` reads a pairs file or a BEIR
folder first. ``check_training_loss`` judges the per-epoch loss after training. The report goes to
the CLI (``embedtune doctor DATA``), to ``doctor.json`` and to the model card.

Checks (finding codes in brackets, :class:`FindingCode`; one module each, its thresholds are its
constants; :data:`~embedtune.doctor.run.CHECKS` is the registry that runs them):

1. :mod:`~.size`: too few pairs for MultipleNegativesRankingLoss (MNRL) batches [``too_few_pairs``].
2. :mod:`~.duplicates`: repeated anchors, repeated positives and repeated rows [``duplicate_anchors``,
   ``duplicate_positives``, ``duplicate_pairs``]. With MNRL every other positive in a batch is a
   negative, so a repeated text inside one batch is a false negative. embedtune trains with
   sentence-transformers' ``NoDuplicatesBatchSampler``, which never puts one text twice in a
   batch, but a text in more rows than there are batches cannot be placed: batches shrink.
3. :mod:`~.overlap`: eval text that is also training text [``eval_overlap_exact``, ``eval_overlap_near``]: eval
   queries vs training anchors and relevant eval documents vs training positives, exact after
   normalization (casefold, collapsed whitespace) and near-duplicate (MinHash LSH from
   ``datasketch`` over word shingles, confirmed with the exact Jaccard similarity). Duplicate
   documents in the eval corpus [``duplicate_documents``, in :mod:`~.duplicates`] make a correct
   answer count as a miss.
4. :mod:`~.fields`: structured texts (``- Key: value`` or ``Key: value`` lines, like recsys prompts) whose field is
   "unk"/empty/constant in nearly every row [``unk_field``, ``empty_field``, ``constant_field``],
   and one text repeated as nearly every positive or anchor [``constant_text``].
5. :mod:`~.lengths`: texts longer than ``max_seq_length`` tokens, which the model silently truncates [``long_texts``].
6. :mod:`~.containment`: queries that contain their positive nearly verbatim, or positives that contain a long query
   verbatim [``query_contains_positive``]; in eval splits, queries that contain their relevant
   document (e.g. a user profile built from the very interactions being predicted).
7. :mod:`~.markup`: template syntax (``{# #}``, ``{% %}``, ``{{ }}``) and HTML tags/entities left in texts
   [``template_syntax``, ``html_markup``].
8. :mod:`~.loss`, after training: a loss still at the level of random guessing
   [``loss_not_decreasing``].

Example::

    from embedtune.doctor import diagnose_path
    report = diagnose_path("data/scifact", batch_size=32)
    print(report.to_markdown())
    if report.has_errors: ...
"""

from embedtune.doctor.containment import CONTAINMENT_THRESHOLD, MIN_COPIED_QUERY_WORDS
from embedtune.doctor.duplicates import DUPLICATE_COLLISIONS_WARN
from embedtune.doctor.fields import (
    FIELD_DEGENERATE_SHARE,
    FIELD_MIN_PRESENCE,
    FIELD_MIN_ROWS,
    INSTRUCTION_MIN_WORDS,
    UNK_VALUES,
    parse_fields,
)
from embedtune.doctor.findings import (
    EXAMPLE_CHARS,
    MAX_EXAMPLES,
    ROW_SHARE_WARN,
    SCHEMA_VERSION,
    SEVERITIES,
    DoctorReport,
    Finding,
    FindingCode,
)
from embedtune.doctor.lengths import LONG_TEXT_WARN_SHARE, MAX_TOKENIZED_TEXTS, load_base_tokenizer
from embedtune.doctor.loss import check_training_loss
from embedtune.doctor.overlap import EVAL_OVERLAP_ERROR_SHARE, NEAR_DUPLICATE_JACCARD
from embedtune.doctor.run import CHECKS, Check, DoctorData, diagnose, diagnose_path, run_checks
from embedtune.doctor.size import MIN_BATCHES

__all__ = [
    "CHECKS",
    "CONTAINMENT_THRESHOLD",
    "DUPLICATE_COLLISIONS_WARN",
    "EVAL_OVERLAP_ERROR_SHARE",
    "EXAMPLE_CHARS",
    "FIELD_DEGENERATE_SHARE",
    "FIELD_MIN_PRESENCE",
    "FIELD_MIN_ROWS",
    "INSTRUCTION_MIN_WORDS",
    "LONG_TEXT_WARN_SHARE",
    "MAX_EXAMPLES",
    "MAX_TOKENIZED_TEXTS",
    "MIN_BATCHES",
    "MIN_COPIED_QUERY_WORDS",
    "NEAR_DUPLICATE_JACCARD",
    "ROW_SHARE_WARN",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "UNK_VALUES",
    "Check",
    "DoctorData",
    "DoctorReport",
    "Finding",
    "FindingCode",
    "check_training_loss",
    "diagnose",
    "diagnose_path",
    "load_base_tokenizer",
    "parse_fields",
    "run_checks",
]
