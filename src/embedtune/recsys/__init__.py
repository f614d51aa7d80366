"""Recommendation: interaction logs + item catalog → user-profile queries, item documents, splits.

Stages, one module each: :mod:`~embedtune.recsys.schema` (column roles and aliases),
:mod:`~embedtune.recsys.load` (validated reading into DuckDB), :mod:`~embedtune.recsys.split`
(targets, leave-one-out / time cut, k-core), :mod:`~embedtune.recsys.profiles` (prompts from
history strictly before each target), :mod:`~embedtune.recsys.build` (writes the DATA_DIR),
:mod:`~embedtune.recsys.baselines` (popularity, co-occurrence), :mod:`~embedtune.recsys.generate`
(synthetic shop logs) and :mod:`~embedtune.recsys.recommend` (top-k for a user or a history).
"""
