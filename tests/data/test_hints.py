"""A required column that is missing gets a hint: a semicolon-separated file, or the near-miss header."""
from __future__ import annotations

import pytest

import mats_eval
from datasets import read_table, write_table, write_valid_dataset
from mats_eval.errors import ValidationError


def errors_of(folder) -> str:
    with pytest.raises(ValidationError) as caught:
        mats_eval.load(folder)
    return str(caught.value)


def test_semicolon_separated_file_gets_a_delimiter_hint(tmp_path):
    write_valid_dataset(tmp_path)
    cohorts = read_table(tmp_path, "cohorts")
    (tmp_path / "cohorts.csv").write_text(cohorts.to_csv(index=False, sep=";"), encoding="utf-8")
    message = errors_of(tmp_path)
    assert "cohorts.csv:1:n_weeks: required column is missing" in message
    assert "semicolon-separated" in message


@pytest.mark.parametrize("typed", ["scholar id", "Scholar_ID", "scholarid"])
def test_mistyped_header_gets_the_closest_expected_name(tmp_path, typed):
    write_valid_dataset(tmp_path)
    scholars = read_table(tmp_path, "scholars").rename(columns={"scholar_id": typed})
    write_table(tmp_path, "scholars", scholars)
    message = errors_of(tmp_path)
    assert f"scholars.csv:1:scholar_id: required column is missing; did you mean the column {typed!r}?" in message


def test_no_hint_when_nothing_is_close(tmp_path):
    write_valid_dataset(tmp_path)
    scholars = read_table(tmp_path, "scholars").drop(columns=["cohort"])
    write_table(tmp_path, "scholars", scholars)
    message = errors_of(tmp_path)
    assert "scholars.csv:1:cohort: required column is missing" in message
    assert "did you mean" not in message.split("scholars.csv:1:cohort")[1].splitlines()[0]
