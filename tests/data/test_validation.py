"""One test per data-contract rule (DATA_CONTRACT.md §1-§2), through `mats-eval validate`.

Each test writes the valid dataset, breaks one thing, and checks: exit code 2,
the exact `FILE:LINE:COLUMN` of the violation in the output, and that the
command wrote nothing and left every input byte-identical.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import mats_eval
from datasets import build_valid_tables, edit_cell, read_table, snapshot, write_table, write_valid_dataset
from mats_eval.cli import app
from mats_eval.errors import ValidationError


def validate_cli(folder: Path):
    """Run `mats-eval validate`, asserting it neither writes nor changes any file beside the data."""
    before = snapshot(folder.parent)
    result = CliRunner().invoke(app, ["validate", str(folder)])
    assert snapshot(folder.parent) == before
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_invalid(folder: Path, *locations: str) -> str:
    result = validate_cli(folder)
    assert result.exit_code == 2, result.output
    for location in locations:
        assert f"{location}: " in result.output, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def dataset(tmp_path) -> Path:
    folder = tmp_path / "data"
    write_valid_dataset(folder)
    return folder


def first_line_where(folder: Path, stem: str, **equal: str) -> int:
    """The file line of the first row whose cells equal `equal` (header = line 1)."""
    frame = read_table(folder, stem)
    mask = pd.Series(True, index=frame.index)
    for column, value in equal.items():
        mask &= frame[column] == value
    return int(frame.index[mask][0]) + 2


def append_row(folder: Path, stem: str, row: dict[str, str]) -> int:
    """Append a row to a CSV table; return its file line."""
    frame = read_table(folder, stem)
    frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True).fillna("")
    write_table(folder, stem, frame)
    return len(frame) + 1


# --------------------------------------------------------------------------- the valid set


def test_valid_dataset_exits_0_with_summary(dataset):
    result = validate_cli(dataset)
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "MATS 4.0" in result.output


def test_attended_accepts_words_and_extra_columns_are_kept(dataset):
    frame = read_table(dataset, "attendance")
    expected = frame["attended"].astype(int).tolist()
    words = {"1": ("Yes", "TRUE", "true", "1"), "0": ("No", "FALSE", "no", "0")}
    frame["attended"] = [words[v][i % 4] for i, v in enumerate(frame["attended"])]
    frame["note"] = "kept"
    write_table(dataset, "attendance", frame)
    data = mats_eval.load(dataset)
    assert data.attendance["attended"].tolist() == expected
    assert (data.attendance["note"] == "kept").all()


def test_optional_tables_absent_are_none(tmp_path):
    write_valid_dataset(tmp_path / "d", ratings=False, retrospective=False)
    data = mats_eval.load(tmp_path / "d")
    assert data.ratings is None and data.retrospective is None
    assert validate_cli(tmp_path / "d").exit_code == 0


def test_typed_columns_and_defaults(dataset):
    data = mats_eval.load(dataset)
    assert str(data.sessions["week"].dtype) == "int64"
    assert str(data.cohorts["n_weeks"].dtype) == "int64"
    assert str(data.sessions["hours"].dtype) == "float64"
    assert data.sessions["hours"].notna().all() and (data.sessions["hours"] == 1.0).any()
    assert str(data.attendance["attended"].dtype) == "int64"
    assert str(data.ratings["rating"].dtype) == "int64"
    assert data.sessions["speaker"].isna().any()  # blank optional cell -> NA
    assert data.source == dataset


def test_implied_attendance_is_added_and_counted(dataset):
    raw = build_valid_tables()["attendance"]
    kept = raw.iloc[1:]  # drop A-w1-0 / scholar-A01, which has a rating
    write_table(dataset, "attendance", kept)
    data = mats_eval.load(dataset)
    assert data.implied_attendance == 1
    assert len(data.attendance) == len(raw)
    result = validate_cli(dataset)
    assert result.exit_code == 0
    assert "1 rating(s) with no attendance row" in result.output


def test_parquet_in_place_of_csv(tmp_path):
    folder = tmp_path / "d"
    write_valid_dataset(folder, parquet=("sessions", "attendance"))
    csv_folder = tmp_path / "c"
    write_valid_dataset(csv_folder)
    from_parquet, from_csv = mats_eval.load(folder), mats_eval.load(csv_folder)
    pd.testing.assert_frame_equal(from_parquet.sessions, from_csv.sessions)
    pd.testing.assert_frame_equal(from_parquet.attendance, from_csv.attendance)
    assert "sessions.parquet" in from_parquet.input_hashes


def test_typed_parquet_with_nulls_is_accepted(dataset):
    frame = read_table(dataset, "sessions")
    typed = frame.assign(week=frame["week"].astype(int), hours=pd.to_numeric(frame["hours"]).astype(float))
    (dataset / "sessions.csv").unlink()
    typed.to_parquet(dataset / "sessions.parquet", index=False)
    assert mats_eval.load(dataset).sessions["hours"].notna().all()


# --------------------------------------------------------------------------- files


def test_missing_required_file(dataset):
    (dataset / "sessions.csv").unlink()
    assert_invalid(dataset, "sessions.csv:1:*")


def test_empty_file(dataset):
    (dataset / "scholars.csv").write_bytes(b"")
    assert_invalid(dataset, "scholars.csv:1:*")


def test_header_only_required_file(dataset):
    (dataset / "attendance.csv").write_text("session_id,scholar_id,attended\n")
    assert_invalid(dataset, "attendance.csv:2:*")


def test_non_utf8_bytes_are_located(dataset):
    path = dataset / "sessions.csv"
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"seminar", b"s\xe9minar", 1)  # latin-1 e-acute on line 2
    path.write_bytes(b"\n".join(lines))
    output = assert_invalid(dataset, "sessions.csv:2:kind")
    assert "UTF-8" in output


def test_csv_and_parquet_of_same_table(dataset):
    read_table(dataset, "sessions").to_parquet(dataset / "sessions.parquet", index=False)
    assert_invalid(dataset, "sessions.csv:1:*")


def test_violations_in_parquet_use_row_plus_two(dataset):
    frame = read_table(dataset, "sessions")
    frame.loc[3, "kind"] = "lecture"
    (dataset / "sessions.csv").unlink()
    frame.to_parquet(dataset / "sessions.parquet", index=False)
    assert_invalid(dataset, "sessions.parquet:5:kind")


def test_missing_required_column(dataset):
    write_table(dataset, "sessions", read_table(dataset, "sessions").drop(columns="week"))
    assert_invalid(dataset, "sessions.csv:1:week")


def test_row_with_too_many_cells(dataset):
    path = dataset / "scholars.csv"
    lines = path.read_text().split("\n")
    lines[3] += ",surplus"
    path.write_text("\n".join(lines))
    assert_invalid(dataset, "scholars.csv:4:*")


# --------------------------------------------------------------------------- cells: blanks, types, enums, ranges

CELL_CASES = [
    # (table, line, column, bad value) -> reported at exactly that place
    ("sessions", 2, "kind", ""),  # blank required cell
    ("attendance", 3, "scholar_id", ""),
    ("cohorts", 2, "cohort", ""),
    ("sessions", 2, "week", "two"),  # wrong types
    ("sessions", 2, "week", "2.5"),
    ("sessions", 4, "hours", "long"),
    ("sessions", 4, "hours", "nan"),
    ("cohorts", 3, "start_date", "June 2024"),
    ("attendance", 5, "attended", "maybe"),
    ("ratings", 2, "rating", "good"),
    ("cohorts", 2, "n_weeks", "53"),  # ranges
    ("cohorts", 2, "n_weeks", "0"),
    ("sessions", 2, "week", "0"),
    ("sessions", 2, "week", "5"),  # MATS 4.0 has 4 weeks
    ("sessions", 4, "hours", "0"),
    ("sessions", 4, "hours", "-1"),
    ("ratings", 2, "rating", "11"),  # MATS 4.0 scale is 1..10
    ("ratings", 2, "rating", "0"),
    ("retrospective", 2, "rating", "6"),  # retro scale 1..5
    ("sessions", 3, "kind", "lecture"),  # enums
    ("sessions", 3, "policy", "sometimes"),
    ("retrospective", 3, "element", "vibes"),
    ("retrospective", 3, "policy", "often"),
    ("scholars", 2, "archetype", "wizard"),
    ("scholars", 2, "cohort", "MATS 9.9"),  # unknown references
    ("sessions", 2, "cohort", "MATS 9.9"),
    ("attendance", 2, "session_id", "no-such-session"),
    ("attendance", 2, "scholar_id", "scholar-Z99"),
    ("ratings", 2, "session_id", "no-such-session"),
    ("ratings", 2, "scholar_id", "scholar-Z99"),
    ("retrospective", 2, "scholar_id", "scholar-Z99"),
    ("attendance", 2, "scholar_id", "scholar-B01"),  # cross-cohort: A session, B scholar
    ("ratings", 2, "scholar_id", "scholar-B01"),
]


@pytest.mark.parametrize("stem,line,column,value", CELL_CASES, ids=lambda v: str(v) or "blank")
def test_bad_cell_is_reported_at_its_place(dataset, stem, line, column, value):
    edit_cell(dataset, stem, line, column, value)
    assert_invalid(dataset, f"{stem}.csv:{line}:{column}")


def test_rating_outside_its_own_cohorts_scale(dataset):
    line = first_line_where(dataset, "ratings", session_id="B-w1-0")  # MATS 5.0: scale 1..7
    edit_cell(dataset, "ratings", line, "rating", "8")  # fine on MATS 4.0's 1..10 scale
    assert_invalid(dataset, f"ratings.csv:{line}:rating")


def test_week_within_its_own_cohorts_length(dataset):
    line = first_line_where(dataset, "sessions", cohort="MATS 5.0")  # 3 weeks
    edit_cell(dataset, "sessions", line, "week", "4")
    assert_invalid(dataset, f"sessions.csv:{line}:week")


def test_scale_min_not_below_max(dataset):
    edit_cell(dataset, "cohorts", 3, "session_scale_min", "7")
    assert_invalid(dataset, "cohorts.csv:3:session_scale_min")


def test_retro_scale_min_not_below_max(dataset):
    edit_cell(dataset, "cohorts", 3, "retro_scale_max", "1")
    assert_invalid(dataset, "cohorts.csv:3:retro_scale_min")


def test_retro_scale_half_given(dataset):
    edit_cell(dataset, "cohorts", 3, "retro_scale_max", "")
    assert_invalid(dataset, "cohorts.csv:3:retro_scale_max")


def test_retro_ratings_need_a_retro_scale(dataset):
    edit_cell(dataset, "cohorts", 2, "retro_scale_min", "")
    edit_cell(dataset, "cohorts", 2, "retro_scale_max", "")
    line = first_line_where(dataset, "retrospective", scholar_id="scholar-A01")
    output = assert_invalid(dataset, f"retrospective.csv:{line}:rating")
    assert "no retro scale" in output


def test_no_retro_scale_is_fine_without_retro_ratings(tmp_path):
    folder = tmp_path / "d"
    write_valid_dataset(folder, retrospective=False)
    edit_cell(folder, "cohorts", 2, "retro_scale_min", "")
    edit_cell(folder, "cohorts", 2, "retro_scale_max", "")
    assert mats_eval.load(folder).cohorts["retro_scale_min"].isna().sum() == 1


# --------------------------------------------------------------------------- duplicates and consistency


@pytest.mark.parametrize(
    "stem,key_column",
    [
        ("cohorts", "cohort"),
        ("scholars", "scholar_id"),
        ("sessions", "session_id"),
        ("attendance", "scholar_id"),  # pair (session_id, scholar_id)
        ("ratings", "scholar_id"),
        ("retrospective", "element"),  # pair (scholar_id, element)
    ],
)
def test_duplicate_key_reported_on_the_repeat(dataset, stem, key_column):
    row = read_table(dataset, stem).iloc[0].to_dict()
    line = append_row(dataset, stem, row)
    output = assert_invalid(dataset, f"{stem}.csv:{line}:{key_column}")
    assert "duplicate" in output and "first on line 2" in output


def test_every_repeat_of_a_key_is_reported_with_its_first_line(dataset):
    sessions = read_table(dataset, "sessions")
    first, second = sessions.iloc[0].to_dict(), sessions.iloc[1].to_dict()
    lines = [append_row(dataset, "sessions", row) for row in (first, second, first)]
    output = assert_invalid(dataset, *(f"sessions.csv:{line}:session_id" for line in lines))
    assert output.count("duplicate session_id") == 3
    assert f"sessions.csv:{lines[1]}:session_id: duplicate session_id {first['session_id']!r}" not in output
    assert "(first on line 3)" in output and output.count("(first on line 2)") == 2


def test_duplicate_private_key_names_no_id(dataset):
    row = read_table(dataset, "scholars").iloc[0].to_dict()
    line = append_row(dataset, "scholars", row)
    output = assert_invalid(dataset, f"scholars.csv:{line}:scholar_id")
    assert "duplicate scholar_id (first on line 2)" in output and row["scholar_id"] not in output


def test_rating_from_pair_recorded_absent(dataset):
    attendance = read_table(dataset, "attendance")
    absent = attendance[attendance["attended"] == "0"].iloc[0]
    line = append_row(dataset, "ratings", {"session_id": absent["session_id"], "scholar_id": absent["scholar_id"], "rating": "3"})
    assert_invalid(dataset, f"ratings.csv:{line}:rating")


# --------------------------------------------------------------------------- reporting


def test_every_violation_collected_across_files(dataset):
    edit_cell(dataset, "sessions", 2, "kind", "lecture")
    edit_cell(dataset, "scholars", 3, "archetype", "wizard")
    edit_cell(dataset, "ratings", 4, "rating", "x")
    with pytest.raises(ValidationError) as caught:
        mats_eval.load(dataset)
    found = {v.split(": ")[0] for v in caught.value.violations}
    assert found == {"scholars.csv:3:archetype", "sessions.csv:2:kind", "ratings.csv:4:rating"}


def test_more_than_50_violations_prints_50_and_a_count(dataset):
    frame = read_table(dataset, "attendance")
    frame["attended"] = "maybe"  # 70 bad cells
    write_table(dataset, "attendance", frame)
    output = assert_invalid(dataset, "attendance.csv:2:attended")
    assert sum(": not 0/1" in line for line in output.splitlines()) == 50
    assert f"... and {len(frame) - 50} more" in output


def test_messages_do_not_echo_scholar_ids(dataset):
    edit_cell(dataset, "attendance", 2, "scholar_id", "scholar-Z99")
    append_row(dataset, "scholars", {"scholar_id": "scholar-A02", "cohort": "MATS 4.0"})
    output = assert_invalid(dataset, "attendance.csv:2:scholar_id", "scholars.csv:14:scholar_id")
    assert "scholar-Z99" not in output and "scholar-A02" not in output


# --------------------------------------------------------------------------- topics (contract §6)


def test_topic_is_a_stream_or_general_or_blank(dataset):
    sessions = read_table(dataset, "sessions")
    sessions["topic"] = ["interp", "general", ""] * (len(sessions) // 3) + ["evals"] * (len(sessions) % 3)
    write_table(dataset, "sessions", sessions)
    data = mats_eval.load(dataset)
    assert data.has_topics
    assert data.sessions["topic"].isna().sum() == len(sessions) // 3  # blank: concerns everyone


def test_unknown_topic_is_located_and_names_the_streams(dataset):
    sessions = read_table(dataset, "sessions")
    sessions["topic"] = "general"
    write_table(dataset, "sessions", sessions)
    edit_cell(dataset, "sessions", 3, "topic", "astrology")
    output = assert_invalid(dataset, "sessions.csv:3:topic")
    assert "'evals'" in output and "'interp'" in output and "'general'" in output


def test_data_without_topics_has_none(dataset):
    data = mats_eval.load(dataset)
    assert not data.has_topics and data.sessions["topic"].isna().all()
