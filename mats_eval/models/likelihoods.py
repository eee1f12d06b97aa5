"""Row-level likelihoods written for speed: every predictor is session + scholar.

All covariates of attendance and session ratings live on sessions (kind,
policy, volume, week, cohort, speaker), so a row's linear predictor is

    η_row = η_session[s] + scholar[i]

and the models build η_session once per session (~170 values on data/example)
instead of once per row (~10 000): the rows cost two gathers and an add.

The ordered-logistic likelihood takes only the two cutpoints a row needs,

    log P(Y = y) = log(σ(c_{y+1} − η) − σ(c_y − η))
                 = −softplus(η − c_{y+1}) − softplus(c_y − η) + log(1 − exp(c_y − c_{y+1}))

with c_0 = −∞, c_K = +∞ stored as ∓PAD (the identity σ(a) − σ(b) = σ(a)·σ(−b)·(1 − e^{b−a})
keeps it exact in the tails); pm.OrderedLogistic evaluates all K categories
of every row, ~4x the work on a 10-point scale.
"""
from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import expit

# Predictive draws of these CustomDists run in Python (ordinal_random etc.), which is what we want;
# PyTensor's Numba backend says so once per compile. Not a user's concern.
warnings.filterwarnings("ignore", message="Numba will use object mode to run CustomDist", category=UserWarning)

# ±PAD stands for ±∞: σ(PAD − η) == 1.0 exactly in float64 for η < 63, so a category beyond the
# scale has probability 0. Not larger: JAX's softplus evaluates all its branches, and e^{PAD}
# overflowing in an untaken one turned every gradient into NaN under numpyro (tests/test_likelihoods.py).
PAD = 100.0


def cutpoint_table(rows: list, k_max: int):
    """(n_scales, k_max + 1) table [−PAD, c_1, …, c_{K−1}, PAD, …, PAD] from each scale's cutpoints."""
    padded = [pt.concatenate([pt.as_tensor([-PAD]), row, pt.full((k_max - row.shape[0],), PAD)]) for row in rows]
    return pt.stack(padded)


def log_interval_probability(lower, upper):
    """log(σ(upper) − σ(lower)) for lower < upper, exact in both tails (see the module docstring)."""
    return -pt.softplus(-upper) - pt.softplus(lower) + pt.log1mexp(lower - upper)


def ordinal_logp(code, eta, table, scale):
    """log P(Y = code) of the ordered logistic with cutpoints table[scale] (see the module docstring)."""
    while table.ndim > 2:  # PyMC may hand the shared table over with broadcast batch axes
        table = table[0]
    # log(1 − exp(c_y − c_{y+1})) depends on the category only: once per table entry, not per row
    log_gap = pt.log1mexp(table[:, :-1] - table[:, 1:])
    return -pt.softplus(eta - table[scale, code + 1]) - pt.softplus(table[scale, code] - eta) + log_gap[scale, code]


def ordinal_random(eta, table, scale, rng=None, size=None):
    """Draws of the ordered logistic: code = #{j : U > P(Y ≤ j)}."""
    eta, table, scale = np.asarray(eta), np.asarray(table), np.asarray(scale, dtype=np.int64)
    while table.ndim > 2:
        table = table[0]
    size = eta.shape if size is None else tuple(np.atleast_1d(size))
    cdf = expit(table[np.broadcast_to(scale, size)][..., 1:-1] - np.broadcast_to(eta, size)[..., None])
    u = rng.uniform(size=size)  # cdf: P(Y ≤ j), j = 0..K_max − 2
    return (u[..., None] > cdf).sum(-1).astype(np.int64)


def ordered_logistic(name: str, eta, table, scale: np.ndarray, observed: np.ndarray, dims: str):
    """Observed ordinal variable `name` (codes 0..K−1 on the scale of each row; cutpoints table[scale])."""
    # signature: η and scale are per row, the cutpoint table is shared by every row
    return pm.CustomDist(name, eta, table, scale, logp=ordinal_logp, random=ordinal_random, observed=observed,
                         dims=dims, dtype="int64", signature="(),(s,k),()->()")


def bernoulli_logit_logp(value, eta):
    """log P(Y = y) = y·η − softplus(η)."""
    return value * eta - pt.softplus(eta)


def bernoulli_logit_random(eta, rng=None, size=None):
    return (rng.uniform(size=size if size is not None else np.shape(eta)) < expit(eta)).astype(np.int64)


def bernoulli_logit(name: str, eta, observed: np.ndarray, dims: str):
    """Observed 0/1 variable `name` with logit η (one softplus per row; pm.Bernoulli evaluates two)."""
    return pm.CustomDist(name, eta, logp=bernoulli_logit_logp, random=bernoulli_logit_random, observed=observed,
                         dims=dims, dtype="int64")


__all__ = ["PAD", "cutpoint_table", "log_interval_probability", "ordinal_logp", "ordinal_random", "ordered_logistic", "bernoulli_logit"]
