"""Model construction: canonical names, dims, priors (resolution and prior predictive)."""
from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest

from mats_eval.data.design import build_design
from mats_eval.models import MODELS, PriorError, build_model, resolve_priors
from mats_eval.models.priors import ATTENDANCE_PRIORS, RATING_PRIORS, policy_cohort_direction
from mats_eval.models.ratings import cutpoint_name
from mats_eval.simulation.scenarios import simulate

ATTENDANCE_NAMES = {
    "attendance_intercept", "attendance_kind", "attendance_mandatory", "attendance_volume",
    "attendance_week_slope", "attendance_week_slope_cohort_sd", "attendance_week_slope_mandatory",
    "attendance_cohort_sd", "attendance_scholar_sd", "attendance_session_sd",
}
RATING_NAMES = {
    "rating_kind", "rating_mandatory", "rating_volume", "rating_week", "rating_cohort_sd",
    "rating_scholar_sd", "rating_speaker_sd", "rating_session_sd",
}


@pytest.fixture(scope="module")
def design():
    return build_design(simulate("identified", seed=3, scale=0.2).program_data())


def test_registry_has_the_models():
    assert {"attendance", "ratings", "attendance_floor"} <= set(MODELS)


def test_attendance_model_uses_canonical_names(design):
    model = MODELS["attendance"].build(design)
    names = set(model.named_vars)
    assert ATTENDANCE_NAMES <= names
    assert model.named_vars_to_dims["attendance_kind"] == ("kind",)
    assert model.named_vars_to_dims["attended"] == ("attendance_obs",)
    assert np.isfinite(model.point_logps()["attended"])


def test_floor_form_has_decay_parameters(design):
    model = build_model("attendance_floor", design)
    assert {"attendance_floor_fraction", "attendance_decay_rate", "attendance_decay_rate_cohort_sd"} <= set(
        model.named_vars)
    assert "attendance_week_slope" not in model.named_vars
    assert np.isfinite(model.point_logps()["attended"])


def test_floor_form_puts_the_rate_prior_on_the_fitted_cohorts_and_integrates_their_spread(design):
    """λ_c = λ_fitted·exp(ã_c) with zero-sum ã, and the population rate λ = λ_fitted·exp(−ā); the default
    integrates σ_λ out (no `_z` variables), a user's sd prior selects the non-centred form."""
    model = build_model("attendance_floor", design)
    free = {v.name for v in model.free_RVs}
    assert {"attendance_decay_rate_fitted", "attendance_decay_rate_log_cohort_t"} <= free
    assert "attendance_decay_rate" not in free and "attendance_decay_rate_log_cohort_z" not in free
    point = model.initial_point()
    values = model.compile_fn([model["attendance_decay_rate"], model["attendance_decay_rate_cohort"],
                               model["attendance_decay_rate_log_cohort"]],
                              inputs=model.value_vars, on_unused_input="ignore")(
        {**point, "attendance_decay_rate_log_cohort_t": np.linspace(-0.2, 0.3, len(design.coords["cohort"]))})
    rate, rate_c, log_dev = (np.asarray(v) for v in values)
    # the cohorts' geometric mean is the fitted rate; λ is it times exp(−ā)
    np.testing.assert_allclose(np.exp(np.mean(np.log(rate_c))), rate * np.exp(np.mean(log_dev)))
    user = build_model("attendance_floor", design, {"attendance_decay_rate_cohort_sd": {"dist": "HalfNormal",
                                                                                         "sigma": 0.3}})
    assert "attendance_decay_rate_log_cohort_z" in {v.name for v in user.free_RVs}
    assert np.isfinite(user.point_logps()["attended"])


def test_ratings_model_uses_canonical_names(design):
    model = MODELS["ratings"].build(design)
    names = set(model.named_vars)
    assert RATING_NAMES <= names
    for scale in design.scales:
        assert cutpoint_name(scale) in names
    assert "rating_probs" not in names  # compute_p=False: no per-observation probabilities stored
    assert np.isfinite(model.point_logps()["rating"])


def test_resolve_priors_merges_and_replaces():
    pr = resolve_priors(ATTENDANCE_PRIORS, {"attendance_week_slope": {"sigma": 2.0},
                                            "attendance_volume": ("StudentT", {"nu": 4, "mu": 0, "sigma": 1})})
    assert pr["attendance_week_slope"] == ("Normal", {"mu": 0.0, "sigma": 2.0})
    assert pr["attendance_volume"][0] == "StudentT"
    assert ATTENDANCE_PRIORS["attendance_week_slope"][1]["sigma"] == 0.5  # defaults untouched


def test_resolve_priors_refuses_unknown_key():
    with pytest.raises(PriorError, match="unknown prior.*'attendance_wek_slope'.*attendance_week_slope"):
        resolve_priors(ATTENDANCE_PRIORS, {"attendance_wek_slope": ("Normal", {"mu": 0, "sigma": 1})})


@pytest.mark.parametrize("entry", [
    ("Normal", {"mu": 0, "sgima": 1}),      # misspelt parameter
    ("Nromal", {"mu": 0, "sigma": 1}),      # unknown distribution
    ("Normal", {"mu": 0, "sigma": "wide"}),  # not a number
    ("Normal",),                             # not a pair
    "Normal(0, 1)",
])
def test_resolve_priors_rejects_malformed(entry):
    with pytest.raises(PriorError, match="attendance_volume"):
        resolve_priors(ATTENDANCE_PRIORS, {"attendance_volume": entry})


