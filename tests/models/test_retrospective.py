"""Retrospective survey model: design arrays, canonical names, recovery of the policy effect."""
from __future__ import annotations

import numpy as np
import pytest

from mats_eval.data.design import build_design
from mats_eval.errors import UsageError
from mats_eval.inference.fitting import sample_posterior
from mats_eval.models import build_model, estimand_draws
from mats_eval.models.retrospective import retro_cutpoint_name
from mats_eval.simulation.scenarios import simulate


@pytest.fixture(scope="module")
def identified():
    return simulate("identified", seed=5, scale=1.0)  # ~880 retro rows: enough to find a −0.6 effect


def test_retro_design_codes(identified):
    design = build_design(identified.program_data())
    r = design.retro
    table = identified.tables["retrospective"]
    assert len(r.code) == len(table)
    assert set(r.scales) == {(1, 10), (0, 10)}
    lo = np.array([s[0] for s in r.scales])[r.scale]
    np.testing.assert_array_equal(lo + r.code, table["rating"].to_numpy())
    np.testing.assert_array_equal(r.mandatory, (table["policy"] == "mandatory").to_numpy(float))
    assert list(np.asarray(r.elements)[r.element]) == list(table["element"])


def test_retro_model_names_and_logp(identified):
    design = build_design(identified.program_data())
    model = build_model("retrospective", design)
    names = set(model.named_vars)
    assert {"retro_element", "retro_mandatory", "retro_cohort_sd", "retro_scholar_sd"} <= names
    assert {retro_cutpoint_name(s) for s in design.retro.scales} <= names
    assert np.isfinite(model.point_logps()["retro"])


def test_retro_model_needs_retro_data():
    data = simulate("identified", seed=5, scale=0.1).program_data()
    data.retrospective = None
    with pytest.raises(UsageError, match="retrospective"):
        build_model("retrospective", build_design(data))


@pytest.mark.slow
def test_retro_recovery(identified):
    design = build_design(identified.program_data())
    idata, _ = sample_posterior(build_model("retrospective", design), sampler="nutpie", draws=500, tune=500,
                                chains=2, seed=4, progress=False)
    post = idata["posterior"]
    truth = identified.parameters
    for name in ("retro_mandatory", "retro_cohort_sd", "retro_scholar_sd"):
        x = np.asarray(post[name].values).ravel()
        assert abs(x.mean() - truth[name]) < 3 * x.std(), (name, x.mean(), x.std(), truth[name])
    draws = estimand_draws("retrospective", idata, design)["mandatory_minus_optional_retro"]
    true = identified.truth["mandatory_minus_optional_retro"]
    assert abs(draws.mean() - true) < 3 * draws.std(), (draws.mean(), draws.std(), true)
    assert np.mean(draws < 0) > 0.9  # the true effect (−0.6 latent) is found


def test_retro_and_joint_default_priors_are_valid():
    import warnings

    from mats_eval.models.priors import JOINT_PRIORS, RETRO_PRIORS, resolve_priors

    for defaults in (RETRO_PRIORS, JOINT_PRIORS):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            resolve_priors(defaults, {k: {} for k in defaults})
