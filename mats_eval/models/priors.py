"""Default priors as named entries, and merging user overrides into them.

A prior is `(distribution name in pymc, {parameter: value})`, e.g.
`("Normal", {"mu": 0, "sigma": 0.5})`. Keys are the canonical parameter names
of estimands.py (plus a few model-specific ones). An override is either a full
entry (replaces the default) or a bare dict of parameters (merged into it):

    resolve_priors(ATTENDANCE_PRIORS, {"attendance_week_slope": {"sigma": 1.0}})

Scales (why these): logit-scale effects rarely exceed ±3, so fixed effects get
sd 1 (kind, mandatory) or less for per-unit slopes (a week or an extra session
moves attendance by a fraction of a log-odds); group sds are half-normal with
the bulk below 1; the cohort deviation of the week slope is small (0.1 per week
is already ±1 log-odds over 10 weeks). Checked by the prior predictive test in
tests/test_models.py (attendance rates and rating means stay spread over the
whole range without piling up at 0 or 1).
"""
from __future__ import annotations

import copy
import inspect
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import pymc as pm

from mats_eval.errors import UsageError


class PriorError(UsageError, ValueError):
    """A prior override that cannot be used (unknown distribution, bad parameters)."""


Prior = tuple[str, dict]

ATTENDANCE_PRIORS: dict[str, Prior] = {
    # intercept at the mean of the (centred) covariates: logit of a typical attendance rate
    "attendance_intercept": ("Normal", {"mu": 0.0, "sigma": 1.5}),
    "attendance_kind": ("ZeroSumNormal", {"sigma": 1.0}),  # zero-sum: the intercept carries the level
    "attendance_mandatory": ("Normal", {"mu": 0.0, "sigma": 1.5}),
    "attendance_volume": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    "attendance_week_slope": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    "attendance_week_slope_mandatory": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    "attendance_week_slope_cohort_sd": ("HalfNormal", {"sigma": 0.1}),
    # boundary-avoiding (Gamma(2, 5): mean 0.4, zero density at 0): with ~3 cohorts a
    # half-normal lets the sampler into the sd → 0 funnel (data/example failed the gate)
    "attendance_cohort_sd": ("Gamma", {"alpha": 2.0, "beta": 5.0}),
    "attendance_scholar_sd": ("HalfNormal", {"sigma": 1.0}),
    "attendance_session_sd": ("HalfNormal", {"sigma": 0.5}),
    # form="floor" only: p_w = p_1·(φ + (1 − φ)·exp(−λ_c (w − 1))), λ_c = λ·exp(σ_λ z_c)
    "attendance_floor_fraction": ("Beta", {"alpha": 2.0, "beta": 2.0}),
    "attendance_decay_rate": ("HalfNormal", {"sigma": 0.5}),
    "attendance_decay_rate_cohort_sd": ("HalfNormal", {"sigma": 0.3}),
}

RATING_PRIORS: dict[str, Prior] = {
    "rating_kind": ("ZeroSumNormal", {"sigma": 1.0}),  # zero-sum: the cutpoints carry the level
    "rating_mandatory": ("Normal", {"mu": 0.0, "sigma": 1.0}),
    "rating_volume": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    "rating_week": ("Normal", {"mu": 0.0, "sigma": 0.25}),
    "rating_cohort_sd": ("Gamma", {"alpha": 2.0, "beta": 5.0}),  # boundary-avoiding, as above
    "rating_scholar_sd": ("HalfNormal", {"sigma": 1.0}),
    "rating_speaker_sd": ("HalfNormal", {"sigma": 0.5}),
    # cutpoints: Normal around the logits of equal category shares, this sd
    "rating_cutpoints": ("Normal", {"sigma": 1.5}),
}


def _check_entry(name: str, entry) -> Prior:
    """Validate one prior entry; return it as (dist, params) or raise PriorError."""
    if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
        raise PriorError(f"prior {name!r}: expected (distribution, {{parameters}}), got {entry!r}")
    dist, params = entry
    if not isinstance(dist, str) or not isinstance(getattr(pm, dist, None), type) or not issubclass(
        getattr(pm, dist), pm.Distribution
    ):
        raise PriorError(f"prior {name!r}: {dist!r} is not a PyMC distribution (e.g. 'Normal', 'HalfNormal')")
    if not isinstance(params, Mapping):
        raise PriorError(f"prior {name!r}: parameters must be a dict, got {params!r}")
    for key, value in params.items():
        ok = isinstance(value, numbers.Real) or (
            isinstance(value, (list, tuple, np.ndarray)) and np.issubdtype(np.asarray(value).dtype, np.number)
        )
        if not ok or not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise PriorError(f"prior {name!r}: parameter {key!r} must be a finite number, got {value!r}")
    return dist, dict(params)


