"""`mats-eval import` and `mats-eval init` on made-up exports shaped like real ones (fixtures/import/)."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mats_eval.cli import app
from mats_eval.data.importer import import_dataset
from mats_eval.data.importer.mapping import load_mapping
from mats_eval.data.importer.sheets import column_letter
from mats_eval.data.io import load
from mats_eval.data.schema import TABLES
from mats_eval.data.template import EXAMPLE_MAPPING, EXAMPLE_MAPPING_NAME, write_template
from mats_eval.errors import ValidationError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"
MAPPING = FIXTURES / "mapping.yaml"
MATS5_EXPORTS = ("calendar.xlsx", "attendance.csv", "feedback.csv", "survey.csv")

# The broken copies' mistakes (make_fixtures.write_broken), by cell, with what the message must say.
BROKEN_CELLS = {
    "calendar.xlsx:Calendar!C5 ('Type')": "'Lecture' is not one of seminar, workshop",
    "calendar.xlsx:Calendar!A15 ('Date')": "2024-02-09 is week 5 of MATS 5.0",
    "attendance.csv:D3 ('Seminar: Evals')": "'?' is not one of the labels ('✓', 'x', 'late', '')",
    "attendance.csv:B12 ('Email')": "is blank (expected the scholar's name or email)",
    "feedback.csv:D5 ('How would you rate this session?')": "'Excelent' is not one of the labels ('1 - Poor'",
    "feedback.csv:C7 ('Which session are you rating?')": "did you mean 'Seminar: Interpretability'",
    "feedback.csv:B9 ('Email address')": "not a scholar of MATS 5.0",
    "survey.csv:C2 ('Overall, how valuable were the seminars?...')": "11 is outside the retro scale 0..10",
    "survey.csv:D4 ('How valuable were the discussion groups?...')": "'ten' is not one of the labels ('N/A')",
}


def identities() -> set[str]:
    """Every name, email and comment in the fixtures (none may come out of an import)."""
    found = set()
    for path in (FIXTURES / "feedback.csv", FIXTURES / "survey.csv", FIXTURES / "attendance.csv"):
        rows = list(csv.reader(path.open(encoding="utf-8")))
        for row in rows[1:]:
            found |= {row[0], row[1]} if path.name == "attendance.csv" else {row[1], row[-1]}
    import pandas as pd

    roster = pd.read_excel(FIXTURES / "mats6.ods", sheet_name="Roster", engine="odf")
    found |= set(roster["Name"]) | set(roster["Email"])
    found |= {f"Speaker {tree}" for tree in ("Alder", "Birch", "Cedar", "Damson", "Elm", "Fir", "Gorse", "Hazel")}
    return {text for text in found if len(text) > 3 and not text[0].isdigit()}


def assert_private(text: str) -> None:
    leaked = sorted(who for who in identities() if who.casefold() in text.casefold())
    assert not leaked, f"raw identities in the output: {leaked[:5]}"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("import") / "dataset"
    import_dataset(MAPPING, out)
    return out


def test_fixtures_import_into_a_valid_dataset(imported):
    data = load(imported)
    summary = data.summary().set_index("cohort")
    assert list(summary.index) == ["MATS 5.0", "MATS 6.0"]
    assert summary.loc["MATS 5.0", "scholars"] == 10 and summary.loc["MATS 6.0", "scholars"] == 6
    assert summary.loc["MATS 5.0", "sessions"] == 12 and summary.loc["MATS 6.0", "sessions"] == 7
    # a blank grid cell is "not recorded", never "absent": 10 x 12 pairs minus the 4 blanks
    assert summary.loc["MATS 5.0", "attendance_rows"] + summary.loc["MATS 5.0", "missing_pairs"] == 120
    assert summary.loc["MATS 5.0", "missing_pairs"] == 4
    assert summary.loc["MATS 5.0", "retro_ratings"] == 17  # 9 respondents x 2 elements, one N/A


def test_cells_are_read_as_the_mapping_says(imported):
    sessions = {row["session_id"]: row for row in csv.DictReader((imported / "sessions.csv").open())}
    first = sessions["MATS 5.0 / Seminar: Interpretability"]
    assert (first["week"], first["kind"], first["policy"], first["hours"]) == ("1", "seminar", "optional", "1.5")
    group = sessions["MATS 5.0 / Discussion group, week 4"]  # Friday 2024-02-02 -> week 4 of a start on 2024-01-08
    assert (group["week"], group["kind"], group["policy"], group["speaker"]) == ("4", "discussion_group", "mandatory", "")
    # the same title in two cohorts gives two sessions
    assert {"MATS 5.0 / Seminar: Evals", "MATS 6.0 / Welcome social"} <= set(sessions)
    ratings = list(csv.DictReader((imported / "ratings.csv").open()))
    mats5 = [int(r["rating"]) for r in ratings if r["session_id"].startswith("MATS 5.0")]
    assert set(mats5) <= {1, 2, 3, 4, 5} and len(mats5) == 69  # 71 responses, one N/A, one resubmission replaced
    form_names = {r["session_id"] for r in ratings}
    assert "MATS 5.0 / Discussion group, week 1" in form_names  # renamed by session_names


def test_the_same_sources_give_byte_identical_tables(imported, tmp_path):
    again = tmp_path / "again"
    import_dataset(MAPPING, again)
    for stem in TABLES:
        assert (again / f"{stem}.csv").read_bytes() == (imported / f"{stem}.csv").read_bytes(), stem


def test_no_raw_identity_is_written_or_printed(imported, tmp_path):
    for path in imported.iterdir():
        assert_private(path.read_text(encoding="utf-8"))
    result = CliRunner().invoke(app, ["import", str(MAPPING), "--out", str(tmp_path / "d"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "sch_" in result.output
    assert_private(result.output)


def test_scholar_ids_are_stable_keyed_pseudonyms(imported, tmp_path, monkeypatch):
    ids = (imported / "scholars.csv").read_text()
    assert all(line.startswith("sch_") for line in ids.splitlines()[1:])
    monkeypatch.setenv("MATS_EVAL_SALT", "another-key")
    import_dataset(MAPPING, tmp_path / "other")
    assert (tmp_path / "other" / "scholars.csv").read_text() != ids


def test_dry_run_writes_nothing(tmp_path):
    out = tmp_path / "dataset"
    report = import_dataset(MAPPING, out, dry_run=True)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    text = report.render()
    assert text.startswith("dry run: would write") and "ratings.csv: 91 row(s)" in text
    assert "columns not imported: Timestamp, Any comments for the organisers?" in text


def test_every_broken_cell_is_reported_and_nothing_written(tmp_path):
    out = tmp_path / "dataset"
    with pytest.raises(ValidationError) as caught:
        import_dataset(FIXTURES / "broken" / "mapping.yaml", out)
    assert caught.value.exit_code == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []
    found = caught.value.violations
    assert len(found) == len(BROKEN_CELLS)  # every mistake, and no knock-on errors from them
    for place, expected in BROKEN_CELLS.items():
        [message] = [v.removeprefix(f"{place}: ") for v in found if v.startswith(f"{place}: ")]
        assert expected in message, (place, message)
    assert_private("\n".join(caught.value.violations))


def test_broken_exports_exit_2_on_the_command_line(tmp_path):
    result = CliRunner().invoke(app, ["import", str(FIXTURES / "broken" / "mapping.yaml"), "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "9 violation(s)" in result.output and "feedback.csv:D5" in result.output
    assert not (tmp_path / "d").exists()


def write_mapping(folder: Path, text: str) -> Path:
    for name in MATS5_EXPORTS:
        shutil.copy(FIXTURES / name, folder / name)
    path = folder / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_mapping_keys_are_refused_with_the_valid_ones(tmp_path):
    text = EXAMPLE_MAPPING.replace("    duplicates: keep-last", "    duplicate: keep-last").replace(
        "columns: {scholar: Email}\n    ignore", "colums: {scholar: Email}\n    ignore")
    with pytest.raises(ValidationError) as caught:
        import_dataset(write_mapping(tmp_path, text), tmp_path / "out")
    messages = "\n".join(caught.value.violations)
    assert "sources[2] (feedback.csv).duplicate: unknown key (valid: file, sheet, header_row" in messages
    assert "sources[1] (attendance.csv).colums: unknown key" in messages
    assert not (tmp_path / "out").exists()


def test_a_column_the_export_does_not_have_names_the_header_row(tmp_path):
    text = EXAMPLE_MAPPING.replace("scholar: Email address", "scholar: E-mail")
    with pytest.raises(ValidationError) as caught:
        import_dataset(write_mapping(tmp_path, text), tmp_path / "out")
    [message] = caught.value.violations
    assert message.startswith("feedback.csv:row 1: no column 'E-mail' (named in the mapping's columns.scholar)")
    assert "'Email address'" in message


def test_a_wrong_header_row_is_explained(tmp_path):
    text = EXAMPLE_MAPPING.replace("    header_row: 3\n", "    header_row: 2\n")
    with pytest.raises(ValidationError) as caught:
        import_dataset(write_mapping(tmp_path, text), tmp_path / "out")
    assert caught.value.violations == [
        "calendar.xlsx:Calendar!row 2: the header row 2 is empty (set header_row to the row holding the column names)"]


def test_kept_comments_are_written_but_not_printed(tmp_path):
    text = EXAMPLE_MAPPING.replace("    # keep: [\"Any comments", "    keep: [\"Any comments")
    report = import_dataset(write_mapping(tmp_path, text), tmp_path / "out")
    ratings = (tmp_path / "out" / "ratings.csv").read_text(encoding="utf-8")
    assert "Any comments for the organisers?" in ratings.splitlines()[0] and "Loved the Q&A!" in ratings
    assert "Loved the Q&A!" not in report.render() and "<kept text>" in report.render()


def test_init_writes_a_template_with_the_contract_headers(tmp_path):
    result = CliRunner().invoke(app, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "new"
    for stem, spec in TABLES.items():
        assert (folder / f"{stem}.csv").read_text() == ",".join(spec.columns) + "\n"
    assert "attended = 0 only when you know" in (folder / "README.md").read_text()
    # the headers are the contract's: validation only asks for data rows
    with pytest.raises(ValidationError) as caught:
        load(folder)
    assert all("no data rows" in v for v in caught.value.violations)
    refused = CliRunner().invoke(app, ["init", str(folder)])
    assert refused.exit_code == 2 and "--force" in refused.output


def test_the_example_mapping_imports_the_example_exports(tmp_path):
    write_template(tmp_path / "template")
    shipped = (tmp_path / "template" / EXAMPLE_MAPPING_NAME).read_text(encoding="utf-8")
    assert shipped == EXAMPLE_MAPPING == (FIXTURES / "broken" / "mapping.yaml").read_text(encoding="utf-8")
    assert len(load_mapping(write_mapping(tmp_path, shipped)).sources) == 4
    import_dataset(tmp_path / "mapping.yaml", tmp_path / "out")
    assert load(tmp_path / "out").summary()["scholars"].tolist() == [10]


def test_column_letters_follow_the_spreadsheet():
    assert [column_letter(p) for p in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]
