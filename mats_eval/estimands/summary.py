"""Estimand draws -> the rows of effects.csv and volume_curve.csv (README.md "What goes in, what comes out"). No PyMC here.

A model maps its posterior to the canonical parameters of kernels.py
(`mats_eval.models.get_spec(name).canonical`), the registry turns those into
estimand draws (`registry.estimand_draws`; `mats_eval.models.estimand_draws`
does both), and this module summarises draws: `effects_from_draws` gives each
estimand's mean, sd, its registered 90% interval (HDI or equal-tailed) and
P(estimand > 0); `volume_curve` the valued-attendance curve U(V) of a canonical
parameter dict.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from mats_eval.data.design import Design
from mats_eval.data.reference import Reference, reference_from
from mats_eval.estimands import kernels as est
from mats_eval.estimands import registry
from mats_eval.estimands.intervals import equal_tailed, hdi

# `interval` (added): which 90% interval hdi_low/hdi_high hold, from the registry.
# `note` (added to the contract's columns): how far the row can be trusted, e.g. the
# identification verdict of a policy contrast (mats_eval.checks.identification); '' otherwise.
EFFECT_COLUMNS = ["estimand", "scale", "mean", "sd", "hdi_low", "hdi_high", "prob_positive", "interval", "note"]
VOLUME_CURVE_COLUMNS = ["volume", "mean", "hdi_low", "hdi_high", "prob_above_optimum", "extrapolated",
                        "observed_cohorts", "best_expected"]

INTERVALS = {registry.HDI: hdi, registry.EQUAL_TAILED: equal_tailed}


def reference_of(design_or_data) -> Reference:
    """The Reference of a Design, a ProgramData, or a Reference itself."""
    if isinstance(design_or_data, Reference):
        return design_or_data
    if isinstance(design_or_data, Design):
        return design_or_data.reference
    return reference_from(design_or_data)


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


def effects_from_draws(draws_of: dict[str, np.ndarray], ref: Reference | None = None) -> pd.DataFrame:
    """effects.csv from estimand draws (registry.estimand_draws); `ref` lets the registry's notes speak."""
    return pd.DataFrame([summarise_draws(name, d, ref) for name, d in draws_of.items()], columns=EFFECT_COLUMNS)


OPTIMUM = "optimal_sessions_per_week"


def curve_draws(p: Mapping, ref: Reference, threads: int | None = None) -> np.ndarray | None:
    """U(V) draws, (kernels.CURVE_DRAWS thinned draws, len(ref.curve_grid)): the one evaluation of
    kernels.valued_attendance_curve the optimum (`optimum_draws`) and volume_curve.csv both read;
    None when `p` does not define the optimum.

    Draws are independent, so they are split across `threads` (default: the CPUs, at most 4):
    NumPy releases the GIL in the kernel's array arithmetic, and the draws come out the same.
    """
    p = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in p.items()}
    if not registry.ESTIMANDS[OPTIMUM].defined_by(p, ref):
        return None
    p = est.thinned(p, est.CURVE_DRAWS)
    grid = np.asarray(ref.curve_grid, dtype=float)
    n = len(p["attendance_intercept"])
    threads = max(1, min(threads or os.cpu_count() or 1, 4, n))
    chunks = np.array_split(np.arange(n), threads)

    def part(index: np.ndarray) -> np.ndarray:
        return est.valued_attendance_curve({k: v[index] if len(v) == n else v for k, v in p.items()}, ref, grid)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return np.concatenate(list(pool.map(part, chunks)), axis=0)


def _in_data_range(ref: Reference) -> np.ndarray:
    """Which points of ref.curve_grid belong to ref.volume_grid (where the optimum is searched)."""
    grid = np.asarray(ref.curve_grid, dtype=float)
    return np.isclose(grid[:, None], np.asarray(ref.volume_grid, dtype=float)[None, :]).any(axis=1)


def optimum_draws(curve: np.ndarray, ref: Reference) -> np.ndarray:
    """optimal_sessions_per_week per draw, argmax_V U(V) over ref.volume_grid, from `curve_draws`:
    the registry kernel's value (kernels.optimal_sessions_per_week) without evaluating U(V) again."""
    inside = _in_data_range(ref)
    return np.asarray(ref.curve_grid, dtype=float)[inside][np.argmax(curve[:, inside], axis=1)]


def estimand_draws_with_curve(p: Mapping, ref: Reference, curve: np.ndarray | None) -> dict[str, np.ndarray]:
    """registry.estimand_draws(p, ref), the volume optimum taken from the U(V) draws `curve` (if given)."""
    names = tuple(n for n in registry.ESTIMANDS if not (curve is not None and n == OPTIMUM))
    draws = registry.estimand_draws(p, ref, names=names)
    if curve is not None:
        draws[OPTIMUM] = optimum_draws(curve, ref)
    return {name: draws[name] for name in registry.ESTIMANDS if name in draws}


def volume_curve(p: Mapping, ref: Reference, curve: np.ndarray | None = None) -> pd.DataFrame:
    """volume_curve.csv from canonical parameter draws `p` (or their `curve_draws`, `curve`): U(V), research
    hours a scholar nets per week from V optional sessions of the reference kind (kernels.valued_attendance_curve,
    default utility).

    Columns: volume (ref.curve_grid: the data's range and a stretch either side), mean, hdi_low,
    hdi_high (90% HDI of U(V)), prob_above_optimum = P(V > V*) with V* = argmax U within the data's
    range (the optimal_sessions_per_week draws), extrapolated (V outside the volumes the data cover),
    observed_cohorts (which cohorts ran V a week, and for how many weeks), best_expected (the
    volume with the highest posterior mean U among the volumes the optimum is searched over,
    ref.volume_grid, within the data's range: the plan comparison's choice
    among even optional plans of the kind). Empty when `p` does not define the optimum.
    """
    curve = curve_draws(p, ref) if curve is None else curve
    if curve is None:
        return pd.DataFrame(columns=VOLUME_CURVE_COLUMNS)
    grid = np.asarray(ref.curve_grid, dtype=float)
    extrapolated = ref.is_extrapolated(grid)
    optimum = optimum_draws(curve, ref)
    low, high = hdi(curve)
    best = np.zeros(len(grid), dtype=bool)
    # the points the optimum kernel searches (ref.volume_grid), so the two agree whatever grid reference.json holds
    searched = np.isin(np.round(grid, 9), np.round(np.asarray(ref.volume_grid, dtype=float), 9))
    best[np.argmax(np.where(searched, curve.mean(axis=0), -np.inf))] = True
    return pd.DataFrame({"volume": grid, "mean": curve.mean(axis=0), "hdi_low": low, "hdi_high": high,
                         "prob_above_optimum": (grid[None, :] > optimum[:, None]).mean(axis=0),
                         "extrapolated": extrapolated, "observed_cohorts": [ref.cohorts_at(v) for v in grid],
                         "best_expected": best}, columns=VOLUME_CURVE_COLUMNS)


__all__ = ["EFFECT_COLUMNS", "VOLUME_CURVE_COLUMNS", "INTERVALS", "reference_of", "summarise_draws",
           "effects_from_draws", "volume_curve", "curve_draws", "optimum_draws",
           "estimand_draws_with_curve", "hdi", "equal_tailed"]
