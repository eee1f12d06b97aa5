"""Model specs: every registered model describes itself, and the studies choose models by what they provide."""
from __future__ import annotations

import numpy as np
import pytest

from mats_eval.data.design import build_design
from mats_eval.errors import UsageError
from mats_eval.estimands import registry
from mats_eval.models import DEFAULT_MODEL, MODELS, ModelSpec, build_model, get_spec
from mats_eval.simulation.scenarios import simulate
from mats_eval.studies.power import model_for


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_describes_itself(name):
    spec = MODELS[name]
    assert isinstance(spec, ModelSpec) and spec.name == name
    assert callable(spec.build) and callable(spec.canonical)
    assert spec.default_priors
    assert spec.provides and set(spec.provides) <= set(registry.ESTIMANDS)


def test_the_default_models_provide_every_estimand_their_data_define():
    """joint (no topics): all but the relevance ones; relevance (topics): every estimand."""
    relevance_only = {"mandatory_minus_optional_rating_at_equal_relevance", "relevance_part_of_rating_gap"}
    assert set(get_spec(DEFAULT_MODEL).provides) == set(registry.ESTIMANDS) - relevance_only
    assert set(get_spec("relevance").provides) == set(registry.ESTIMANDS)


def test_the_default_model_follows_the_data():
    from mats_eval.models import default_model_for
    from mats_eval.simulation.scenarios import simulate

    assert default_model_for(simulate("identified", seed=1, scale=0.1).program_data()) == "joint"
    assert default_model_for(simulate("relevance", seed=1, scale=0.1).program_data()) == "relevance"


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(UsageError, match="attendance_floor"):
        get_spec("no-such-model")


def test_model_for_picks_the_smallest_model_that_provides_the_estimand():
    for name in ("attendance_week_slope", "attendance_first_week", "volume_slope_attendance",
                 "attendance_half_life_weeks", "mandatory_minus_optional_attendance"):
        assert model_for(name) == "attendance", name
    for name in ("mandatory_minus_optional_rating", "volume_slope_rating", "cohort_sd_rating"):
        assert model_for(name) == "ratings", name
    assert model_for("mandatory_minus_optional_retro") == "retrospective"
    assert model_for("optimal_sessions_per_week") == "joint"
    with pytest.raises(UsageError):
        model_for("no_such_estimand")


@pytest.fixture(scope="module")
def design():
    return build_design(simulate("identified", seed=3, scale=0.1).program_data())


@pytest.fixture(scope="module")
def design_with_topics():
    return build_design(simulate("relevance", seed=3, scale=0.1).program_data())


@pytest.mark.parametrize("name", list(MODELS))
def test_canonical_parameters_of_prior_draws_define_what_the_spec_provides(name, design, design_with_topics):
    """canonical() maps the model's own draws (here from its prior) onto the names its `provides` needs."""
    import pymc as pm

    spec = MODELS[name]
    design = design_with_topics if name == "relevance" else design
    with build_model(name, design) as model:
        parameters = [v.name for v in model.free_RVs + model.deterministics]  # no observed data needed
        prior = pm.sample_prior_predictive(draws=20, random_seed=1, var_names=parameters,
                                           compile_kwargs={"mode": "FAST_COMPILE"})["prior"]
    p = spec.canonical({"posterior": prior}, design.reference)
    draws = registry.estimand_draws(p, design.reference, costly=False)
    assert {n for n in spec.provides if not registry.ESTIMANDS[n].costly} <= set(draws)
    for n, x in draws.items():
        assert x.shape == (20,) and np.all(np.isfinite(x)), n
