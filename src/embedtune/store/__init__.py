"""External vector stores: where the vectors live when one machine's index folder is not the place.

:mod:`embedtune.store.postgres` keeps them in PostgreSQL with pgvector (``embedtune index push --to
postgresql://...``, ``embedtune serve --store postgresql://...``). Install with ``pip install 'embedtune[pg]'``.
"""
