"""The report: doctor.json round trip and the Markdown summary."""

from __future__ import annotations

import json

from embedtune.doctor import (
    DoctorReport,
    diagnose,
)
from tests.doctor.conftest import (
    WORDS,
    recsys_prompt_pairs,
)


def test_report_round_trips_through_json_and_renders_markdown():
    report = diagnose(recsys_prompt_pairs(10), tokenizer=WORDS, batch_size=32)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["schema_version"] == 1
    assert data["n_warnings"] == sum(f["severity"] == "warning" for f in data["findings"]) > 0
    again = DoctorReport.from_dict(data)
    assert again.findings == report.findings
    markdown = report.to_markdown()
    assert "| severity | check | finding |" in markdown
    assert "`unk_field`" in markdown and "`too_few_pairs`" in markdown
    assert "10 pairs" in markdown
