"""Prior-sensitivity rows whose reweighting cannot be trusted are refitted (inference/refit.py)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mats_eval
from mats_eval.checks.identification import prior_sensitivity, scaled_priors
from mats_eval.data.design import build_design
from mats_eval.inference.refit import estimand_gate, refit_draws, refit_unreliable
from mats_eval.models import build_model, model_priors
from mats_eval.models.priors import prior_data_values
from mats_eval.simulation.scenarios import simulate


def test_scaled_priors_name_the_alternative_prior():
    priors = model_priors("ratings")
    scaled = scaled_priors(priors, "policy effect prior", 0.5)
    assert scaled == {"rating_mandatory": ("Normal", {"mu": 0.0, "sigma": 0.5 * priors["rating_mandatory"][1]["sigma"]})}
    cohort = scaled_priors(priors, "cohort sd prior", 2.0)  # a variance prior: its scale beta × 2² (sd × 2)
    assert cohort["rating_cohort_var"][1]["beta"] == pytest.approx(4 * priors["rating_cohort_var"][1]["beta"])


CLEAN = {"divergences": 0, "bfmi_min": 1.0, "chains": 2}


def test_a_refits_verdict_is_the_gate_on_its_estimands_own_draws():
    """Two well-mixed chains of 500 independent draws pass; chains that disagree fail on R-hat,
    strongly autocorrelated ones on ESS, and a divergence anywhere in the refit fails every row."""
    rng = np.random.default_rng(0)
    mixed = rng.normal(size=1000)
    passed, verdict = estimand_gate(mixed, CLEAN)
    assert passed and verdict.startswith("passed (R-hat 1.0"), verdict
    apart = np.r_[rng.normal(size=500), rng.normal(size=500) + 0.5]  # the second chain sits 0.5 sd higher
    passed, verdict = estimand_gate(apart, CLEAN)
    assert not passed and "R-hat" in verdict and verdict.endswith("read it as indicative"), verdict
    sticky = np.concatenate([np.repeat(rng.normal(size=50), 10), np.repeat(rng.normal(size=50), 10)])
    passed, verdict = estimand_gate(sticky, CLEAN)
    assert not passed and "bulk ESS" in verdict, verdict
    passed, verdict = estimand_gate(mixed, {**CLEAN, "divergences": 3})
    assert not passed and "3 divergent" in verdict, verdict


@pytest.mark.slow
def test_a_refit_agrees_with_trustworthy_reweighting_and_replaces_an_untrustworthy_row():
    """A row whose reweighting is reliable (k well below 0.7), marked unreliable on purpose, is refitted:
    the refit's mean must agree with the reweighted one within Monte Carlo and prior-shift error."""
    data = simulate("confounded", seed=4, scale=0.2).program_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mats_eval.fit(data, model="ratings", draws=500, tune=500, chains=2, seed=1, progress=False,
                               checks=False)
    table = prior_sensitivity(result.idata, build_design(data), model_priors("ratings"), model="ratings")
    # fit passes its own estimand draws rather than computing them again: the same table
    given = prior_sensitivity(result.idata, build_design(data), model_priors("ratings"), model="ratings",
                              draws=result.estimand_draws)
    pd.testing.assert_frame_equal(given, table)
    policy = table["prior"].str.startswith("policy effect prior") & (table["scale_factor"] == 0.5)
    assert policy.sum() == 1 and table.loc[policy, "pareto_k"].iloc[0] < 0.5
    marked = table.assign(reliable=~policy)
    timings = {}
    refitted = refit_unreliable(marked, data, "ratings", None, seed=2, sampler="nutpie", timings=timings)
    row, before = refitted.loc[policy].iloc[0], table.loc[policy].iloc[0]
    assert row["note"].startswith("refitted under this prior") and row["method"] == "refitted"
    assert (refitted.loc[~policy, "method"] == "reweighted").all()
    assert abs(row["mean"] - before["mean"]) < 0.25 * before["sd"] + 0.05, (row["mean"], before["mean"])
    assert np.isclose(row["sd"], before["sd"], rtol=0.3)
    assert (refitted.loc[~policy, "mean"] == table.loc[~policy, "mean"]).all()  # other rows untouched
    assert timings["prior_refit"] > 0


def test_prior_data_values_name_what_a_refit_sets_and_refuse_any_other_change():
    """A rescaled prior is a change of values the model holds as data (priors.prior_parameter); a new
    family, a changed degrees-of-freedom or another set of priors needs a new model."""
    design = build_design(simulate("identified", seed=0, scale=0.1).program_data())
    priors = model_priors("ratings")
    model = build_model("ratings", design)
    sigma, beta = priors["rating_mandatory"][1]["sigma"], priors["rating_cohort_var"][1]["beta"]
    assert model["rating_mandatory__sigma"].get_value() == sigma  # the default's value, as data
    assert prior_data_values(model, priors, priors) == {}
    policy = prior_data_values(model, priors, {**priors, **scaled_priors(priors, "policy effect prior", 0.5)})
    assert policy == {"rating_mandatory__sigma": pytest.approx(0.5 * sigma)}
    cohort = prior_data_values(model, priors, {**priors, **scaled_priors(priors, "cohort sd prior", 2.0)})
    assert cohort == {"rating_cohort_var__beta": pytest.approx(4 * beta)}
    family = {**priors, "rating_mandatory": ("StudentT", {"nu": 4.0, "mu": 0.0, "sigma": sigma})}
    alpha = {**priors, "rating_cohort_var": ("InverseGamma", {"alpha": 3.0, "beta": beta})}
    assert prior_data_values(model, priors, family) is None
    assert prior_data_values(model, priors, alpha) is None  # α is the Student-t's ν: a constant
    assert prior_data_values(model, priors, model_priors("ratings", {"rating_cohort_sd": {"dist": "HalfNormal",
                                                                                           "sigma": 0.5}})) is None


def test_every_prior_the_sensitivity_check_rescales_is_held_as_data():
    """Else a refit of its row would compile the model again (priors.DATA_PRIORS)."""
    from mats_eval.checks.identification import SENSITIVITY_TARGETS
    from mats_eval.models.priors import DATA_PRIORS

    rescaled = {key for targets in SENSITIVITY_TARGETS.values() for key, _, _ in targets}
    assert rescaled <= DATA_PRIORS, rescaled - DATA_PRIORS


@pytest.mark.slow
def test_a_refit_samples_the_fits_compiled_density_under_the_new_prior_values(monkeypatch):
    """No second compile, and the new values really reach the density: a policy prior 100 times
    tighter pulls the policy contrast to 0 where the default fit puts it near −0.8 points."""
    from mats_eval.inference import fitting

    data = simulate("confounded", seed=4, scale=0.2).program_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mats_eval.fit(data, model="ratings", draws=500, tune=500, chains=2, seed=1, progress=False,
                               checks=False)
    assert result.compiled is not None
    name = "mandatory_minus_optional_rating"
    default = np.asarray(result.estimand_draws[name])
    assert default.mean() < -0.4
    monkeypatch.setattr(fitting, "compile_density", lambda *a, **k: pytest.fail("compiled a second time"))
    sigma = model_priors("ratings")["rating_mandatory"][1]["sigma"]
    tight = {"rating_mandatory": ("Normal", {"mu": 0.0, "sigma": 0.01 * sigma})}
    draws, _ = refit_draws(data, "ratings", tight, seed=3, sampler="nutpie", fitted=result,
                           built_under=model_priors("ratings"))
    assert abs(np.mean(draws[name])) < 0.05, np.mean(draws[name])
