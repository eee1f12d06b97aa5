"""The fast likelihoods equal the obvious row-level ones (models/likelihoods.py).

The models build the linear predictor once per session and evaluate each row
with only the cutpoints it needs. These tests hold that to the textbook form:
PyMC's own distributions, and every row's log-likelihood recomputed in numpy
from the canonical parameters (the names estimands.py uses), at random draws
of the joint model. Equal likelihood and equal prior give the same posterior.
"""
from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from scipy.special import expit, log_expit

from mats_eval.data.design import build_design
from mats_eval.data.io import load
from mats_eval.models import build_model
from mats_eval.models.likelihoods import (
    bernoulli_logit_logp, cutpoint_table, ordinal_logp, ordinal_random,
)
from mats_eval.checks.predictive import log_likelihood
from tests.datasets import write_valid_dataset


def _exact_ordinal(eta: float, code: int, cuts) -> float:
    """log P(Y = code) in 50-digit decimal arithmetic: the reference where float64 subtraction fails."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 50
        e = Decimal(float(eta))
        cdf = [Decimal(0)] + [1 / (1 + (e - Decimal(float(c))).exp()) for c in cuts] + [Decimal(1)]
        return float((cdf[code + 1] - cdf[code]).ln())


def test_ordinal_logp_is_exact_and_matches_pymc_on_two_scales():
    rng = np.random.default_rng(1)
    cuts5, cuts10 = np.sort(rng.normal(size=4)), np.sort(rng.normal(scale=2.0, size=9))
    table = cutpoint_table([pt.as_tensor(cuts5), pt.as_tensor(cuts10)], 10).eval()
    scale = rng.integers(0, 2, 1000)
    eta = rng.normal(scale=6.0, size=1000)  # far into both tails
    code = rng.integers(0, np.where(scale == 0, 5, 10))
    ours = ordinal_logp(pt.as_tensor(code), pt.as_tensor(eta), pt.as_tensor(table), pt.as_tensor(scale)).eval()
    exact = np.array([_exact_ordinal(e, y, [cuts5, cuts10][k]) for e, y, k in zip(eta, code, scale)])
    np.testing.assert_allclose(ours, exact, rtol=1e-10, atol=1e-10)
    for j, cuts in enumerate([cuts5, cuts10]):  # PyMC's form subtracts probabilities: close, less exact in tails
        rows = scale == j
        theirs = pm.logp(pm.OrderedLogistic.dist(eta=eta[rows], cutpoints=cuts), code[rows]).eval()
        np.testing.assert_allclose(ours[rows], theirs, rtol=1e-6)


def test_ordinal_random_draws_the_category_probabilities():
    rng = np.random.default_rng(2)
    cuts = np.array([-1.0, 0.0, 2.0])
    table = cutpoint_table([pt.as_tensor(cuts)], 4).eval()
    draws = ordinal_random(np.full(40_000, 0.3), table, np.zeros(40_000, int), rng=rng)
    expected = np.diff(np.concatenate([[0.0], expit(cuts - 0.3), [1.0]]))
    observed = np.bincount(draws, minlength=4) / draws.size
    assert np.abs(observed - expected).max() < 0.01


def test_bernoulli_logit_logp_equals_pymc_bernoulli():
    eta = np.linspace(-40, 40, 81)
    for y in (0, 1):
        ours = bernoulli_logit_logp(pt.as_tensor(np.full(81, y)), pt.as_tensor(eta)).eval()
        theirs = pm.logp(pm.Bernoulli.dist(logit_p=eta), np.full(81, y)).eval()
        exact = log_expit(eta) if y else log_expit(-eta)
        np.testing.assert_allclose(ours, exact, rtol=1e-12, atol=1e-12)  # y·η − softplus(η): absolute digits
        # PyMC's form takes log(1 − σ(η)): digits lost beyond |η| ≈ 15, −inf beyond ≈ 37
        inner = np.abs(eta) <= 15
        np.testing.assert_allclose(ours[inner], theirs[inner], rtol=1e-6, atol=1e-9)


def _ordinal_rows(eta, code, cuts_by_row):
    """log P(Y = code) row by row from each row's own cutpoint vector (the textbook form)."""
    out = np.empty(len(code))
    for r, (e, y, c) in enumerate(zip(eta, code, cuts_by_row)):
        upper = 1.0 if y == len(c) else expit(c[y] - e)
        lower = 0.0 if y == 0 else expit(c[y - 1] - e)
        out[r] = np.log(upper - lower)
    return out


