"""The speed benchmark's baseline: the joint model written the obvious way.

Same likelihood and the same priors as mats_eval.models.joint (attendance
Bernoulli-logit, session ratings and retrospective ratings ordered-logistic,
correlated scholar effects with an LKJ prior), but with none of the package's
sampling work: every group effect is centred (a ~ N(0, σ) sampled directly),
covariates enter raw and per row, kind effects and the volume slope are
separate, the cohort variances are sampled (not integrated out) and the
likelihoods are PyMC's own (pm.Bernoulli, pm.OrderedLogistic on every row).
The benchmark samples it with PyMC's default sampler and settings.

Not part of the package: nothing imports it but benchmarks/bench_speed.py.
"""
from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from mats_eval.data.design import Design
from mats_eval.models.joint import LKJ_ETA, SCHOLAR_SDS, joint_priors
from mats_eval.models.priors import (
    cutpoint_prior_mean, induced_dirichlet_draws, induced_dirichlet_logp, make_prior,
)


def _cohort_effect(pr: dict, var_name: str, name: str, n: int):
    """Centred: σ² ~ InverseGamma (the package's prior), a_c ~ N(0, σ)."""
    alpha, beta = pr[var_name][1]["alpha"], pr[var_name][1]["beta"]
    var = pm.InverseGamma(var_name, alpha=alpha, beta=beta)
    return pm.Normal(name, 0.0, pt.sqrt(var), dims="cohort")


def _centred(pr: dict, sd_name: str, name: str, dim: str):
    return pm.Normal(name, 0.0, make_prior(pr, sd_name), dims=dim)


def _cutpoints(pr: dict, prefix: str, scales) -> list:
    """The package's cutpoint prior (induced Dirichlet) on the cutpoints themselves."""
    a = float(pr[f"{prefix}_cutpoints"][1]["a"])
    out = []
    for lo, hi in scales:
        k = hi - lo + 1
        out.append(pm.CustomDist(f"{prefix}_cutpoints_{lo}_{hi}", np.zeros(k - 1), a, 0.0, logp=induced_dirichlet_logp,
                                 random=induced_dirichlet_draws, signature="(k),(),()->(k)",
                                 transform=pm.distributions.transforms.ordered,
                                 initval=np.sort(cutpoint_prior_mean(k))))
    return out


def _ordinal(name: str, eta, cuts: list, scale_of_row: np.ndarray, code: np.ndarray, dims: str):
    """One pm.OrderedLogistic per scale (rows of that scale)."""
    for j, c in enumerate(cuts):
        rows = np.flatnonzero(scale_of_row == j)
        pm.OrderedLogistic(f"{name}_{j}" if len(cuts) > 1 else name, eta=eta[rows], cutpoints=c,
                           compute_p=False, observed=code[rows])


def naive_joint_model(design: Design) -> pm.Model:
    pr = joint_priors()
    coords = {k: design.coords[k] for k in ("cohort", "scholar", "session", "kind")}
    if design.has_speakers:
        coords["speaker"] = design.coords["speaker"]
    retro = design.retro
    if retro is not None:
        coords["element"] = list(retro.elements)
    n_scholars = len(design.coords["scholar"])
    with pm.Model(coords=coords) as model:
        # the obvious way: PyMC's LKJCholeskyCov (both default sd priors are HalfNormal(1))
        sigma = np.array([pr[name][1]["sigma"] for name in SCHOLAR_SDS])
        chol, _, _ = pm.LKJCholeskyCov("scholar_cov", n=2, eta=LKJ_ETA, sd_dist=pm.HalfNormal.dist(sigma=sigma, shape=2))
        scholar = pm.MvNormal("scholar_effects", mu=np.zeros(2), chol=chol, shape=(n_scholars, 2))

        # attendance, row by row
        s, i = design.att_session, design.att_scholar
        m, v, w0 = design.session_mandatory[s], design.session_volume[s], design.session_week0[s]
        c = design.session_cohort[s]
        intercept = make_prior(pr, "attendance_intercept")
        kind = make_prior(pr, "attendance_kind", dims="kind")
        b_m = make_prior(pr, "attendance_mandatory")
        b_v = make_prior(pr, "attendance_volume")
        slope = make_prior(pr, "attendance_week_slope")
        slope_m = make_prior(pr, "attendance_week_slope_mandatory")
        slope_var = pr["attendance_week_slope_cohort_var"][1]
        slope_c = pm.Normal("attendance_week_slope_cohort", 0.0,
                            pt.sqrt(pm.InverseGamma("attendance_week_slope_cohort_var", **slope_var)), dims="cohort")
        cohort = _cohort_effect(pr, "attendance_cohort_var", "attendance_cohort", len(coords["cohort"]))
        session = _centred(pr, "attendance_session_sd", "attendance_session", "session")
        eta = (intercept + kind[design.session_kind[s]] + b_m * m + b_v * v + (slope + slope_c[c]) * w0 * (1 - m)
               + slope_m * w0 * m + cohort[c] + scholar[i, 0] + session[s])
        pm.Bernoulli("attended", logit_p=eta, observed=design.att_y)

        # session ratings, row by row
        s, i = design.rating_session, design.rating_scholar
        r_kind = make_prior(pr, "rating_kind", dims="kind")
        g_m, g_v, g_w = (make_prior(pr, n) for n in ("rating_mandatory", "rating_volume", "rating_week"))
        r_cohort = _cohort_effect(pr, "rating_cohort_var", "rating_cohort", len(coords["cohort"]))
        eta = (r_kind[design.session_kind[s]] + g_m * design.session_mandatory[s] + g_v * design.session_volume[s]
               + g_w * design.session_week0[s] + r_cohort[design.session_cohort[s]] + scholar[i, 1])
        if design.has_speakers:
            speaker = _centred(pr, "rating_speaker_sd", "rating_speaker", "speaker")
            eta = eta + speaker[design.session_speaker[s]] * design.session_has_speaker[s]
        _ordinal("rating", eta, _cutpoints(pr, "rating", design.scales), design.rating_scale, design.rating_code,
                 "rating_obs")

        if retro is not None:
            element = make_prior(pr, "retro_element", dims="element")
            beta = make_prior(pr, "retro_mandatory")
            loading = make_prior(pr, "retro_scholar_loading")
            t_cohort = _cohort_effect(pr, "retro_cohort_var", "retro_cohort", len(coords["cohort"]))
            eta = (element[retro.element] + beta * retro.mandatory + t_cohort[retro.cohort]
                   + loading * scholar[retro.scholar, 1])
            _ordinal("retro", eta, _cutpoints(pr, "retro", retro.scales), retro.scale, retro.code, "retro_obs")
    return model