def _check_parameters(name: str, dist: str, params: dict, skip: tuple[str, ...] = ()) -> None:
    """Build the distribution once so misspelt parameter names fail here, not mid-model."""
    if any(k in skip for k in params):
        return
    signature = inspect.signature(getattr(pm, dist).dist)
    known = {n for n, prm in signature.parameters.items() if prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL)}
    unknown = sorted(set(params) - known)
    if unknown:  # PyMC swallows unknown keywords silently, so check the names ourselves
        raise PriorError(f"prior {name!r}: {dist} has no parameter(s) {', '.join(unknown)} "
                         f"(it takes {', '.join(sorted(known - {'cls'}))})")
    try:
        try:
            getattr(pm, dist).dist(**params)
        except ValueError as exc:  # vector-only distributions (ZeroSumNormal) need a shape
            if "shape" not in str(exc):
                raise
            getattr(pm, dist).dist(**params, shape=(2,))
    except Exception as exc:  # PyMC raises TypeError/ValueError for bad parameters
        raise PriorError(f"prior {name!r}: {dist}({params}) is not valid: {exc}") from None


def resolve_priors(defaults: Mapping[str, Prior], overrides: Mapping | None = None) -> dict[str, Prior]:
    """defaults ⊕ overrides: unknown keys warn (UserWarning) and are ignored; malformed raise PriorError."""
    resolved = copy.deepcopy(dict(defaults))
    if not overrides:
        return resolved
    if not isinstance(overrides, Mapping):
        raise PriorError(f"priors must be a dict of name -> (distribution, parameters), got {type(overrides).__name__}")
    for name, entry in overrides.items():
        if name not in resolved:
            warnings.warn(f"unknown prior {name!r} ignored (known: {', '.join(sorted(resolved))})", UserWarning,
                          stacklevel=2)
            continue
        if isinstance(entry, Mapping):  # bare parameters: merge into the default
            entry = (resolved[name][0], {**resolved[name][1], **entry})
        dist, params = _check_entry(name, entry)
        _check_parameters(name, dist, params, skip=("mu",) if name == "rating_cutpoints" else ())
        resolved[name] = (dist, params)
    return resolved


def make_prior(priors: Mapping[str, Prior], name: str, var_name: str | None = None, shift=None, **kwargs):
    """Create the random variable `var_name` (default `name`) from entry `name` in the current model.

    `shift` moves the location (x ~ D(mu + shift)): used to sample a shifted copy of a
    parameter, x + shift, whose prior is that of x.
    """
    dist, params = priors[name]
    params = dict(params)
    if shift is not None:
        if "mu" not in inspect.signature(getattr(pm, dist).dist).parameters:
            raise PriorError(f"prior {name!r}: needs a location family with a 'mu' parameter, not {dist}")
        params["mu"] = params.get("mu", 0.0) + shift
    return getattr(pm, dist)(var_name or name, **params, **kwargs)


def group_effect(priors: Mapping[str, Prior], sd_name: str, effect_name: str, dim: str,
                 deterministic: bool = True, centred: bool = False):
    """Group effect ~ N(0, sd) over `dim`: non-centred effect = sd · z, z ~ N(0, 1) (`<effect>_z`),
    or centred (`centred=True`, the effect itself is sampled).

    Non-centred suits many weakly-informed groups (scholars, sessions, speakers). For a
    few data-rich groups (cohorts) neither form samples well on data/example (centred:
    ~100 divergences; non-centred: intercept ESS ~150); use split_group_effect there.
    """
    sd = make_prior(priors, sd_name)
    if centred:
        return pm.Normal(effect_name, 0.0, sd, dims=dim)
    z = pm.Normal(f"{effect_name}_z", 0.0, 1.0, dims=dim)
    effect = sd * z
    return pm.Deterministic(effect_name, effect, dims=dim) if deterministic else effect


def split_group_effect(priors: Mapping[str, Prior], sd_name: str, effect_name: str, dim: str, n: int,
                       centred_deviations: bool = False, deterministic: bool = True):
    """Group effect a ~ N(0, sd) iid over `dim`, split into its mean and zero-sum deviations.

    a_c = ā + ã_c,  ā = sd·ζ/√n (ζ ~ N(0,1), `<effect>_mean_z`),  ã = sd·z̃
    (z̃ ~ ZeroSumNormal(1) = z − z̄ of iid N(0,1), `<effect>_z`): exactly the iid model.
    Why: with a few data-rich groups (cohorts) only level + ā is identified; models
    sample that sum directly and let ā follow its prior (see models/attendance.py),
    which removes the intercept–group ridge that stalls the sampler.
    With `centred_deviations` ã itself is sampled (`<effect>_dev` ~ ZeroSumNormal(sd)):
    data-rich groups pin ã, and a non-centred z̃ = ã/sd then traces a curved ridge.
    Returns (sd, ā, ã); the full effect is kept as the Deterministic `effect_name`.
    """
    sd = make_prior(priors, sd_name)
    mean_z = pm.Normal(f"{effect_name}_mean_z", 0.0, 1.0)
    if centred_deviations:
        dev = pm.ZeroSumNormal(f"{effect_name}_dev", sigma=sd, dims=dim)
    else:
        dev = sd * pm.ZeroSumNormal(f"{effect_name}_z", sigma=1.0, dims=dim)
    mean = sd * mean_z / np.sqrt(n)
    if deterministic:
        pm.Deterministic(effect_name, mean + dev, dims=dim)
    return sd, mean, dev
