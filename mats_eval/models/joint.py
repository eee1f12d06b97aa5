"""Joint selection model: attendance, session ratings (and the retrospective survey) share scholars.

Scholars who value programming more both attend more and rate higher, so the
ratings of optional sessions come from a self-selected set of attendees. The
joint model gives each scholar a pair of effects

    (u_i, r_i) ~ N(0, Σ),  Σ = diag(σ_u, σ_r) · R · diag(σ_u, σ_r),  R ~ LKJ(η = 2)

with u_i in the attendance logit (attendance_model) and r_i in the rating
latent (ratings_model). σ_u, σ_r are the canonical `attendance_scholar_sd`
and `rating_scholar_sd` (each with its own prior), ρ = `scholar_corr` (LKJ(η = 2),
sampled as (ρ + 1)/2 ~ Beta(2, 2): correlated_scholars says why not pm.LKJCholeskyCov).
Because attendance is modelled for every scholar–session pair, who shows up (u_i)
informs r_i through ρ, and the rating model estimates the policy contrast for
*a new scholar*, not for the keen ones who chose to come
(mats_eval.estimands.kernels integrates r over N(0, σ_r)).

Retrospective ratings, when the data has them, load on the same trait (r_i scaled):

    t_i = retro_scholar_loading · r_i

so the retrospective scholar effect has the canonical sd `retro_scholar_sd` =
|λ|·σ_r (a Deterministic); this is the simulator's "same trait rescaled"
(t = σ_t · r/σ_r, λ = σ_t/σ_r). An own term, t_i = λ·r_i + σ_own·ε_i with
`retro_scholar_sd` = √(λ²σ_r² + σ_own²), is available (`retro_own_term=True`)
but off by default: with 4–5 retro rows per scholar σ_own is weakly identified
and mixed poorly on data/example (bulk ESS 248 of 4000 draws, where it is 0).

Sampling form (exact reparametrisations, as in the single-outcome models):
scholar effects are split into their mean and zero-sum deviations,
(u, r) = L·(z̃ + ζ/√n) with z̃ ~ ZeroSumNormal over scholars (`scholar_z`) and
ζ ~ N(0, I₂) (`scholar_mean_z`); the means are absorbed by the attendance
level and the rating cutpoints (priors.split_group_effect explains why), the
deviations enter the likelihoods. Every likelihood is added by the same
building block the single-outcome model uses (attendance_likelihood,
rating_likelihood, retro_likelihood), so the joint model cannot drift from them:
each session has an attendance effect (attendance_session_sd) and, independent
of it, a rating effect (rating_session_sd), both over the dim "session".
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from mats_eval.data.design import Design
from mats_eval.errors import UsageError
from mats_eval.estimands import registry
from mats_eval.models.attendance import OUTPUTS as ATTENDANCE_OUTPUTS
from mats_eval.models.attendance import attendance_canonical, attendance_coords, attendance_likelihood
from mats_eval.models.canonical import canonical_from
from mats_eval.models.priors import (
    ATTENDANCE_PRIORS, JOINT_PRIORS, RATING_PRIORS, RETRO_PRIORS, make_prior, resolve_priors,
)
from mats_eval.models.ratings import OUTPUTS as RATING_OUTPUTS
from mats_eval.models.ratings import rating_canonical, rating_coords, rating_likelihood
from mats_eval.models.retrospective import retro_canonical, retro_coords, retro_likelihood
from mats_eval.models.spec import ModelSpec

SCHOLAR_SDS = ("attendance_scholar_sd", "rating_scholar_sd")
# (design, resolved priors) -> (attendance term, rating term): per-observation additions to the latents
PairTerms = Callable[[Design, dict], tuple]
LKJ_ETA = 2.0  # mild shrinkage of scholar_corr towards 0 (η = 1 would be uniform on (−1, 1))


def joint_priors(overrides: dict | None = None) -> dict:
    """Default priors of every part of the joint model, merged with `overrides`."""
    return resolve_priors(JOINT_SPEC.default_priors, overrides)


def has_retro(design: Design) -> bool:
    retro = getattr(design, "retro", None)
    return retro is not None and len(retro.code) > 0


def correlated_scholars(pr: dict, n_scholars: int):
    """(u deviations, r deviations, ū, r̄) of (u_i, r_i) ~ N(0, L Lᵀ), non-centred.

    L = [[σ_u, 0], [σ_r·ρ, σ_r·√(1 − ρ²)]], with σ_u, σ_r from their own priors and ρ from
    LKJ(η) on the 2 × 2 correlation matrix, whose density ∝ (1 − ρ²)^(η−1) is (ρ + 1)/2 ~ Beta(η, η).
    Why not pm.LKJCholeskyCov, the same prior: it samples the Cholesky entries, and σ_r =
    √(L₂₁² + L₂₂²) → 0 needs both to shrink together, a funnel in which NUTS never reached σ_r's
    lower tail (prior alone: 1% quantile 0.034–0.045 against the half-normal's 0.0125, ESS 4,000 of
    100,000 draws where σ_u had 25,000) and the default model's SBC found rating_scholar_sd
    non-uniform (benchmarks/CALIBRATION.md). Sampled as σ_u, σ_r and ρ, every one is one coordinate.
    """
    sd_u = make_prior(pr, SCHOLAR_SDS[0])
    sd_r = make_prior(pr, SCHOLAR_SDS[1])
    rho = 2.0 * pm.Beta("scholar_corr_unit", LKJ_ETA, LKJ_ETA) - 1.0
    pm.Deterministic("scholar_corr", rho)
    chol = pt.stack([pt.stack([sd_u, pt.zeros_like(sd_u)]),
                     pt.stack([sd_r * rho, sd_r * pt.sqrt(1.0 - rho**2)])])
    z = pm.ZeroSumNormal("scholar_z", sigma=1.0, dims=("scholar_effect", "scholar"))  # zero-sum over scholars
    mean_z = pm.Normal("scholar_mean_z", 0.0, 1.0, dims="scholar_effect")
    dev = chol @ z  # (2, n)
    mean = chol @ mean_z / np.sqrt(n_scholars)  # (2,)
    pm.Deterministic("attendance_scholar", dev[0] + mean[0], dims="scholar")
    pm.Deterministic("rating_scholar", dev[1] + mean[1], dims="scholar")
    return dev[0], dev[1], mean[0], mean[1]


def retro_scholar(pr: dict, r_dev, r_mean, n_scholars: int, own_term: bool = False):
    """(deviations, mean) of t_i = λ·r_i (+ σ_own·ε_i); Deterministic retro_scholar_sd (see docstring)."""
    loading = make_prior(pr, "retro_scholar_loading")
    sd_r = pm.modelcontext(None)[SCHOLAR_SDS[1]]
    dev, mean = loading * r_dev, loading * r_mean
    if own_term:
        own_sd = make_prior(pr, "retro_scholar_own_sd")
        own_z = pm.ZeroSumNormal("retro_scholar_own_z", sigma=1.0, dims="scholar")
        own_mean_z = pm.Normal("retro_scholar_own_mean_z", 0.0, 1.0)
        pm.Deterministic("retro_scholar_sd", pt.sqrt(loading**2 * sd_r**2 + own_sd**2))
        dev = dev + own_sd * own_z
        mean = mean + own_sd * own_mean_z / np.sqrt(n_scholars)
    else:
        pm.Deterministic("retro_scholar_sd", pt.abs(loading) * sd_r)
    pm.Deterministic("retro_scholar", dev + mean, dims="scholar")
    return dev, mean


def joint_model(design: Design, priors: dict | None = None, retro: bool | None = None,
                retro_own_term: bool = False, pair_terms: PairTerms | None = None,
                default_priors: dict | None = None) -> pm.Model:
    """The joint model of `design` (see module docstring); observed `attended`, `rating` (and `retro`).

    `retro=None` includes the retrospective likelihood when the data has it;
    `retro_own_term` adds a retro scholar effect of its own (see module docstring).
    `pair_terms(design, priors)` -> (attendance term, rating term) per observation, added to
    both latents (the relevance model's match terms, models/relevance.py, with its `default_priors`).
    """
    if len(design.att_y) == 0 or len(design.rating_code) == 0:
        raise UsageError("the joint model needs both attendance and session ratings")
    use_retro = has_retro(design) if retro is None else retro
    pr = resolve_priors(default_priors or JOINT_SPEC.default_priors, priors)
    coords = {**attendance_coords(design), **rating_coords(design), "scholar_effect": ["attendance", "rating"]}
    if use_retro:
        coords.update(retro_coords(design))
    n = len(design.coords["scholar"])
    with pm.Model(coords=coords) as model:
        u_dev, r_dev, u_mean, r_mean = correlated_scholars(pr, n)
        attendance_term, rating_term = pair_terms(design, pr) if pair_terms else (0.0, 0.0)
        attendance_likelihood(design, pr, u_dev, u_mean, pair_term=attendance_term)
        rating_likelihood(design, pr, r_dev, r_mean, pair_term=rating_term)
        if use_retro:
            t_dev, t_mean = retro_scholar(pr, r_dev, r_mean, n, own_term=retro_own_term)
            retro_likelihood(design, pr, t_dev, t_mean)
    return model


def joint_retro_canonical(post, p: dict, ref, kind: str) -> dict:
    """The retrospective part, when the joint model was built with it (retro=None and retro data)."""
    return retro_canonical(post, p, ref, kind) if "retro_mandatory" in post else {}


JOINT_SPEC = ModelSpec(
    name="joint",
    build=joint_model,
    default_priors={**ATTENDANCE_PRIORS, **RATING_PRIORS, **RETRO_PRIORS, **JOINT_PRIORS},
    canonical=canonical_from(attendance_canonical, rating_canonical, joint_retro_canonical),
    outputs=ATTENDANCE_OUTPUTS + RATING_OUTPUTS + registry.RETRO,
)

__all__ = ["joint_model", "joint_priors", "correlated_scholars", "JOINT_SPEC"]