@pytest.fixture(scope="module")
def joint_draws(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ll") / "data"
    write_valid_dataset(folder)
    design = build_design(load(folder))
    model = build_model("joint", design)
    with model:
        prior = pm.sample_prior_predictive(draws=4, random_seed=3)
    # prior draws stand in for a posterior: the identity must hold at any parameter value
    tree = xr.DataTree.from_dict({"posterior": prior["prior"].to_dataset()})
    ll = log_likelihood(model, tree)["log_likelihood"].to_dataset()
    return design, prior["prior"].to_dataset(), ll


def test_joint_pointwise_loglik_equals_row_level_recomputation(joint_draws):
    design, p, ll = joint_draws
    for d in range(4):
        q = {k: np.asarray(v.values[0, d]) for k, v in p.data_vars.items()}
        n_sessions = len(design.coords["session"])
        session = q["attendance_session_sd"] * (q["attendance_session_z"] + q["attendance_session_mean_z"]
                                                / np.sqrt(n_sessions))
        s, i = design.att_session, design.att_scholar
        m, v, w0, c = (design.session_mandatory[s], design.session_volume[s], design.session_week0[s],
                       design.session_cohort[s])
        eta = (q["attendance_intercept"] + q["attendance_kind"][design.session_kind[s]]
               + q["attendance_mandatory"] * m + q["attendance_volume"] * v
               + (q["attendance_week_slope"] + q["attendance_week_slope_cohort"][c]) * w0 * (1 - m)
               + q["attendance_week_slope_mandatory"] * w0 * m + q["attendance_cohort"][c]
               + q["attendance_scholar"][i] + session[s])
        expected = np.where(design.att_y == 1, log_expit(eta), log_expit(-eta))
        np.testing.assert_allclose(ll["attended"].values[0, d], expected, rtol=1e-7, atol=1e-7)

        rating_session = q["rating_session_sd"] * (q["rating_session_z"] + q["rating_session_mean_z"]
                                                   / np.sqrt(n_sessions))
        s, i = design.rating_session, design.rating_scholar
        eta = (q["rating_kind"][design.session_kind[s]] + q["rating_mandatory"] * design.session_mandatory[s]
               + q["rating_volume"] * design.session_volume[s] + q["rating_week"] * design.session_week0[s]
               + q["rating_cohort"][design.session_cohort[s]] + q["rating_scholar"][i]
               + q["rating_speaker"][design.session_speaker[s]] * design.session_has_speaker[s]
               + rating_session[s])
        cuts = [q[f"rating_cutpoints_{lo}_{hi}"] for lo, hi in design.scales]
        expected = _ordinal_rows(eta, design.rating_code, [cuts[k] for k in design.rating_scale])
        np.testing.assert_allclose(ll["rating"].values[0, d], expected, rtol=1e-7, atol=1e-7)

        r = design.retro
        eta = (q["retro_element"][r.element] + q["retro_mandatory"] * r.mandatory + q["retro_cohort"][r.cohort]
               + q["retro_scholar"][r.scholar])
        cuts = [q[f"retro_cutpoints_{lo}_{hi}"] for lo, hi in r.scales]
        expected = _ordinal_rows(eta, r.code, [cuts[k] for k in r.scale])
        np.testing.assert_allclose(ll["retro"].values[0, d], expected, rtol=1e-7, atol=1e-7)


def test_joint_gradient_under_jax_is_finite_and_equals_numba(tmp_path):
    """numpyro differentiates the JAX-compiled logp with jax.grad; JAX's softplus evaluates every
    branch, so an overflowing ±PAD used to turn the ordinal rows' gradients into NaN (every
    transition divergent). The JAX gradient must be finite and equal PyTensor's own."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    from pymc.sampling.jax import get_jaxified_logp

    jax.config.update("jax_enable_x64", True)
    write_valid_dataset(tmp_path / "data")
    model = build_model("joint", build_design(load(tmp_path / "data")))
    rng = np.random.default_rng(5)
    point = {name: value + rng.normal(0, 0.3, np.shape(value)) for name, value in model.initial_point().items()}
    jax_grad = jax.grad(get_jaxified_logp(model))([jnp.asarray(point[v.name]) for v in model.value_vars])
    jax_grad = np.concatenate([np.asarray(g).ravel() for g in jax_grad])
    assert np.isfinite(jax_grad).all()
    np.testing.assert_allclose(jax_grad, model.compile_dlogp()(point), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_middle_ordered_transform_inverts_and_its_log_jacobian_is_exact(n):
    """MiddleOrdered (the cutpoints' transform): backward(forward(c)) = c for ordered c, the
    anchor is the middle cutpoint itself, and log_jac_det equals log|det ∂c/∂y| computed by autodiff."""
    import pytensor

    from mats_eval.models.priors import MiddleOrdered

    transform = MiddleOrdered()
    c = np.sort(np.random.default_rng(n).normal(0.0, 3.0, size=n))
    y = transform.forward(pt.as_tensor(c)).eval()
    np.testing.assert_allclose(transform.backward(pt.as_tensor(y)).eval(), c, rtol=1e-12, atol=1e-12)
    assert y[n // 2] == pytest.approx(c[n // 2])
    y_var = pt.dvector("y")
    jacobian = pytensor.function([y_var], pytensor.gradient.jacobian(transform.backward(y_var), y_var))(y)
    assert transform.log_jac_det(pt.as_tensor(y)).eval() == pytest.approx(np.linalg.slogdet(jacobian)[1], abs=1e-10)
    # every y maps to strictly ordered values
    wild = np.random.default_rng(n + 100).normal(0.0, 2.0, size=n)
    assert np.all(np.diff(transform.backward(pt.as_tensor(wild)).eval()) > 0)
