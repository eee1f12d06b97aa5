"""The diagnostics gate: is a posterior sample good enough to report?

Rules (thresholds in mats_eval.constants; README.md "Models"): max rank-normalised
split R-hat ≤ RHAT_MAX, min bulk and tail ESS ≥ ESS_MIN over every posterior
variable element, zero divergent transitions (counted from sample_stats
ourselves), and E-BFMI ≥ BFMI_MIN in every chain. E-BFMI is arviz-stats'.
`arviz_stats.diagnose` is not used for the verdict: its ESS rule
is 100 per chain plus an ESS/N ratio, it also fails on tree depth, and it does
not say which element is worst.

R-hat and ESS are arviz-stats' estimators (Vehtari et al. 2021, arviz_stats.base.diagnostics:
_rhat_rank, _ess_bulk, _ess_tail with its default probability) computed over every element at
once (`convergence`): arviz-stats takes one element at a time in Python, ~4 ms each, 6 s for
data/example's ~1500 elements; tests/inference/test_diagnostics.py checks they agree.
"""
from __future__ import annotations

import math

import arviz_stats as azs
import numpy as np
import pandas as pd
from scipy.fft import next_fast_len
from scipy.special import ndtri

from mats_eval.constants import BFMI_MIN, ESS_MIN, RHAT_MAX, RHAT_NARROW_MAX

# elements whose draws are taken at once (memory: a few (block, chains, draws) float arrays)
_ELEMENT_BLOCK = 500


# --- R-hat and ESS over a stack of elements: arrays (elements, chains, draws) ------------

