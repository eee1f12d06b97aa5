"""Attendance model: did scholar i attend session s (Bernoulli), two forms of the week trend.

form="linear" (the canonical model of estimands.py):
    logit p = α + kind[k] + β_m·m + β_V·V + (δ + d_c)·(w−1)·(1−m) + δ_m·(w−1)·m
              + a_c + u_i + e_s
form="floor" (decay to a floor, optional sessions only):
    p = p₁ · (φ + (1 − φ)·exp(−λ_c (w−1))),  logit p₁ = α + kind[k] + β_V·V + a_c + u_i + e_s,
    λ_c = λ·exp(σ_λ z_c);  φ ∈ (0, 1) is the share of week-1 attendance kept in the long run,
    so the floor φ·p₁ sits below p₁ for every scholar. Mandatory sessions keep the
    linear logit form (β_m + δ_m·(w−1)). The canonical attendance_week_slope is not
    a parameter here; effects.py reports its secant equivalent (see there).

Group effects are non-centred (`<name>_z` raw variables times an sd). Two exact
reparametrisations keep the sampler away from ridges (why: data/example has 3
cohorts with thousands of rows each, and the naive form failed the gate):
- fixed-effect columns are centred at their observation means (volume within
  kind: priors.kind_centred, which samples the kind effects shifted by β_V times
  the kind's mean volume, so that kind and volume do not trade off); the
  canonical intercept α = α' − Σ β_j·x̄_j is the Deterministic
  `attendance_intercept` (its prior is on α', the logit at the covariate centre);
- cohort, scholar and session effects are split into their mean and zero-sum
  deviations (priors.split_group_effect); the sampler sees the identified sums
  L = α' + ā + ū + ē + d̄·x̄ (`attendance_level`) and S = δ + d̄
  (`attendance_week_slope_total`), and α', δ follow from the priors of ā, d̄.

`attendance_likelihood(design, pr, scholar, scholar_mean)` adds everything but
the scholar effect to the model in context; the joint model (models/joint.py)
calls it with its correlated scholar effects.
"""
from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from mats_eval.design import Design
from mats_eval.errors import UsageError
from mats_eval.models.priors import (
    ATTENDANCE_PRIORS, kind_centred, make_prior, resolve_priors, split_group_effect,
)

FORMS = ("linear", "floor")
SLOPE = "attendance_week_slope"


def attendance_columns(design: Design, form: str) -> dict[str, np.ndarray]:
    """Fixed-effect covariates per attendance observation, keyed by their coefficient name."""
    s = design.att_session
    m, v, w0 = design.session_mandatory[s], design.session_volume[s], design.session_week0[s]
    cols = {"attendance_mandatory": m, "attendance_volume": v, "attendance_week_slope_mandatory": w0 * m}
    if form == "linear":
        cols["attendance_week_slope"] = w0 * (1 - m)
    return cols


def attendance_coords(design: Design) -> dict[str, list]:
    """Coords the attendance likelihood needs."""
    return design.coords_for("cohort", "scholar", "session", "kind", "attendance_obs")


def attendance_model(design: Design, priors: dict | None = None, form: str = "linear") -> pm.Model:
    """The attendance model of `design` (see module docstring); observed variable `attended`."""
    pr = resolve_priors(ATTENDANCE_PRIORS, priors)
    _check(design, form)
    with pm.Model(coords=attendance_coords(design)) as model:
        _, scholar_mean, scholar = split_group_effect(pr, "attendance_scholar_sd", "attendance_scholar", "scholar",
                                                      len(design.coords["scholar"]))
        attendance_likelihood(design, pr, scholar, scholar_mean, form=form)
    return model


def _check(design: Design, form: str) -> None:
    if form not in FORMS:
        raise UsageError(f"unknown attendance form {form!r}; choose one of {', '.join(FORMS)}")
    if len(design.att_y) == 0:
        raise UsageError("the dataset has no attendance rows to fit")


