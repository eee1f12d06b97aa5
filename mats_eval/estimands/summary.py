"""Posterior draws -> the contract's estimands (DATA_CONTRACT.md §4, effects.csv).

`canonical_parameters` turns a posterior into the parameter dict of
estimands.py (each value an array over draws, chains × draws flattened), so
estimates and simulated truth go through the same maths. `effects_table`
applies `estimands.all_estimands` and summarises each estimand by its mean,
sd, 90% highest-density interval and P(estimand > 0).

Decay-to-a-floor attendance (models/attendance.py form="floor") has no week
slope parameter; for it `attendance_week_slope` is the secant slope of the
population attendance logit, (logit P_last − logit P_first)/(W − 1), and
attendance_last_week is computed exactly from the floor form (see
`floor_attendance`). Later models add their parameters here; anything in the
posterior that is not a raw `_z` vector or a per-scholar/session/observation
vector is passed through under its own name.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logit

from mats_eval.estimands import kernels as est
from mats_eval.estimands import registry
from mats_eval.estimands.intervals import equal_tailed, hdi
from mats_eval.data.design import Design
from mats_eval.data.reference import Reference, reference_from
from mats_eval.models.ratings import cutpoint_name
from mats_eval.models.retrospective import retro_cutpoint_name

# `interval` (added): which 90% interval hdi_low/hdi_high hold, from the registry.
# `note` (added to the contract's columns): how far the row can be trusted, e.g. the
# identification verdict of a policy contrast (mats_eval.checks.identification); '' otherwise.
EFFECT_COLUMNS = ["estimand", "scale", "mean", "sd", "hdi_low", "hdi_high", "prob_positive", "interval", "note"]
VOLUME_CURVE_COLUMNS = ["volume", "mean", "hdi_low", "hdi_high", "prob_above_optimum"]

# Per-unit vectors that are not parameters of the estimands (kept in posterior.nc only).
_UNIT_DIMS = {"scholar", "session", "attendance_obs", "rating_obs", "retro_obs"}


def reference_of(design_or_data) -> Reference:
    """The Reference of a Design, a ProgramData, or a Reference itself."""
    if isinstance(design_or_data, Reference):
        return design_or_data
    if isinstance(design_or_data, Design):
        return design_or_data.reference
    return reference_from(design_or_data)


def posterior_draws(idata) -> dict[str, np.ndarray]:
    """Posterior variables as arrays (chain·draw, ...), skipping `_z` raw effects and per-unit vectors."""
    post = idata["posterior"]
    out = {}
    for name, da in post.data_vars.items():
        if name.endswith("_z") or _UNIT_DIMS & set(da.dims):
            continue
        values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
        out[name] = values.reshape((-1,) + values.shape[2:])
    return out


def _select(post, var: str, dim: str, label: str) -> np.ndarray:
    """Draws of post[var] at dim=label, flattened over chain and draw."""
    da = post[var]
    if label not in [str(x) for x in da[dim].values]:
        raise KeyError(f"{dim} {label!r} is not in the fitted data ({var} has {list(map(str, da[dim].values))})")
    return np.asarray(da.sel({dim: label}).transpose("chain", "draw").values, dtype=float).reshape(-1)


def canonical_parameters(idata, design_or_data, kind: str | None = None) -> dict[str, np.ndarray]:
    """Posterior -> {canonical name: draws} for estimands.py, at `kind` (default Reference.kind).

    Adds attendance_kind_ref, rating_kind_ref, rating_cutpoints_ref (reference scale,
    shape (draws, K−1)) and, for the floor form, the secant attendance_week_slope.
    """
    ref = reference_of(design_or_data)
    kind = kind or ref.kind
    post = idata["posterior"]
    p = posterior_draws(idata)
    if "attendance_kind" in post:
        p["attendance_kind_ref"] = _select(post, "attendance_kind", "kind", kind)
    if "rating_kind" in post:
        p["rating_kind_ref"] = _select(post, "rating_kind", "kind", kind)
    cut = cutpoint_name(ref.session_scale)
    if cut in p:
        p["rating_cutpoints_ref"] = p[cut]
    if "retro_mandatory" in p:
        retro_cut = retro_cutpoint_name(ref.retro_scale) if ref.retro_scale is not None else None
        if "retro_element" in post and ref.element is not None and retro_cut in p:
            p["retro_element_ref"] = _select(post, "retro_element", "element", ref.element)
            p["retro_cutpoints_ref"] = p[retro_cut]
        else:  # no reference element or scale in this fit: the retro contrast is not defined
            del p["retro_mandatory"]
    if "attendance_decay_rate" in p:
        first, last = floor_attendance(p, ref)
        p["attendance_week_slope"] = (logit(last) - logit(first)) / max(ref.n_weeks - 1, 1)
        p["attendance_week_slope_cohort_sd"] = np.zeros_like(first)
    return p


def floor_attendance(p: dict, ref: Reference) -> tuple[np.ndarray, np.ndarray]:
    """(P week 1, P last week) of an optional session under the floor form, new cohort/scholar/session.

    P_1 = E[logit⁻¹(α + kind + β_V·V + noise)];  P_W = P_1 · E_z[φ + (1−φ)·exp(−λ e^{σ_λ z}(W−1))].
    """
    mean = p["attendance_intercept"] + p["attendance_kind_ref"] + p["attendance_volume"] * ref.volume
    sd = np.sqrt(p["attendance_cohort_sd"] ** 2 + p["attendance_scholar_sd"] ** 2 + p["attendance_session_sd"] ** 2)
    first = est.population_attendance(mean, sd)
    rate = p["attendance_decay_rate"][:, None] * np.exp(p["attendance_decay_rate_cohort_sd"][:, None] * est._GH_NODES)
    phi = p["attendance_floor_fraction"][:, None]
    kept = ((phi + (1 - phi) * np.exp(-rate * (ref.n_weeks - 1))) * est._GH_WEIGHTS).sum(-1)
    return first, first * kept


INTERVALS = {registry.HDI: hdi, registry.EQUAL_TAILED: equal_tailed}


def summarise_draws(name: str, draws: np.ndarray, ref: Reference | None = None) -> dict:
    """One effects.csv row: mean, sd, the registered 90% interval (HDI or equal-tailed) and P(> 0)."""
    entry = registry.ESTIMANDS[name]
    draws = np.asarray(draws, dtype=float).ravel()
    low, high = INTERVALS[entry.interval](draws)
    return {
        "estimand": name,
        "scale": entry.scale,
        "mean": float(draws.mean()),
        "sd": float(draws.std(ddof=1)) if len(draws) > 1 else 0.0,
        "hdi_low": low,
        "hdi_high": high,
        "prob_positive": float((draws > 0).mean()),
        "interval": registry.INTERVAL_LABELS[entry.interval],
        "note": entry.note(draws, ref) if (entry.note is not None and ref is not None) else "",
    }


def estimand_draws(idata, design_or_data, kind: str | None = None, optimum: bool = True) -> dict[str, np.ndarray]:
    """Every registered estimand this posterior defines, as draw arrays (`optimum=False`: all but
    the costly ones)."""
    ref = reference_of(design_or_data)
    p = canonical_parameters(idata, ref, kind)
    out = registry.estimand_draws(p, ref, costly=optimum)
    if "attendance_decay_rate" in p and "attendance_last_week" in out:  # floor form: exact last week
        out["attendance_last_week"] = floor_attendance(p, ref)[1]
    return out


def effects_table(idata, data, kind: str | None = None) -> pd.DataFrame:
    """effects.csv: estimand, scale, mean, sd, hdi_low, hdi_high (90% interval), prob_positive, interval, note."""
    return effects_from_draws(estimand_draws(idata, data, kind), reference_of(data))


def effects_from_draws(draws_of: dict[str, np.ndarray], ref: Reference | None = None) -> pd.DataFrame:
    """effects.csv from estimand draws already computed (estimand_draws)."""
    return pd.DataFrame([summarise_draws(name, d, ref) for name, d in draws_of.items()], columns=EFFECT_COLUMNS)


def volume_curve(idata, data, kind: str | None = None) -> pd.DataFrame:
    """volume_curve.csv: expected valued attendance U(V) per scholar-week over the volume grid.

    Columns: volume, mean, hdi_low, hdi_high (90% HDI of U(V)), prob_above_optimum
    = P(V > V*), the posterior probability that this volume is past the optimum
    V* = argmax U (estimands.valued_attendance_curve; optimal_sessions_per_week is V*).
    Empty when the posterior lacks attendance or rating parameters.
    """
    ref = reference_of(data)
    p = canonical_parameters(idata, ref, kind)
    if "attendance_intercept" not in p or "rating_mandatory" not in p:
        return pd.DataFrame(columns=VOLUME_CURVE_COLUMNS)
    p = est.thinned({k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in p.items()}, est.CURVE_DRAWS)
    grid = np.asarray(ref.volume_grid, dtype=float)
    curve = est.valued_attendance_curve(p, ref, grid)
    optimum = grid[np.argmax(curve, axis=1)]
    low, high = hdi(curve)
    return pd.DataFrame({"volume": grid, "mean": curve.mean(axis=0), "hdi_low": low, "hdi_high": high,
                         "prob_above_optimum": (grid[None, :] > optimum[:, None]).mean(axis=0)},
                        columns=VOLUME_CURVE_COLUMNS)
