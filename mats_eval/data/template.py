"""`mats-eval init DIR`: an empty dataset folder to fill in, and an example import mapping.

The folder holds the six tables with their header rows (column names from
`schema.TABLES`, the contract's code), a README.md listing every column and the
rules that matter when typing data in (the full contract is data/README.md in
the repository), and `mapping.example.yaml`: a commented import mapping for the
exports programmes usually keep (a Forms-style feedback CSV, an attendance grid,
a calendar workbook, an end-of-programme survey), to copy beside the exports
and edit for `mats-eval import`.
"""
from __future__ import annotations

from pathlib import Path

from mats_eval.data.io import atomic_folder
from mats_eval.data.schema import TABLES, ColumnSpec, parse_date, parse_flag, parse_float, parse_int

EXAMPLE_MAPPING_NAME = "mapping.example.yaml"

EXAMPLE_MAPPING = """\
# mats-eval import mapping: which export feeds which table, and how its cells read.
# Run:  mats-eval import mapping.yaml --out data/mats5 --dry-run   (then without --dry-run)
# File paths are relative to this file. Column headers are matched without case or extra spaces.
# Any key not listed in README.md "Preparing a real export" is refused, with the valid ones.

cohorts:                         # the cohorts.csv rows, in full
  - cohort: MATS 5.0
    n_weeks: 4
    start_date: 2024-01-08       # Monday of week 1: dates become weeks from here
    session_scale_min: 1         # per-session feedback scale
    session_scale_max: 5
    retro_scale_min: 0           # end-of-programme survey scale
    retro_scale_max: 10

sources:
  # The programme calendar: a workbook whose header is on row 3 (a title row above it).
  - file: calendar.xlsx
    sheet: Calendar
    header_row: 3
    table: sessions
    cohort: MATS 5.0
    columns: {session: Session, date: Date, kind: Type, policy: Attendance, speaker: Speaker, hours: Length (h)}
    values:
      policy: {Required: mandatory, Optional: optional}

  # The attendance grid: one row per scholar, one column per session (headers = calendar names).
  - file: attendance.csv
    table: attendance
    layout: wide
    cohort: MATS 5.0
    columns: {scholar: Email}
    ignore: [Name]               # every other column is a session
    values:
      attended: {"✓": 1, "x": 0, "late": 1, "": missing}   # blank = not recorded, never "absent"

  # The feedback form: one row per response.
  - file: feedback.csv
    table: ratings
    cohort: MATS 5.0
    columns:
      scholar: Email address
      session: Which session are you rating?
      rating: How would you rate this session?
    values:
      rating: {"1 - Poor": 1, "2 - Fair": 2, "3 - OK": 3, "4 - Good": 4, "5 - Excellent": 5, "N/A": missing}
    session_names:               # the form's names -> the calendar's
      Discussion group (week 1): Discussion group, week 1
      Discussion group (week 2): Discussion group, week 2
      Discussion group (week 3): Discussion group, week 3
      Discussion group (week 4): Discussion group, week 4
    duplicates: keep-last        # a resubmitted response replaces the earlier one
    # keep: ["Any comments for the organisers?"]   # free text is dropped unless kept here

  # The end-of-programme survey: one column per programme element, 0-10 with "N/A".
  - file: survey.csv
    table: retrospective
    layout: wide
    cohort: MATS 5.0
    columns: {scholar: Email}
    wide_columns:
      Overall, how valuable were the seminars? (0 = not at all, 10 = extremely): seminars
      How valuable were the discussion groups? (0-10): discussion_groups
    values:
      rating: {"N/A": missing}
    policy_by_element: {seminars: optional, discussion_groups: mandatory}
"""

# What must be true of the data that a header row cannot say (the contract: data/README.md).
RULES = (
    "One row per scholar in scholars.csv; a scholar belongs to one cohort.",
    "One row per session (programming event) in sessions.csv; `week` counts from 1 to the cohort's n_weeks. "
    "Do not type in the weekly volume: the package counts it.",
    "attendance.csv: a (session_id, scholar_id) pair with no row is *not recorded*, never \"absent\". "
    "Write attended = 0 only when you know the scholar was absent.",
    "ratings.csv: a rating from a pair recorded attended = 0 is an error; a rating with no attendance row "
    "counts as attended.",
    "Ratings lie on the cohort's scale (session_scale_min..max; retro_scale_min..max for retrospective.csv).",
    "A blank cell in an optional column means unknown. Extra columns are kept and ignored.",
    "Scholar ids and speakers are replaced by keyed pseudonyms when the data is loaded; never commit real data.",
)


def column_type(spec: ColumnSpec) -> str:
    """The contract type of a column, in words, from its parser and checks."""
    allowed = [v for check in spec.checks for v in check.statistics.get("allowed_values", [])]
    if allowed:
        return "one of " + ", ".join(f"`{v}`" for v in allowed)
    return {parse_int: "whole number", parse_float: "number", parse_date: "date (YYYY-MM-DD)",
            parse_flag: "0/1"}.get(spec.parse, "text")


def template_readme() -> str:
    """README.md of the template: every table's columns (required or optional, type), then the rules."""
    lines = ["# Dataset template", "",
             "Fill in these tables (one header row each, UTF-8 CSV), then run `mats-eval validate .`.",
             "To build them from spreadsheet exports instead, edit `mapping.example.yaml` and run",
             "`mats-eval import mapping.yaml --out DATASET`. The full contract is data/README.md",
             "in the mats_eval repository.", ""]
    for stem, spec in TABLES.items():
        lines += [f"## {stem}.csv ({'required' if spec.required_file else 'optional'})", "",
                  "| column | required | type |", "|---|---|---|"]
        lines += [f"| {name} | {'yes' if col.required else 'no'} | {column_type(col)} |"
                  for name, col in spec.columns.items()]
        if spec.unique:
            lines.append("")
            lines.append("Unique: " + "; ".join("(" + ", ".join(key) + ")" for key in spec.unique) + ".")
        lines.append("")
    lines += ["## Rules", ""] + [f"- {rule}" for rule in RULES]
    return "\n".join(lines) + "\n"


def write_template(out: Path | str, force: bool = False) -> Path:
    """Write the template folder `out` (refused if it exists, unless `force`); returns its path."""
    out = Path(out)
    with atomic_folder(out, force=force) as work:
        for stem, spec in TABLES.items():
            (work / f"{stem}.csv").write_text(",".join(spec.columns) + "\n", encoding="utf-8")
        (work / "README.md").write_text(template_readme(), encoding="utf-8")
        (work / EXAMPLE_MAPPING_NAME).write_text(EXAMPLE_MAPPING, encoding="utf-8")
    return out
