"""Contract: the committed example states every estimand once, the same everywhere.

reports/example/run/effects.csv is the source; report.md, report.html and the
analyses' notes in reports/ (made from that run with `--run`) must carry the
registry's sentence for each of its rows, with the same number and interval.
"""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest

from mats_eval.estimands.registry import ESTIMANDS, names_for

REPORTS = Path(__file__).resolve().parents[2] / "reports"
EXAMPLE = REPORTS / "example"
NOTES = {"mandatory_vs_optional": "policy", "attendance_decay": "decay", "programming_volume": "volume"}


def example_rows() -> list[dict]:
    return pd.read_csv(EXAMPLE / "run" / "effects.csv").to_dict("records")


def test_example_report_states_each_estimand_as_effects_csv_does():
    markdown = (EXAMPLE / "report.md").read_text(encoding="utf-8")
    page = (EXAMPLE / "report.html").read_text(encoding="utf-8")
    for row in example_rows():
        sentence = ESTIMANDS[row["estimand"]].sentence(row)
        assert sentence in markdown, f"report.md lacks {row['estimand']}: {sentence!r}"
        assert html.escape(sentence) in page, f"report.html lacks {row['estimand']}"


@pytest.mark.parametrize("note, question", sorted(NOTES.items()))
def test_analysis_notes_agree_with_the_example_run(note, question):
    text = (REPORTS / note / "note.md").read_text(encoding="utf-8")
    rows = [r for r in example_rows() if r["estimand"] in names_for(question)]
    assert rows, f"the example run has no {question} estimands"
    for row in rows:
        sentence = ESTIMANDS[row["estimand"]].sentence(row)
        assert sentence in text, f"{note}/note.md: {row['estimand']} differs from the example run: {sentence!r}"
