"""The diagnostics gate: is a posterior sample good enough to report?

Rules (thresholds in mats_eval.constants; README.md "Models"): max rank-normalised
split R-hat ≤ RHAT_MAX, min bulk and tail ESS ≥ ESS_MIN over every posterior
variable element, zero divergent transitions (counted from sample_stats
ourselves), and E-BFMI ≥ BFMI_MIN in every chain. R-hat, ESS and E-BFMI are
arviz-stats'. `arviz_stats.diagnose` is not used for the verdict: its ESS rule
is 100 per chain plus an ESS/N ratio, it also fails on tree depth, and it does
not say which element is worst.
"""
from __future__ import annotations

import math

import arviz_stats as azs
import numpy as np

from mats_eval.constants import BFMI_MIN, ESS_MIN, RHAT_MAX


def _extreme(tree, how: str) -> tuple[float, str]:
    """(value, 'var[index]') of the max or min element over all variables of an arviz result.

    Hand-written because arviz-stats returns the per-element values but not where the worst one is.
    """
    ds = tree.to_dataset() if hasattr(tree, "to_dataset") else tree
    best, where = (-math.inf if how == "max" else math.inf), ""
    for name, da in ds.data_vars.items():
        values = np.asarray(da.values, dtype=float)
        if values.size == 0 or np.all(np.isnan(values)):
            continue
        flat = np.nanargmax(values) if how == "max" else np.nanargmin(values)
        value = float(values.flat[flat])
        if (how == "max" and value > best) or (how == "min" and value < best):
            index = np.unravel_index(flat, values.shape) if values.ndim else ()
            labels = [str(da[d].values[j]) if d in da.coords else str(j) for d, j in zip(da.dims, index)]
            best, where = value, name + (f"[{', '.join(labels)}]" if labels else "")
    return best, where


def count_divergences(idata) -> int:
    """Number of divergent post-warmup transitions over all chains."""
    stats = idata["sample_stats"]
    if "diverging" not in stats:
        return 0
    return int(np.asarray(stats["diverging"].values).sum())


def bfmi_per_chain(idata) -> list[float]:
    """E-BFMI per chain (arviz-stats): Σ(E_t − E_{t−1})² / Σ(E_t − Ē)²; low values: poor energy exploration."""
    return [float(x) for x in np.ravel(azs.bfmi(idata)["energy"].values)]


def diagnose(idata, var_names: list[str] | None = None) -> dict:
    """The gate's numbers and verdict: {rhat_max, ess_bulk_min, ess_tail_min, divergences, bfmi, passed, failures}."""
    rhat, rhat_at = _extreme(azs.rhat(idata, var_names=var_names), "max")
    ess_bulk, bulk_at = _extreme(azs.ess(idata, var_names=var_names, method="bulk"), "min")
    ess_tail, tail_at = _extreme(azs.ess(idata, var_names=var_names, method="tail"), "min")
    divergences = count_divergences(idata)
    bfmi = bfmi_per_chain(idata)
    stats = idata["sample_stats"]
    n_draws = int(stats.sizes["draw"]) * int(stats.sizes["chain"])
    failures = []
    if not rhat <= RHAT_MAX:  # also catches NaN
        failures.append(f"R-hat {rhat:.3f} > {RHAT_MAX} ({rhat_at})")
    if not ess_bulk >= ESS_MIN:
        failures.append(f"bulk ESS {ess_bulk:.0f} < {ESS_MIN} ({bulk_at})")
    if not ess_tail >= ESS_MIN:
        failures.append(f"tail ESS {ess_tail:.0f} < {ESS_MIN} ({tail_at})")
    if divergences:
        failures.append(f"{divergences} divergent transition(s)")
    if min(bfmi) < BFMI_MIN:
        failures.append(f"E-BFMI {min(bfmi):.2f} < {BFMI_MIN} in some chain")
    return {
        "passed": not failures,
        "failures": failures,
        "rhat_max": _finite(rhat),
        "rhat_max_parameter": rhat_at,
        "ess_bulk_min": _finite(ess_bulk),
        "ess_bulk_min_parameter": bulk_at,
        "ess_tail_min": _finite(ess_tail),
        "ess_tail_min_parameter": tail_at,
        "divergences": divergences,
        "bfmi": bfmi,
        "bfmi_min": min(bfmi),
        "draws_total": n_draws,
        "thresholds": {"rhat_max": RHAT_MAX, "ess_min": ESS_MIN, "bfmi_min": BFMI_MIN, "divergences": 0},
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def advice(diag: dict) -> str:
    """What to try when the gate fails, in one paragraph for the CLI."""
    tips = []
    text = " ".join(diag["failures"])
    if "R-hat" in text or "ESS" in text:
        tips.append("more draws and tuning (e.g. double --draws and --tune) or more chains")
    if "divergent" in text or "BFMI" in text:
        tips.append("a higher --target-accept (e.g. 0.98) and longer tuning; check priors of group sds")
    return "try " + "; ".join(tips) if tips else ""


__all__ = ["diagnose", "count_divergences", "bfmi_per_chain", "advice", "RHAT_MAX", "ESS_MIN", "BFMI_MIN"]