def test_priors_override_reaches_the_model(design):
    model = MODELS["ratings"].build(design, priors={"rating_mandatory": {"sigma": 0.01}})
    draws = pm.draw(model["rating_mandatory"], draws=500, random_seed=1)
    assert np.std(draws) < 0.05


def test_every_default_prior_is_valid():
    for defaults in (ATTENDANCE_PRIORS, RATING_PRIORS):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            resolve_priors(defaults, {k: {} for k in defaults})


def test_prior_predictive_is_weakly_informative(design):
    """Priors alone put attendance and mean ratings across the range, not piled at the edges."""
    with MODELS["attendance"].build(design):
        att = pm.sample_prior_predictive(draws=300, random_seed=2, var_names=["attended"])
    rates = att["prior_predictive"]["attended"].mean("attendance_obs").values.ravel()
    assert 0.3 < rates.mean() < 0.7
    assert ((rates > 0.05) & (rates < 0.95)).mean() > 0.75
    assert rates.std() > 0.1  # not a point mass either

    with MODELS["ratings"].build(design):
        rat = pm.sample_prior_predictive(draws=300, random_seed=2, var_names=["rating"])
    k = np.array(design.n_categories)[design.rating_scale] - 1
    mean_position = (rat["prior_predictive"]["rating"] / k).mean("rating_obs").values.ravel()
    assert 0.3 < mean_position.mean() < 0.7
    assert ((mean_position > 0.1) & (mean_position < 0.9)).mean() > 0.75
    assert mean_position.std() > 0.05


def test_policy_direction_only_when_policy_changes_between_cohorts_alone():
    """u = m_c − mean(m) over the cohorts with rows when each cohort has one policy; None otherwise."""
    cohort = np.array([0, 0, 2, 2, 2])
    np.testing.assert_allclose(policy_cohort_direction(np.array([1.0, 1, 0, 0, 0]), cohort, 3), [0.5, 0.0, -0.5])
    assert policy_cohort_direction(np.array([1.0, 0, 0, 0, 0]), cohort, 3) is None  # varies within cohort 0
    assert policy_cohort_direction(np.ones(5), cohort, 3) is None  # no contrast at all


@pytest.mark.parametrize("model_name, policy", [("attendance", "attendance_mandatory"), ("ratings", "rating_mandatory")])
def test_policy_confounded_with_cohort_is_sampled_along_the_cohort_effects(design, model_name, policy):
    """On confounded data the sampler sees D = β_m + g (`<policy>_with_cohort`) and β_m = D − g is a
    Deterministic with its prior unchanged (the shear has Jacobian 1); where policy varies within a
    cohort, β_m itself is sampled."""
    confounded = build_design(simulate("confounded", seed=1, scale=0.2).program_data())
    model = build_model(model_name, confounded)
    free = {v.name for v in model.free_RVs}
    assert f"{policy}_with_cohort" in free and policy not in free
    prior = (ATTENDANCE_PRIORS | RATING_PRIORS)[policy][1]
    draws = pm.draw(model[policy], draws=6000, random_seed=2)
    se = prior["sigma"] / np.sqrt(len(draws))
    assert abs(draws.mean() - prior["mu"]) < 4 * se
    assert abs(draws.std() / prior["sigma"] - 1) < 4 / np.sqrt(2 * len(draws))
    assert np.isfinite(model.point_logps()["attended" if model_name == "attendance" else "rating"])
    identified = {v.name for v in build_model(model_name, design).free_RVs}
    assert policy in identified and f"{policy}_with_cohort" not in identified
    # a user's prior family without a location to shift: β_m itself, on any data
    cauchy = build_model(model_name, confounded, {policy: {"dist": "Cauchy", "alpha": 0.0, "beta": 1.0}})
    assert policy in {v.name for v in cauchy.free_RVs}


def test_week_slope_spread_is_centred_on_the_cohorts_with_optional_sessions():
    """Confounded: only cohort B has optional sessions, so S = δ + d_B; δ keeps its own prior."""
    confounded = build_design(simulate("confounded", seed=1, scale=0.2).program_data())
    model = build_model("attendance", confounded)
    point = model.initial_point()
    point["attendance_week_slope_cohort_t"] = np.array([0.3, -0.2])
    point["attendance_week_slope_total"] = np.array(0.05)
    outputs = model.replace_rvs_by_values([model["attendance_week_slope"], model["attendance_week_slope_cohort"]])
    slope, by_cohort = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)
    optional = confounded.coords["cohort"].index("Cohort B")  # cohort A ran everything mandatory
    np.testing.assert_allclose(slope + by_cohort[optional], 0.05)
    prior = ATTENDANCE_PRIORS["attendance_week_slope"][1]
    draws = pm.draw(model["attendance_week_slope"], draws=6000, random_seed=3)
    assert abs(draws.mean() - prior["mu"]) < 4 * prior["sigma"] / np.sqrt(len(draws))
    assert abs(draws.std() / prior["sigma"] - 1) < 4 / np.sqrt(2 * len(draws))
