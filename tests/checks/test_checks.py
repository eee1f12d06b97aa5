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
    """Over five datasets (one alone can land near zero by chance), optional sessions look better every
    time and clearly so on average, though the truth is 0."""
    rows = []
    for seed in range(1, 6):
        data = simulate("selection", seed=seed)
        assert data.truth["mandatory_minus_optional_rating"] == 0.0
        (row,) = naive_policy_difference(data.program_data())
        assert row["method"] == "naive_raw_means" and row["note"] == ""
        rows.append(row)
    estimates = np.array([r["estimate"] for r in rows])
    pooled_se = np.sqrt(np.mean([r["se"] ** 2 for r in rows]) / len(rows))
    assert (estimates < 0).all() and estimates.mean() < -3 * pooled_se, rows


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


def test_fixed_effects_logit_equals_the_dummy_glm():
    """The Schur-complement Newton gives the scholar-dummy GLM's coefficients without the dummies."""
    import statsmodels.api as sm

    from mats_eval.checks.crosscheck import fit_fixed_effects_logit

    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(40), 30)
    X = rng.normal(size=(len(group), 2))
    y = (rng.uniform(size=len(group)) < 1 / (1 + np.exp(-(rng.normal(size=40)[group] + X @ [0.8, -0.5])))).astype(float)
    beta, se, converged = fit_fixed_effects_logit(X, y, group, clusters=np.arange(len(y)))
    dummies = (group[:, None] == np.arange(40)).astype(float)
    glm = sm.GLM(y, np.column_stack([X, dummies]), family=sm.families.Binomial()).fit()
    assert converged
    np.testing.assert_allclose(beta, glm.params[:2], atol=1e-6)
    robust = sm.GLM(y, np.column_stack([X, dummies]), family=sm.families.Binomial()).fit(cov_type="HC0")
    np.testing.assert_allclose(se, robust.bse[:2], rtol=0.02)  # one row per cluster: HC0 up to n/(n−1)


def test_model_on_check_scale_attenuates_by_the_left_out_effects():
    from mats_eval.checks.crosscheck import ATTENUATION_C2, model_on_check_scale

    params = {"rating_mandatory": np.full(4, -0.6), "rating_scholar_sd": np.full(4, 1.0),
              "rating_speaker_sd": np.full(4, 0.5), "attendance_volume": np.array([0.1, 0.3]),
              "attendance_session_sd": np.zeros(2)}
    mean, sd = model_on_check_scale(params, "rating_mandatory_latent", "ordered_logit")
    assert mean == pytest.approx(-0.6 / np.sqrt(1 + ATTENUATION_C2 * 1.25)) and sd == pytest.approx(0.0)
    assert model_on_check_scale(params, "volume_slope_attendance", "glm_binomial_scholar_fe")[0] == pytest.approx(0.2)
    assert np.isnan(model_on_check_scale(params, "mandatory_minus_optional_rating", "naive_raw_means")[0])


def test_within_size_keeps_whole_scholars_and_says_so(identified):
    from mats_eval.checks.crosscheck import within_size

    data = identified.program_data()
    same, note = within_size(data, max_rows=10**9)
    assert same is data and note == ""
    rows = len(data.attendance) + len(data.ratings)
    half, note = within_size(data, max_rows=rows // 2)
    kept = set(half.scholars["scholar_id"])
    assert 0.4 < len(kept) / len(data.scholars) < 0.6 and "random" in note
    assert set(half.attendance["scholar_id"]) <= kept and set(half.ratings["scholar_id"]) <= kept
    # a scholar kept keeps all of their rows
    some = next(iter(kept))
    assert (half.attendance["scholar_id"] == some).sum() == (data.attendance["scholar_id"] == some).sum()


def test_crosscheck_costs_seconds_at_real_world_size():
    """75,000 ratings by 3,000 scholars (and as many attendance rows): well under a minute."""
    import time

    from mats_eval.checks.crosscheck import fit_fixed_effects_logit, fit_ordered_logit

    rng = np.random.default_rng(1)
    n, scholars = 75_000, 3_000
    group = rng.integers(0, scholars, n)
    X = np.column_stack([rng.integers(0, 2, n), rng.uniform(1, 8, n), rng.integers(0, 10, n),
                         *(rng.integers(0, 2, (6, n)))]).astype(float)
    eta = rng.normal(size=scholars)[group] + X @ np.r_[-0.3, -0.05, -0.1, np.zeros(6)]
    start = time.perf_counter()
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    varies = np.bincount(group, y, scholars)[group] % np.bincount(group, minlength=scholars)[group] > 0
    beta, _, ok = fit_fixed_effects_logit(X[varies], y[varies], np.unique(group[varies], return_inverse=True)[1],
                                          clusters=rng.integers(0, 5_000, varies.sum()))
    codes = np.digitize(eta + rng.logistic(size=n), [-2, -1, 0, 1, 2])
    beta_r, _, ok_r = fit_ordered_logit(X, codes, group)
    assert ok and ok_r
    assert abs(beta[0] + 0.3) < 0.1 and abs(beta_r[0] + 0.3 / np.sqrt(1 + 0.346)) < 0.1
    assert time.perf_counter() - start < 30
