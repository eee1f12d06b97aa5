"""Predictive checks, LOO and `mats-eval compare`; the extra files a run folder carries."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mats_eval
from mats_eval.checks import predictive as ppc
from mats_eval.cli import app
from mats_eval.simulation.scenarios import simulate

TINY = dict(draws=150, tune=150, chains=2, progress=False)


@pytest.fixture(scope="module")
def tiny_data():
    return simulate("identified", seed=5, scale=0.1).program_data()


@pytest.fixture(scope="module")
def two_runs(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny fits fail the gate; that is not what is tested here
        mats_eval.fit(tiny_data, model="ratings", out=root / "wide", seed=1, **TINY)
        mats_eval.fit(tiny_data, model="ratings", out=root / "tight", seed=1,
                      priors={"rating_mandatory": {"sigma": 0.05}}, **TINY)
    return root / "wide", root / "tight"


def test_band_summaries_are_exact_on_a_toy_design():
    class D:  # three observations: cohort A week 1 optional (2 obs), cohort A week 2 mandatory
        coords = {"cohort": ["A"]}
        att_session = np.array([0, 0, 1])
        session_cohort = np.array([0, 0])
        session_week0 = np.array([0.0, 1.0])
        session_mandatory = np.array([0.0, 1.0])
    sims = np.array([[1, 0, 1], [1, 1, 1], [0, 0, 0], [1, 0, 0]])
    table = ppc.attendance_by_week(D, np.array([1, 0, 1]), sims)
    assert list(table["policy"]) == ["optional", "mandatory"]
    assert table.loc[0, "observed"] == 0.5
    assert table.loc[0, "predicted_mean"] == pytest.approx(np.mean([0.5, 1.0, 0.0, 0.5]))
    dist = ppc.rating_distribution(np.array([0, 1, 1]), np.array([[0, 1, 1], [1, 1, 1]]), np.array([0.0, 0.0, 1.0]),
                                   np.zeros(3, int), [(1, 2)])
    opt = dist[dist["policy"] == "optional"].set_index("rating")
    assert opt.loc[1, "observed"] == 0.5 and opt.loc[2, "predicted_mean"] == pytest.approx(0.75)


@pytest.mark.slow
def test_run_folder_has_checks_loo_crosscheck_identification(two_runs):
    run = two_runs[0]
    names = {p.name for p in (run / "checks").iterdir()}
    for table in ("rating_distribution",):
        for which in ("prior", "posterior"):
            assert f"{which}_{table}.csv" in names and f"{which}_{table}.png" in names
    post = pd.read_csv(run / "checks" / "posterior_rating_distribution.csv")
    assert {"scale", "policy", "rating", "observed", "predicted_low", "predicted_high"} <= set(post.columns)
    assert post.groupby(["scale", "policy"])["observed"].sum().round(6).eq(1).all()
    loo = pd.read_csv(run / "loo.csv")
    assert list(loo["variable"]) == ["rating"] and np.isfinite(loo["elpd_loo"]).all()
    assert {"pareto_k_max", "n_k_above_0_7", "warning"} <= set(loo.columns)
    cross = pd.read_csv(run / "crosscheck.csv")
    assert {"estimand", "method", "estimate", "se"} <= set(cross.columns)
    assert "naive_raw_means" in set(cross["method"])
    diag = json.loads((run / "diagnostics.json").read_text())
    assert diag["identification"]["sessions"]["verdict"] == "identified"
    assert diag["confounded"] is False
    assert "loo" in diag
    effects = pd.read_csv(run / "effects.csv", keep_default_na=False)
    assert "note" in effects.columns
    assert effects.set_index("estimand").loc["mandatory_minus_optional_rating", "note"].startswith("identified")


@pytest.mark.slow
def test_compare_command(two_runs):
    result = CliRunner().invoke(app, ["compare", *map(str, two_runs)])
    assert result.exit_code == 0, result.output
    assert "== rating" in result.output and "wide" in result.output and "tight" in result.output
    tables = ppc.compare_runs(two_runs)
    assert set(tables) == {"rating"}
    assert set(tables["rating"].index) == {"wide", "tight"}


def test_compare_refuses_single_run(tmp_path):
    result = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2


def _log_likelihoods(chains: int, draws: int, n_obs: int, seed: int) -> np.ndarray:
    """(chains, draws, n_obs) log-likelihoods with tails from thin to heavy: observation i's log
    density is a unit normal's at a point 0 to 6 sds out, under a Student-t spread of the mean."""
    rng = np.random.default_rng(seed)
    theta = 0.2 * rng.standard_t(5, size=(chains, draws, 1))
    outlier = np.linspace(0, 6, n_obs)
    return -0.5 * (outlier - theta) ** 2 - 0.5 * np.log(2 * np.pi)


@pytest.mark.parametrize("chains, draws, n_obs, r_eff, k_range", [
    (2, 400, 40, 1.0, (0.5, 0.7)), (2, 1000, 25, 0.37, (0.5, 0.7)),
    (1, 60, 10, 1.0, (0.1, 0.4))])  # S·r_eff ≤ 225: the tail is S/5 draws
def test_vectorised_psis_loo_agrees_with_arviz_stats(chains, draws, n_obs, r_eff, k_range):
    """elpd_i, Pareto k, p_loo and the totals equal arviz-stats' own loo (observation by observation)."""
    import arviz_stats as azs
    import xarray as xr

    log_lik = _log_likelihoods(chains, draws, n_obs, seed=draws)
    tree = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"theta": (("chain", "draw"), log_lik[..., 0])}),
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "y_obs"), log_lik)})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = azs.loo(tree, var_name="y", pointwise=True, reff=r_eff)
    got = ppc.psis_loo(log_lik.reshape(chains * draws, n_obs), r_eff)
    k = np.asarray(expected.pareto_k.values)
    assert k.min() < k_range[0] and k.max() > k_range[1]  # thin and heavy tails both tested
    np.testing.assert_allclose(got["pareto_k"], k, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got["elpd_i"], expected.elpd_i.values, rtol=1e-8, atol=1e-10)
    for ours, theirs in (("elpd", "elpd"), ("se", "se"), ("p_loo", "p")):
        np.testing.assert_allclose(got[ours], getattr(expected, theirs), rtol=1e-8)
    assert got["good_k"] == pytest.approx(expected.good_k)


def test_psis_loo_refuses_too_few_draws_like_arviz():
    with pytest.raises(ValueError, match="at least 5"):
        ppc.psis_loo(_log_likelihoods(1, 20, 3, seed=0).reshape(20, 3))