def attendance_likelihood(design: Design, pr: dict, scholar, scholar_mean=0.0, form: str = "linear") -> None:
    """Add every attendance parameter but the scholar effect, and the observed `attended`, to the model
    in context.

    `scholar` is the zero-sum deviation part of the scholar effect over dim "scholar"
    and `scholar_mean` its mean (absorbed by the level; see the module docstring): the
    attendance model passes its own split effect, the joint model the attendance half of
    its correlated scholar effects. (Centred cohort deviations were tried for the
    joint model on data/example: 3 divergences; non-centred, as here: 0.)
    """
    _check(design, form)
    s, i = design.att_session, design.att_scholar
    cohort_of_obs = design.session_cohort[s]
    m = design.session_mandatory[s]
    w0 = design.session_week0[s]
    cols = attendance_columns(design, form)
    n_cohorts = len(design.coords["cohort"])
    betas = {name: make_prior(pr, name) for name in cols if name != SLOPE}
    # volume differs mostly between kinds: kind effects are sampled shifted (priors.kind_centred)
    volume = "attendance_volume"
    kind, volume_centred, volume_centre = kind_centred(pr, "attendance_kind", betas[volume], cols[volume],
                                                       design.session_kind[s], len(design.coords["kind"]))
    centre = {n: (volume_centre if n == volume else cols[n].mean()) for n in cols}
    _, cohort_mean, cohort_dev = split_group_effect(pr, "attendance_cohort_sd", "attendance_cohort", "cohort",
                                                    n_cohorts)
    _, session_mean, session = split_group_effect(pr, "attendance_session_sd", "attendance_session", "session",
                                                  len(design.coords["session"]), deterministic=False)
    fixed = sum(b * (volume_centred if n == volume else cols[n] - centre[n]) for n, b in betas.items())
    level_shift = cohort_mean + scholar_mean + session_mean
    if form == "linear":
        # S = δ + d̄ is what the data pin; δ = S − d̄ keeps its own prior
        _, slope_mean, slope_dev = split_group_effect(
            pr, "attendance_week_slope_cohort_sd", "attendance_week_slope_cohort", "cohort", n_cohorts)
        slope_total = make_prior(pr, SLOPE, f"{SLOPE}_total", shift=slope_mean)
        betas[SLOPE] = pm.Deterministic(SLOPE, slope_total - slope_mean)
        x = cols[SLOPE]
        fixed = fixed + slope_total * (x - centre[SLOPE]) + slope_dev[cohort_of_obs] * x
        level_shift = level_shift + slope_mean * centre[SLOPE]
    # L = α' + ā + ū + ē (+ d̄·x̄): the level of the observed units, sampled directly
    level = make_prior(pr, "attendance_intercept", "attendance_level", shift=level_shift)
    pm.Deterministic("attendance_intercept", level - level_shift - sum(b * centre[n] for n, b in betas.items()))
    eta = level + fixed + kind[design.session_kind[s]] + cohort_dev[cohort_of_obs] + scholar[i] + session[s]
    if form == "linear":
        pm.Bernoulli("attended", logit_p=eta, observed=design.att_y, dims="attendance_obs")
    else:
        p = floor_probability(pr, eta, w0, m, cohort_of_obs)
        pm.Bernoulli("attended", p=p, observed=design.att_y, dims="attendance_obs")


def floor_probability(pr: dict, eta, w0: np.ndarray, m: np.ndarray, cohort_of_obs: np.ndarray):
    """p = m·logit⁻¹(η) + (1−m)·logit⁻¹(η)·(φ + (1−φ)·exp(−λ_c (w−1))) (η already has δ_m·(w−1)·m)."""
    floor = make_prior(pr, "attendance_floor_fraction")
    rate = make_prior(pr, "attendance_decay_rate")
    rate_sd = make_prior(pr, "attendance_decay_rate_cohort_sd")
    rate_z = pm.Normal("attendance_decay_rate_cohort_z", 0.0, 1.0, dims="cohort")
    rate_c = pm.Deterministic("attendance_decay_rate_cohort", rate * pt.exp(rate_sd * rate_z), dims="cohort")
    decay = floor + (1 - floor) * pt.exp(-rate_c[cohort_of_obs] * w0)
    p1 = pm.math.sigmoid(eta)
    # clip: a product of probabilities can underflow to 0 and give log(0) for an attended row
    return pt.clip(p1 * (m + (1 - m) * decay), 1e-12, 1 - 1e-12)
