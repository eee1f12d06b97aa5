"""Frequentist cross-checks: recovery on identified data, naive bias under selection, guards."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mats_eval.checks.crosscheck import COLUMNS, crosscheck, guard_note, independent_columns, naive_policy_difference
from mats_eval.simulation.scenarios import simulate

TRUE_PARAMETER = {  # cross-check estimand -> canonical parameter it estimates
    "attendance_week_slope": "attendance_week_slope",
    "volume_slope_attendance": "attendance_volume",
    "rating_mandatory_latent": "rating_mandatory",
    "volume_slope_rating": "rating_volume",
}


@pytest.fixture(scope="module")
def identified():
    return simulate("identified", seed=2, scale=1.0)


def test_estimates_within_three_se_of_truth(identified):
    table = crosscheck(identified.program_data())
    assert list(table.columns) == COLUMNS
    rows = table.set_index("estimand")
    for estimand, parameter in TRUE_PARAMETER.items():
        row = rows.loc[estimand]
        assert row["note"] == "", (estimand, row["note"])
        truth = identified.parameters[parameter]
        assert abs(row["estimate"] - truth) < 3 * row["se"], (estimand, row["estimate"], row["se"], truth)
        assert 0 < row["se"] < 0.2


def test_naive_difference_flatters_optional_sessions_under_selection():
    data = simulate("selection", seed=4)
    assert data.truth["mandatory_minus_optional_rating"] == 0.0
    (row,) = naive_policy_difference(data.program_data())
    assert row["method"] == "naive_raw_means" and row["note"] == ""
    assert row["estimate"] < -3 * row["se"], row  # optional looks clearly better, though the truth is 0


def test_policy_effect_is_flagged_when_confounded_with_cohort():
    table = crosscheck(simulate("confounded", seed=1, scale=0.4).program_data()).set_index("estimand")
    row = table.loc["rating_mandatory_latent"]
    assert np.isnan(row["estimate"]) and "not identified" in row["note"]
    assert table.loc["volume_slope_rating", "note"] == ""


def test_independent_columns_drops_spanned_columns_in_order():
    X = pd.DataFrame({"a": [1.0, 0, 1, 0], "b": [0.0, 1, 0, 1], "c": [1.0, 1, 1, 1], "d": [1.0, 2, 3, 4]})
    assert independent_columns(X) == ["a", "b", "d"]  # c = a + b
    assert independent_columns(X, start=["c"]) == ["a", "d"]  # with c first, b = c − a


def test_guard_note_flags_suspect_fits():
    assert guard_note(-0.2, 0.05, True) == ""
    assert guard_note(-0.2, 0.05, False) == "not converged"
    assert "10239" in guard_note(0.0, 0.05, True)
    assert "non-finite" in guard_note(np.nan, 0.05, True)
