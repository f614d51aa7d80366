"""One self-contained HTML page per run (or per comparison of runs), with plots.

``write_report(RUN_DIR)`` reads a ``train`` output or an ``eval --output`` folder and writes
``RUN_DIR/report.html``: the verdict and baseline table with confidence intervals, training loss and
dev metric, metric@k curves, per-query wins/ties/losses, data statistics with the doctor's findings,
and ten example queries with the top-3 of the base and the tuned model. ``write_comparison`` puts
several runs on one page.

Example::

    from embedtune.report import write_report
    path = write_report("runs/helpcenter")   # runs/helpcenter/report.html
"""

from embedtune.report.html import write_comparison, write_report
from embedtune.report.load import RunData, load_run

__all__ = ["RunData", "load_run", "write_comparison", "write_report"]