def split_chains(x: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as chains of their own (the middle draw of an odd count dropped)."""
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., -half:]], axis=1)


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of each row's values, ties given their average rank (scipy's rankdata 'average')."""
    n = x.shape[1]
    order = np.argsort(x, axis=1)  # any order within ties: they share one rank
    ordered = np.take_along_axis(x, order, axis=1)
    position = np.broadcast_to(np.arange(n), x.shape)
    changes = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(np.c_[np.ones(len(x), bool), changes], position, 0), axis=1)
    last = np.minimum.accumulate(np.where(np.c_[changes, np.ones(len(x), bool)], position, n)[:, ::-1],
                                 axis=1)[:, ::-1]
    ranks = np.empty(x.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    return ranks


def z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalised values Φ⁻¹((r − 3/8)/(n + 1/4)) over all chains and draws of each element (Blom)."""
    flat = x.reshape(len(x), -1)
    n = flat.shape[1]
    return ndtri((average_ranks(flat) - 3 / 8) / (n - 2 * 3 / 8 + 1)).reshape(x.shape)


def plain_rhat(x: np.ndarray) -> np.ndarray:
    """√((B/W + n − 1)/n): B = n·var(chain means), W = mean chain variance, n draws per chain."""
    n = x.shape[-1]
    between = n * np.var(x.mean(axis=-1), axis=-1, ddof=1)
    within = np.var(x, axis=-1, ddof=1).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant element: NaN, as in arviz-stats
        return np.sqrt((between / within + n - 1) / n)


def rank_rhat(x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    """Rank-normalised split R-hat: the larger of the bulk (z-scaled draws) and tail (z-scaled
    distances from the median) R-hats of the split chains; `z`: z_scale(split_chains(x)) if at hand."""
    split = split_chains(x)
    folded = np.abs(split - np.median(split.reshape(len(x), -1), axis=1)[:, None, None])
    return np.maximum(plain_rhat(z_scale(split) if z is None else z), plain_rhat(z_scale(folded)))


def autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag along the last axis, by FFT (divided by n, as arviz-stats does)."""
    n = x.shape[-1]
    size = next_fast_len(2 * n)
    spectrum = np.fft.rfft(x - x.mean(axis=-1, keepdims=True), n=size, axis=-1)
    return np.fft.irfft(spectrum * np.conjugate(spectrum), n=size, axis=-1)[..., :n] / n


def ess(x: np.ndarray) -> np.ndarray:
    """Effective sample size of (elements, chains, draws), Geyer's initial monotone sequence:
    τ = −1 + 2·Σ_{k<K} min_{j≤k} P_j + ρ̂_{2K}, with P_k = ρ̂_{2k} + ρ̂_{2k+1} the sums of pairs of
    autocorrelations (combined over chains), K the first k ≥ 1 with P_k ≤ 0 (or the last pair);
    ESS = chains·draws / max(τ, 1/log₁₀(chains·draws)). Constant elements get chains·draws.
    """
    x = np.asarray(x, dtype=float)
    _, n_chain, n_draw = x.shape
    size = n_chain * n_draw
    acov = autocovariance(x).mean(axis=1)  # (elements, lags)
    mean_var = acov[:, 0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus = var_plus + np.var(x.mean(axis=-1), axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - acov) / var_plus[:, None]
    rho[:, 0] = 1.0
    last_pair = (n_draw - 3) // 2  # pairs k = 1..last_pair are examined (t = 2k − 1 < draws − 3)
    pairs = rho[:, 0:2 * last_pair + 2:2] + rho[:, 1:2 * last_pair + 2:2]  # P_0..P_last_pair
    rows = np.arange(len(x))
    stops = pairs[:, 1:] <= 0
    stop = np.where(stops.any(axis=1), stops.argmax(axis=1) + 1, last_pair)  # K
    stop = np.where(pairs[:, 0] > 0, stop, 0)
    monotone = np.minimum.accumulate(pairs, axis=1).cumsum(axis=1)
    before = np.where(stop > 0, monotone[rows, np.maximum(stop - 1, 0)], 0.0)
    even = rho[rows, 2 * stop]
    kept = (stop == 0) | (pairs[rows, stop] >= 0) | (even > 0)
    tau = -1.0 + 2.0 * before + np.where(kept, even, 0.0)
    tau = np.maximum(tau, 1 / np.log10(size))
    out = size / tau
    out[np.isnan(rho[:, :2 * last_pair + 2]).any(axis=1)] = np.nan
    constant = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) < np.finfo(float).resolution
    out[constant] = size
    return out


def bulk_ess(x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    """ESS of the rank-normalised split chains (`z`: z_scale(split_chains(x)) if at hand)."""
    return ess(z_scale(split_chains(x)) if z is None else z)


def tail_ess(x: np.ndarray, prob: float) -> np.ndarray:
    """The smaller ESS of the split-chain indicators 1[x ≤ q] at the quantiles q_(1−prob) and q_prob."""
    low, high = sorted((prob, 1 - prob))
    quantiles = np.quantile(x.reshape(len(x), -1), [low, high], axis=1)  # (2, elements)
    return np.minimum(*(ess(split_chains((x <= q[:, None, None]).astype(float))) for q in quantiles))


def tail_probability() -> float:
    """The quantile arviz-stats' tail ESS looks at by default (its rcParams' stats.ci_prob)."""
    from arviz_stats.validate import validate_ci_prob

    return validate_ci_prob(None)


def element_draws(da, block: int = _ELEMENT_BLOCK):
    """(offset, (elements, chains, draws) float array) per block of a posterior variable's elements."""
    values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
    values = np.moveaxis(values.reshape(values.shape[:2] + (-1,)), -1, 0)
    for start in range(0, len(values), block):
        yield start, values[start:start + block]


def convergence(posterior, var_names: list[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{variable: {"rhat", "ess_bulk", "ess_tail": one value per element (flattened)}} over the posterior
    Dataset's variables (all or `var_names`); NaN where arviz-stats gives NaN (any NaN draw, fewer than
    4 draws, and for R-hat a single chain)."""
    prob = tail_probability()
    out = {}
    for name in var_names or list(posterior.data_vars):
        da = posterior[name]
        size = int(np.prod([n for d, n in da.sizes.items() if d not in ("chain", "draw")]))
        values = {key: np.full(size, np.nan) for key in ("rhat", "ess_bulk", "ess_tail")}
        n_chain, n_draw = da.sizes["chain"], da.sizes["draw"]
        for start, x in element_draws(da):
            valid = ~np.isnan(x).any(axis=(1, 2))
            if n_draw < 4 or not valid.any():
                continue
            index = start + np.flatnonzero(valid)
            x = x[valid]
            z = z_scale(split_chains(x))  # shared by R-hat and bulk ESS
            if n_chain >= 2:
                values["rhat"][index] = rank_rhat(x, z)
            values["ess_bulk"][index] = bulk_ess(x, z)
            values["ess_tail"][index] = tail_ess(x, prob)
        out[name] = values
    return out


def element_label(da, flat: int) -> str:
    """'var[coord, …]' of element `flat` of a posterior variable (C order over its non-sample dims, as
    `element_draws` takes them); a dim without coordinates gives the position. arviz's labels."""
    dims = [d for d in da.transpose("chain", "draw", ...).dims[2:]]
    index = np.unravel_index(flat, [da.sizes[d] for d in dims]) if dims else ()
    labels = [str(da[d].values[j]) if d in da.coords else str(j) for d, j in zip(dims, index)]
    return da.name + (f"[{', '.join(labels)}]" if labels else "")


def _extreme(posterior, per_variable: dict[str, np.ndarray], how: str) -> tuple[float, str]:
    """(value, 'var[index]') of the max or min element over all variables, NaNs ignored (±inf, '' when
    every value is NaN): the first variable in order that reaches it, labelled by its coordinates."""
    best, where = (-math.inf if how == "max" else math.inf), ""
    for name, values in per_variable.items():
        if values.size == 0 or np.all(np.isnan(values)):
            continue
        flat = int(np.nanargmax(values) if how == "max" else np.nanargmin(values))
        value = float(values[flat])
        if (how == "max" and value > best) or (how == "min" and value < best):
            best, where = value, element_label(posterior[name], flat)
    return best, where


def summary_table(idata, stats_of: dict | None = None) -> pd.DataFrame:
    """summary.csv: parameter, mean, sd, hdi_low, hdi_high (90% HDI), ess_bulk, ess_tail, r_hat of every
    element of the population-level variables (runfolder.summary_variables). R-hat and ESS are the gate's
    own (`convergence`; `stats_of` when already computed), so summary.csv and diagnostics.json agree."""
    from mats_eval.estimands.intervals import hdi
    from mats_eval.runfolder import SUMMARY_COLUMNS, summary_variables

    posterior = idata["posterior"].to_dataset()
    names = summary_variables(idata)
    stats_of = stats_of if stats_of is not None else convergence(posterior, names)
    parts = []
    for name in names:
        da = posterior[name]
        values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
        values = values.reshape(values.shape[0] * values.shape[1], -1)  # (samples, elements)
        low, high = hdi(values)
        parts.append(pd.DataFrame({
            "parameter": [element_label(da, j) for j in range(values.shape[1])],
            "mean": values.mean(axis=0), "sd": values.std(axis=0, ddof=1), "hdi_low": low, "hdi_high": high,
            "ess_bulk": stats_of[name]["ess_bulk"], "ess_tail": stats_of[name]["ess_tail"],
            "r_hat": stats_of[name]["rhat"]}))
    return pd.concat(parts, ignore_index=True)[SUMMARY_COLUMNS] if parts else pd.DataFrame(columns=SUMMARY_COLUMNS)


def count_divergences(idata) -> int:
    """Number of divergent post-warmup transitions over all chains."""
    stats = idata["sample_stats"]
    if "diverging" not in stats:
        return 0
    return int(np.asarray(stats["diverging"].values).sum())


def bfmi_per_chain(idata) -> list[float]:
    """E-BFMI per chain (arviz-stats): Σ(E_t − E_{t−1})² / Σ(E_t − Ē)²; low values: poor energy exploration."""
    return [float(x) for x in np.ravel(azs.bfmi(idata)["energy"].values)]


def gate_failures(rhat: float, ess_bulk: float, ess_tail: float, divergences: int, bfmi_min: float,
                  where: tuple[str, str, str] | None = None) -> list[str]:
    """The gate's failed checks in words (empty: passed); `where` names the element behind each of
    R-hat, bulk ESS and tail ESS. A NaN R-hat or ESS fails."""
    at = [f" ({w})" for w in where] if where else ["", "", ""]
    failures = []
    if not rhat <= RHAT_MAX:  # also catches NaN
        failures.append(f"R-hat {rhat:.3f} > {RHAT_MAX}{at[0]}")
    if not ess_bulk >= ESS_MIN:
        failures.append(f"bulk ESS {ess_bulk:.0f} < {ESS_MIN}{at[1]}")
    if not ess_tail >= ESS_MIN:
        failures.append(f"tail ESS {ess_tail:.0f} < {ESS_MIN}{at[2]}")
    if divergences:
        failures.append(f"{divergences} divergent transition(s)")
    if bfmi_min < BFMI_MIN:
        failures.append(f"E-BFMI {bfmi_min:.2f} < {BFMI_MIN} in some chain")
    return failures


def diagnose(idata, var_names: list[str] | None = None, stats_of: dict | None = None) -> dict:
    """The gate's numbers and verdict: {rhat_max, ess_bulk_min, ess_tail_min, divergences, bfmi, passed, failures}.
    `stats_of`: `convergence` of the posterior (every variable, or `var_names`) when already computed."""
    posterior = idata["posterior"].to_dataset()
    stats_of = stats_of if stats_of is not None else convergence(posterior, var_names)
    rhat, rhat_at = _extreme(posterior, {n: v["rhat"] for n, v in stats_of.items()}, "max")
    ess_bulk, bulk_at = _extreme(posterior, {n: v["ess_bulk"] for n, v in stats_of.items()}, "min")
    ess_tail, tail_at = _extreme(posterior, {n: v["ess_tail"] for n, v in stats_of.items()}, "min")
    divergences = count_divergences(idata)
    bfmi = bfmi_per_chain(idata)
    stats = idata["sample_stats"]
    n_draws = int(stats.sizes["draw"]) * int(stats.sizes["chain"])
    failures = gate_failures(rhat, ess_bulk, ess_tail, divergences, min(bfmi), where=(rhat_at, bulk_at, tail_at))
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


def narrow_mixing_miss(diag: dict) -> bool:
    """True when the gate failed only on R-hat or ESS, by a margin twice the draws should close.

    Slow mixing, not a broken sampler: no divergences, E-BFMI fine, every ESS at least half
    the threshold (ESS grows about in proportion to the draws) and R-hat ≤ RHAT_NARROW_MAX (1.05). A fit
    that fails this way is sampled once more with twice the draws (fitting.fit's `extend`)."""
    if diag["passed"] or diag["divergences"] or not diag["bfmi_min"] >= BFMI_MIN:
        return False
    ess = (diag["ess_bulk_min"], diag["ess_tail_min"])
    return (diag["rhat_max"] is not None and diag["rhat_max"] <= RHAT_NARROW_MAX
            and all(e is not None and e >= ESS_MIN / 2 for e in ess))


def advice(diag: dict) -> str:
    """What to try when the gate fails, in one paragraph for the CLI."""
    tips = []
    text = " ".join(diag["failures"])
    if "R-hat" in text or "ESS" in text:
        tips.append("more draws and tuning (e.g. double --draws and --tune) or more chains")
    if "divergent" in text or "BFMI" in text:
        tips.append("a higher --target-accept (e.g. 0.98) and longer tuning; check priors of group sds")
    return "try " + "; ".join(tips) if tips else ""


__all__ = ["diagnose", "gate_failures", "convergence", "summary_table", "element_label", "count_divergences", "bfmi_per_chain", "advice", "narrow_mixing_miss", "RHAT_MAX", "ESS_MIN",
           "BFMI_MIN"]
