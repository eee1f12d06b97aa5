"""Parameter recovery: on simulated data with known truth, every estimand the
model defines lies within 3 posterior sds of the truth (fixed seeds, small data)."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import mats_eval
from mats_eval.simulation.scenarios import simulate

FIT = dict(draws=400, tune=400, chains=2, seed=3, progress=False)


def _fit(data, model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the gate may fail on such short chains; recovery is what we test
        return mats_eval.fit(data, model=model, **FIT)


def _assert_recovered(result, truth):
    effects = result.effects.set_index("estimand")
    checked = [name for name in effects.index if name in truth]
    assert checked, "no estimand to check"
    for name in checked:
        row = effects.loc[name]
        assert abs(row["mean"] - truth[name]) <= 3 * row["sd"], (name, row["mean"], row["sd"], truth[name])
    return checked


@pytest.fixture(scope="module")
def identified():
    return simulate("identified", seed=11, scale=0.3)


@pytest.mark.slow
def test_attendance_recovery(identified):
    result = _fit(identified.program_data(), "attendance")
    checked = _assert_recovered(result, identified.truth)
    assert {"attendance_week_slope", "attendance_first_week", "attendance_last_week",
            "volume_slope_attendance", "attendance_half_life_weeks", "mandatory_minus_optional_attendance"
            } <= set(checked)
    # the registry's estimands of issue 14/16: their truth lies inside the reported 90% interval too
    effects = result.effects.set_index("estimand")
    for name in ("attendance_half_life_weeks", "mandatory_minus_optional_attendance"):
        row = effects.loc[name]
        assert row["hdi_low"] <= identified.truth[name] <= row["hdi_high"], (name, row.to_dict(),
                                                                             identified.truth[name])
    assert effects.loc["attendance_half_life_weeks", "interval"] == "90% equal-tailed"


@pytest.mark.slow
def test_ratings_recovery_with_cohorts_on_different_scales(identified):
    """Cohort C's 1..10 ratings collapsed to 1..5 (r -> ceil(r/2)).

    Merging adjacent categories of an ordered logistic is again an ordered logistic
    (with every other cutpoint), so the data still come from the model, now with
    two scales; the reference scale stays 1..10, so the truth is unchanged.
    """
    data = identified.program_data()
    cohorts = data.cohorts.copy()
    is_c = cohorts["cohort"] == "Cohort C"
    cohorts.loc[is_c, "session_scale_max"] = 5
    c_sessions = set(data.sessions.loc[data.sessions["cohort"] == "Cohort C", "session_id"])
    ratings = data.ratings.copy()
    in_c = ratings["session_id"].isin(c_sessions)
    ratings.loc[in_c, "rating"] = np.ceil(ratings.loc[in_c, "rating"] / 2).astype(int)
    two_scales = dataclasses.replace(data, cohorts=cohorts, ratings=ratings)

    result = _fit(two_scales, "ratings")
    post = result.idata["posterior"]
    assert "rating_cutpoints_1_5" in post and "rating_cutpoints_1_10" in post
    checked = _assert_recovered(result, identified.truth)
    assert {"mandatory_minus_optional_rating", "volume_slope_rating", "cohort_sd_rating"} <= set(checked)


@pytest.mark.slow
@pytest.mark.parametrize("truth", [0.3, 0.0])
def test_rating_session_sd_recovered(truth, monkeypatch):
    """The sd of session effects on ratings, at the simulator's default (0.3) and at none: the truth
    lies within 3 posterior sds; with effects the 90% interval holds the truth and stays clear of 0,
    without them it stays below 0.4 (one fixed seed, a third of the scholars)."""
    from mats_eval.simulation.scenarios import SCENARIOS

    make = SCENARIOS["identified"]

    def with_truth(rng):
        scenario = make(rng)
        return dataclasses.replace(scenario, params={**scenario.params, "rating_session_sd": truth})

    monkeypatch.setitem(SCENARIOS, "identified", with_truth)
    data = simulate("identified", seed=11, scale=0.3)
    draws = _fit(data.program_data(), "ratings").idata["posterior"]["rating_session_sd"].values.ravel()
    assert data.parameters["rating_session_sd"] == truth
    assert abs(draws.mean() - truth) <= 3 * draws.std(), (draws.mean(), draws.std(), truth)
    low, high = np.quantile(draws, [0.05, 0.95])
    if truth > 0:
        assert low > 0.05 and low <= truth <= high, (low, high)  # the data show session effects
    else:
        assert high < 0.4, high  # and do not invent large ones
