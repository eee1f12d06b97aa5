"""Power-scaling sensitivity (checks/sensitivity.py): the rule on known cases, and sensitivity.csv of a fit."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mats_eval.checks.sensitivity import (
    DIAGNOSES, SENSITIVITY_COLUMNS, diagnose, power_scaling_sensitivity, prior_influence, prior_influential, sensitivity_table, thin_index,
)
from mats_eval.simulation.scenarios import simulate

REQUIRED = ["estimand", "prior_sensitivity", "likelihood_sensitivity", "diagnosis", "prior_dominated"]


def normal_case(prior_sd: float, lik_mean: float, lik_sd: float, n: int = 4000, seed: int = 0):
    """Exact posterior draws of θ under prior N(0, prior_sd) and a normal likelihood N(lik_mean, lik_sd) in θ,
    with the log prior and log likelihood at them."""
    precision = 1 / prior_sd**2 + 1 / lik_sd**2
    mean = (lik_mean / lik_sd**2) / precision
    theta = np.random.default_rng(seed).normal(mean, precision**-0.5, n)
    return theta, stats.norm.logpdf(theta, 0, prior_sd), stats.norm.logpdf(theta, lik_mean, lik_sd)


@pytest.mark.parametrize("prior_sd, lik_mean, lik_sd, expected", [
    (0.1, 0.0, 10.0, DIAGNOSES["prior"]),     # the data say almost nothing: the prior is the posterior
    (10.0, 1.0, 0.1, DIAGNOSES["ok"]),        # a vague prior: the data decide
    (0.3, 3.0, 0.3, DIAGNOSES["conflict"]),   # prior and data disagree, each as sure as the other
])
def test_known_cases_get_priorsense_diagnoses(prior_sd, lik_mean, lik_sd, expected):
    theta, log_prior, log_lik = normal_case(prior_sd, lik_mean, lik_sd)
    n = len(theta)
    noise = np.random.default_rng(1).normal(size=n)  # an estimand the model does not touch
    table = sensitivity_table({"theta": theta, "unrelated": noise}, log_prior, log_lik, n, np.arange(n))
    rows = table.set_index("estimand")
    assert rows.loc["theta", "diagnosis"] == expected
    assert bool(rows.loc["theta", "prior_dominated"]) == (expected == DIAGNOSES["prior"])
    assert rows.loc["unrelated", "diagnosis"] == DIAGNOSES["ok"]  # chance alone is not sensitivity


def test_unreliable_weights_are_said_so():
    assert diagnose(True, False, pareto_k=0.81).startswith("unreliable (Pareto k 0.81")
    assert diagnose(True, False, pareto_k=0.3) == DIAGNOSES["prior"]
    assert diagnose(False, True, pareto_k=0.3) == DIAGNOSES["ok"]


def test_thinning_lines_up_with_the_volume_optimum_draws():
    from mats_eval.estimands.kernels import CURVE_DRAWS, thinned

    n = 3 * CURVE_DRAWS
    p = {"attendance_intercept": np.arange(n, dtype=float)}
    assert np.array_equal(thinned(p, CURVE_DRAWS)["attendance_intercept"], thin_index(n).astype(float))


@pytest.fixture(scope="module")
def tiny():
    return simulate("mats-history", seed=3, scale=0.15).program_data()


def test_strong_prior_is_flagged_in_sensitivity_csv(tiny, tmp_path):
    import mats_eval

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mats_eval.fit(tiny, model="ratings", out=tmp_path / "run", draws=150, tune=150, chains=2, seed=1,
                               progress=False,
                               priors={"rating_mandatory": {"dist": "Normal", "mu": 0.0, "sigma": 0.01}})
    table = pd.read_csv(tmp_path / "run" / "sensitivity.csv")
    assert list(table.columns) == SENSITIVITY_COLUMNS and set(REQUIRED) <= set(table.columns)
    assert list(table["estimand"]) == list(result.effects["estimand"])  # one row per estimand
    row = table.set_index("estimand").loc["mandatory_minus_optional_rating"]
    assert row["prior_sensitivity"] >= 0.05 and row["diagnosis"] != DIAGNOSES["ok"]
    assert "mandatory_minus_optional_rating" in result.diagnostics["prior_dominated"] or \
        row["diagnosis"] == DIAGNOSES["conflict"]


def test_default_priors_dominate_the_cohort_sd_only():
    """Three cohorts cannot inform their spread: the prior moves cohort_sd_rating, not the policy effect.
    (`null`: three cohorts the ratings model describes fully; on mats-history, whose sessions have topics,
    the ratings model leaves relevance out and the check rightly reports conflicts.) Whether the cohort
    sd's row reads 'prior dominates' or 'prior-data conflict' is not asserted: it turns on a likelihood
    sensitivity of the size of its own permutation noise (0.37 against 0.36 with seed 1 since the
    cutpoints' reparametrisation, 0.17 against 0.29 with seed 2), so the report names both
    (`prior_influential`)."""
    import mats_eval
    from mats_eval.models import model_priors

    data = simulate("null", seed=3, scale=0.15).program_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # 2 x 1000 draws: the prior's permutation noise ~0.04 against a cohort-sd sensitivity ~0.35
        result = mats_eval.fit(data, model="ratings", draws=1000, tune=500, chains=2, seed=1, progress=False,
                               checks=False)
    assert result.sensitivity is None  # study fits do not pay for it
    table = power_scaling_sensitivity(result.model, result.idata, model_priors("ratings"), result.estimand_draws)
    rows = table.set_index("estimand")
    moved = prior_influential(table)
    assert {"cohort_sd_rating", "cohort_spread_rating_points"} <= set(moved)  # the same spread, in points
    assert rows.loc["cohort_sd_rating", "prior_sensitivity"] > 0.2
    assert rows.loc["mandatory_minus_optional_rating", "diagnosis"] == DIAGNOSES["ok"]
    assert "mandatory_minus_optional_rating" not in moved


def test_too_few_draws_give_rows_that_say_so():
    theta, log_prior, log_lik = normal_case(1.0, 0.0, 1.0, n=12)
    table = sensitivity_table({"theta": theta}, log_prior, log_lik, 12, np.arange(12))
    assert len(table) == 1 and table["diagnosis"].iloc[0].startswith("not computed")
    assert not table["prior_dominated"].iloc[0]


def test_sensitivities_of_many_rows_at_once_equal_arviz_stats_power_scale_sense():
    """The batched CJS sensitivity (the estimand and its noise permutations at once) equals arviz-stats'
    power_scale_sense row by row, ties in the draws included."""
    from arviz_stats.base.array import array_stats

    from mats_eval.checks.sensitivity import ALPHAS, scaled_weights, sensitivities

    theta, log_prior, _ = normal_case(0.3, 1.0, 0.5, n=500, seed=4)
    weights, _ = scaled_weights(log_prior)
    rng = np.random.default_rng(0)
    rows = np.stack([theta, rng.permutation(theta), np.round(theta, 1), -theta])  # row 2 has ties
    ours = sensitivities(rows, weights)
    theirs = [float(array_stats.power_scale_sense(r[None, :], weights[0][None, :], weights[1][None, :], *ALPHAS))
              for r in rows]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert ours[0] > 0.05 > ours[1]  # the prior moves θ; shuffled against the weights it does not


def test_prior_influential_names_dominated_and_conflicting_rows_only():
    table = pd.DataFrame({"estimand": ["a", "b", "c", "d"],
                          "diagnosis": [DIAGNOSES["prior"], DIAGNOSES["conflict"], DIAGNOSES["ok"],
                                        "unreliable (Pareto k 0.90 > 0.7: refit with the scaled prior to be sure)"]})
    assert prior_influential(table) == ["a", "b"]
    assert prior_influential(None) == [] and prior_influential(table.iloc[:0]) == []


def test_prior_influence_keeps_apart_what_chance_could_have_made():
    """An estimand counts as clearly moved only if its prior sensitivity, less its chance level,
    still reaches the threshold: data/example's cohort sd (0.35 against 0.066) is clear, its volume
    slope (0.057 against 0.036) is not, and a row the prior does not move is in neither list."""
    table = pd.DataFrame({"estimand": ["cohort_sd_rating", "volume_slope_rating", "attendance_week_slope", "x"],
                          "prior_sensitivity": [0.35, 0.057, 0.043, 0.30],
                          "prior_noise": [0.066, 0.036, 0.047, np.nan],
                          "diagnosis": [DIAGNOSES["prior"], DIAGNOSES["prior"], DIAGNOSES["ok"], DIAGNOSES["conflict"]]})
    assert prior_influence(table) == (["cohort_sd_rating", "x"], ["volume_slope_rating"])
    assert prior_influence(table.drop(columns="prior_noise")) == (["cohort_sd_rating", "volume_slope_rating", "x"], [])
    assert prior_influence(None) == ([], [])
