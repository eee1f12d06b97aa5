"""calibration: rank statistics on cases with known answers, and a tiny SBC run."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mats_eval.studies.calibration import (chi_square_uniformity, ecdf_uniformity, rank_of_truth, thin, uniformity_table,
                                   wilson_interval)

L = 99  # thinned draws: ranks 0..99, 100 values


def conjugate_ranks(reps: int, bias: float = 0.0, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    """μ ~ N(0,1), y_1..n ~ N(μ,1): exact posterior N(Σy/(n+1), 1/(n+1)); draws from a shifted/scaled 'posterior'."""
    rng = np.random.default_rng(seed)
    n = 5
    ranks = []
    for _ in range(reps):
        mu = rng.normal()
        y = rng.normal(mu, 1.0, n)
        post_mean, post_sd = y.sum() / (n + 1), np.sqrt(1 / (n + 1))
        draws = rng.normal(post_mean + bias * post_sd, scale * post_sd, L)
        ranks.append(rank_of_truth(mu, draws))
    return np.array(ranks)


def test_exact_posterior_gives_uniform_ranks():
    ranks = conjugate_ranks(1000)
    assert ranks.min() >= 0 and ranks.max() <= L
    table = uniformity_table(pd.DataFrame({"mu": ranks}), n_ranks=L + 1)
    assert table.loc[0, "uniform"], table
    assert table.loc[0, "p_chi2"] > 0.01 and table.loc[0, "p_ecdf"] > 0.01


@pytest.mark.parametrize("bias, scale", [(1.0, 1.0), (0.0, 0.5), (0.0, 2.0)])
def test_wrong_posterior_is_detected(bias, scale):
    ranks = conjugate_ranks(1000, bias=bias, scale=scale)
    _, p_chi2 = chi_square_uniformity(ranks, L + 1)
    _, p_ecdf = ecdf_uniformity(ranks, L + 1)
    assert p_chi2 < 0.001 and p_ecdf < 0.01


def test_ecdf_deviation_is_the_largest_gap_to_the_uniform_cdf():
    ranks = np.array([0, 0, 0, 3])  # n_ranks = 4: F̂ = (3/4, 3/4, 3/4, 1) against (1/4, 1/2, 3/4, 1)
    deviation, p = ecdf_uniformity(ranks, 4)
    assert deviation == pytest.approx(0.5) and 0 <= p <= 1


def test_rank_counts_draws_below_truth():
    assert rank_of_truth(0.5, [0.1, 0.2, 0.9]) == 2
    assert rank_of_truth(-1.0, [0.1, 0.2]) == 0
    assert rank_of_truth(1.0, [0.1, 0.2]) == 2
    tied = [rank_of_truth(1.0, [1.0, 1.0], np.random.default_rng(s)) for s in range(50)]
    assert set(tied) == {0, 1, 2}


def test_thin_spreads_over_chains():
    draws = np.arange(2 * 500).reshape(2, 500)
    kept = thin(draws, 100)
    assert len(kept) == 100 and len(set(kept)) == 100
    assert (kept < 500).sum() == 50  # half from each chain
    assert list(thin(draws, 4)) == [0, 500, 250, 750]  # every 250th draw of each chain, chains interleaved
    with pytest.raises(ValueError):
        thin(draws, 2000)


def test_uneven_bins_have_exact_expected_counts():
    # 101 rank values into 10 bins: a perfectly flat histogram must give chi2 = 0
    ranks = np.arange(101).repeat(3)
    chi2, p = chi_square_uniformity(ranks, 101, bins=10)
    assert chi2 == pytest.approx(0.0) and p == pytest.approx(1.0)


def test_wilson_interval_brackets_share():
    lo, hi = wilson_interval(90, 100)
    assert lo < 0.9 < hi and 0.8 < lo and hi < 0.96


@pytest.mark.parametrize("successes, n", [(0, 1), (0, 20), (3, 20), (90, 100), (100, 100), (417, 1000)])
def test_wilson_interval_is_the_closed_form(successes, n):
    z, p = 1.96, successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    lo, hi = wilson_interval(successes, n)
    assert abs(lo - max(centre - half, 0.0)) < 1e-12 and abs(hi - min(centre + half, 1.0)) < 1e-12
    assert np.isnan(wilson_interval(0, 0)).all()


@pytest.mark.slow
def test_tiny_sbc_run_writes_its_files(tmp_path):
    from mats_eval.studies.calibration import sbc

    result = sbc("ratings", reps=3, out=tmp_path, scale=0.1, draws=60, tune=100, chains=1, thin_to=50,
                 workers=0, progress=False)
    assert result.failed == 0 and len(result.ranks) == 3
    for name in ("ranks.csv", "uniformity.csv", "sbc_ratings.png"):
        assert (tmp_path / name).is_file()
    assert len(list((tmp_path / "tasks").glob("*.json"))) == 3
    ranks = pd.read_csv(tmp_path / "ranks.csv")
    assert {"rating_mandatory", "rating_scholar_sd"} <= set(ranks.columns)
    assert ranks["rating_mandatory"].between(0, 50).all()
    assert set(result.uniformity["parameter"]) >= {"rating_mandatory"}
    # the contract estimands (functions of the parameters) are ranked too
    assert {"estimand:mandatory_minus_optional_rating", "estimand:cohort_sd_rating"} <= set(ranks.columns)
    assert ranks["estimand:mandatory_minus_optional_rating"].between(0, 50).all()


def test_coverage_summaries_from_records():
    from mats_eval.studies.calibration import coverage_records_table, coverage_summary, false_positive_rate

    def record(key, scenario, covered, excludes, prob_positive=0.5):
        est = {"mandatory_minus_optional_rating": {"truth": 0.0, "mean": 0.1, "hdi_low": -0.2, "hdi_high": 0.4,
                                                   "prob_positive": prob_positive,
                                                   "covered": covered, "excludes_zero": excludes}}
        return {"key": key, "args": {"scenario": scenario, "seed": 1}, "status": "ok",
                "result": {"estimands": est, "reliable": True, "model": "ratings"}}

    # dataset 0: HDI excludes 0 and P(>0) = 0.99; dataset 1: HDI holds 0 but P(>0) = 0.98
    records = [record(f"null-{i}", "null", i != 0, i == 0, {0: 0.99, 1: 0.98}.get(i, 0.5)) for i in range(10)]
    records.append({"key": "null-x", "args": {"scenario": "null", "seed": 2}, "status": "error", "error": "boom"})
    long = coverage_records_table(records)
    summary = coverage_summary(long)
    assert summary.loc[0, "n"] == 10 and summary.loc[0, "coverage"] == pytest.approx(0.9) and summary.loc[0, "in_goal"]
    # every mean is 0.1 above a truth of 0: bias 0.1, with no spread its se is 0
    assert summary.loc[0, "bias"] == pytest.approx(0.1) and summary.loc[0, "bias_mcse"] == pytest.approx(0.0)
    assert summary.loc[0, "misses_estimate_high"] == 0 and summary.loc[0, "misses_estimate_low"] == 0
    high = [dict(r, result={**r["result"], "estimands": {k: dict(v, hdi_low=0.05, truth=0.0, mean=0.3 + 0.01 * i)
                                                          for k, v in r["result"]["estimands"].items()}})
            for i, r in enumerate(records[:4])]
    side = coverage_summary(coverage_records_table(high)).iloc[0]
    assert side["misses_estimate_high"] == 4 and side["misses_estimate_low"] == 0
    assert side["bias"] == pytest.approx(0.315) and side["bias_in_mcse"] > 10
    # a scenario whose policy effect is not 0 has no false positives to count
    shifted = [dict(r, key=f"id-{i}", args={"scenario": "identified", "seed": 1}) for i, r in enumerate(records[:5])]
    for r in shifted:
        r["result"] = {**r["result"], "estimands": {k: dict(v, truth=0.5) for k, v in
                                                    r["result"]["estimands"].items()}}
    fpr = false_positive_rate(coverage_records_table(records + shifted))
    assert set(fpr["scenario"]) == {"null"}
    fpr = fpr.set_index("rule")
    assert fpr.loc["hdi90_excludes_0", "false_positive_rate"] == pytest.approx(0.1)
    assert not fpr.loc["hdi90_excludes_0", "in_goal"]
    assert fpr.loc["two_sided_5pct", "false_positive_rate"] == pytest.approx(0.2)


@pytest.mark.slow
def test_tiny_coverage_run(tmp_path):
    from mats_eval.studies.calibration import coverage

    result = coverage(["null"], reps=1, out=tmp_path, scale=0.1, model="ratings", draws=60, tune=100, chains=1,
                      workers=0, progress=False)
    assert result.failed == 0
    assert "mandatory_minus_optional_rating" in set(result.summary["estimand"])
    # equal-tailed intervals beside the HDIs, from the same draws
    assert (result.long["eti_low"] <= result.long["eti_high"]).all()
    assert result.summary["coverage_eti"].between(0, 1).all()
    for name in ("coverage.csv", "false_positives.csv", "coverage_long.csv", "gate.csv", "coverage.png"):
        assert (tmp_path / name).is_file()
    gate = pd.read_csv(tmp_path / "gate.csv").iloc[0]
    assert (gate["fits"], gate["fits_with_failures_recorded"]) == (1, 1)
    # 60 draws of one chain cannot reach the gate's ESS of 400: the failure is recorded by its check
    assert gate["passed"] == 0 and gate["failed_bulk_ess"] == 1
    assert gate["extended"] == 0  # 60 draws miss by far more than twice the draws would close


def test_study_tables_read_back_with_the_null_scenario_named(tmp_path):
    from mats_eval.studies.calibration import gate_table, read_study_table

    records = [{"key": "null-0", "status": "ok", "args": {"scenario": "null", "seed": 0},
                "result": {"estimands": {}, "reliable": True, "model": "joint", "gate": {"failures": []}}}]
    gate_table(records).to_csv(tmp_path / "gate.csv", index=False)
    pd.DataFrame({"scenario": ["null"], "hdi_low": [float("nan")]}).to_csv(tmp_path / "long.csv", index=False)
    # pandas' default reading turns the scenario "null" into a missing value
    assert pd.read_csv(tmp_path / "gate.csv")["scenario"].isna().all()
    gate = read_study_table(tmp_path / "gate.csv")
    assert gate.loc[0, "scenario"] == "null" and gate.loc[0, "passed"] == 1
    long = read_study_table(tmp_path / "long.csv")
    assert long.loc[0, "scenario"] == "null" and np.isnan(long.loc[0, "hdi_low"])


def test_gate_table_counts_each_check_and_old_records():
    from mats_eval.studies.calibration import gate_table

    def record(key, reliable, failures=None):
        result = {"estimands": {}, "reliable": reliable, "model": "joint"}
        if failures is not None:
            result["gate"] = {"failures": failures}
        return {"key": key, "status": "ok", "args": {"scenario": "null", "seed": 0}, "result": result}

    records = [record("a", True, []), record("b", False, ["R-hat 1.012 > 1.01 (x)", "3 divergent transition(s)"]),
               record("c", False, ["tail ESS 350 < 400 (y)"]), record("d", False),  # recorded before gate was kept
               {"key": "e", "status": "error", "args": {"scenario": "null"}, "error": "boom"}]
    records[0]["result"]["gate"]["extended_from"] = ["bulk ESS 350 < 400 (x)"]  # passed on its second run
    row = gate_table(records).iloc[0]
    assert (row["fits"], row["passed"], row["fits_with_failures_recorded"], row["extended"]) == (4, 1, 3, 1)
    assert (row["failed_rhat"], row["failed_divergences"], row["failed_tail_ess"], row["failed_bulk_ess"]) == (1, 1, 1, 0)
    assert row["passed_low"] < 0.25 < row["passed_high"]


@pytest.mark.parametrize("sampler", ["nutpie", "nutpie-jax"])
def test_compile_once_sampling_gives_the_posterior_of_the_replications_data(sampler):
    """SBC compiles a model once per process and swaps each replication's data in (with_data);
    the posterior must be the one a model built on that data gives."""
    import arviz as az

    from mats_eval.studies.calibration import _prior_model, draw_from_prior, sample_observed, with_observations
    from mats_eval.inference.fitting import sample_posterior

    args = ("ratings", "identified", 0.1, 0)
    draws = dict(draws=500, tune=300, chains=2)
    for seed in (1, 2):  # two replications: the second must not see the first's data
        _, observed, _ = draw_from_prior(_prior_model(*args), seed)
        swapped = sample_observed(*args, observed, sampler=sampler, seed=seed, **draws)["posterior"]
        built = sample_posterior(with_observations(_prior_model(*args), observed), sampler="nutpie", seed=seed + 10,
                                 progress=False, **draws)[0]["posterior"]
        for name in ("rating_mandatory", "rating_volume"):
            a, b = swapped[name].values.ravel(), built[name].values.ravel()
            mcse = np.sqrt(a.var() / float(az.ess(swapped[name].values)) + b.var() / float(az.ess(built[name].values)))
            assert abs(a.mean() - b.mean()) < 4 * mcse, (seed, name, a.mean(), b.mean(), mcse)
