"""Refit where reweighting cannot be trusted: prior_sensitivity.csv rows with Pareto k > 0.7.

checks/identification.py `prior_sensitivity` reweights the posterior draws to an alternative
prior (a policy-effect or cohort-sd prior scaled ×0.5 or ×2). When that prior puts its mass
where the posterior has few draws, the Pareto-smoothed weights cannot be trusted (k > 0.7)
and the row is only a guess. `refit_unreliable` replaces those rows by fitting the model
again under the alternative prior: one refit per (prior, factor) whatever the number of
estimands it serves, with the user's other priors kept, on shorter chains (REFIT_DRAWS);
the row's note says it was refitted and whether the refit's draws of that row's estimand pass
the diagnostics gate (`estimand_gate`: their own R-hat and ESS, and no divergence anywhere).
The whole model's gate is not the test: on these short chains some nuisance parameter always
falls short of 400 effective draws, while the row reports only its estimand's mean and interval.
A rescaled prior differs from the default only in values the model holds as data
(priors.prior_parameter), so the refit samples the default fit's compiled density with
those values set: no second compile (~17 s warm, a minute or more with empty caches).
"""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pandas as pd

from mats_eval.checks.identification import REFITTED, label_of, scaled_priors
from mats_eval.data.design import build_design
from mats_eval.estimands.summary import summarise_draws
from mats_eval.inference.diagnostics import bfmi_per_chain, bulk_ess, count_divergences, gate_failures, rank_rhat, \
    tail_ess, tail_probability
from mats_eval.models import build_model, estimand_draws, model_priors
from mats_eval.models.priors import prior_data_values

# A refit needs the policy contrasts' mean and 90% interval, not tail-exact ESS: 2 × (500 + 500)
REFIT_DRAWS, REFIT_TUNE, REFIT_CHAINS = 500, 500, 2


def refit_draws(program, model: str, overrides: dict, *, seed: int, sampler: str,
                fitted=None, built_under: dict | None = None) -> tuple[dict, dict]:
    """({estimand: draws} of the cheap estimands, the sampler's own checks) of `model` fitted under
    `overrides`; the draws are chain after chain (REFIT_CHAINS of REFIT_DRAWS), the checks
    {"divergences", "bfmi_min", "chains"} (see `estimand_gate`).

    When `fitted` (the default fit's FitResult) kept its compiled density and `overrides` differ from
    the resolved priors it was built under (`built_under`) only in parameter values, the refit sets
    those values in it (priors.prior_data_values) and samples at once; otherwise it builds and
    compiles the model under `overrides`.
    """
    from mats_eval.inference.fitting import sample_posterior

    design = build_design(program)
    pm_model, compiled = None, None
    if fitted is not None and fitted.compiled is not None and built_under is not None:
        values = prior_data_values(fitted.model, built_under, model_priors(model, overrides))
        if values is not None:
            pm_model, compiled = fitted.model, fitted.compiled.with_data(**values)
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # no "NUTS[nutpie]: [...]" line inside the stage's progress line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata, _ = sample_posterior(pm_model or build_model(model, design, overrides), sampler=sampler,
                                        draws=REFIT_DRAWS, tune=REFIT_TUNE, chains=REFIT_CHAINS, seed=seed,
                                        progress=False, compiled=compiled)
    finally:
        pymc_log.setLevel(level)
    sampler_checks = {"divergences": count_divergences(idata), "bfmi_min": min(bfmi_per_chain(idata)),
                      "chains": int(idata["posterior"].sizes["chain"])}
    return estimand_draws(model, idata, design.reference, costly=False), sampler_checks


def estimand_gate(draws: np.ndarray, sampler_checks: dict) -> tuple[bool, str]:
    """(passed, verdict) of the gate applied to one estimand's refit draws (chain after chain):
    R-hat ≤ RHAT_MAX and bulk and tail ESS ≥ ESS_MIN of those draws, with no divergent transition
    and E-BFMI ≥ BFMI_MIN over the whole refit (a sampler that could not explore the posterior
    biases every estimand, however well its own chains agree)."""
    x = np.asarray(draws, dtype=float).reshape(1, sampler_checks["chains"], -1)  # (element, chain, draw)
    rhat, bulk, tail = float(rank_rhat(x)[0]), float(bulk_ess(x)[0]), float(tail_ess(x, tail_probability())[0])
    failures = gate_failures(rhat, bulk, tail, sampler_checks["divergences"], sampler_checks["bfmi_min"])
    numbers = f"R-hat {rhat:.3f}, bulk ESS {bulk:.0f}, tail ESS {tail:.0f}"
    if failures:
        return False, f"FAILED ({'; '.join(failures)}): read it as indicative"
    return True, f"passed ({numbers}, no divergences)"


def refitted_row(row: pd.Series, draws: np.ndarray, sampler_checks: dict) -> dict:
    """The prior_sensitivity.csv row recomputed from a refit's draws of its estimand (chain after chain):
    summarised as effects.csv summarises a fit's draws, judged by the gate on those draws."""
    summary = summarise_draws(row["estimand"], draws)
    passed, verdict = estimand_gate(draws, sampler_checks)
    return {**row.to_dict(), **{key: summary[key] for key in ("mean", "sd", "hdi_low", "hdi_high", "prob_positive")},
            "reliable": passed, "method": REFITTED, "note": f"refitted under this prior (Pareto k {row['pareto_k']:.2f} > 0.7); the gate "
                    f"on the refit's draws of this estimand {verdict}"}


def refit_unreliable(table: pd.DataFrame, program, model: str, priors: dict | None, *, seed: int, sampler: str,
                     timings: dict | None = None, fitted=None) -> pd.DataFrame:
    """prior_sensitivity.csv with every unreliable row (Pareto k > 0.7) recomputed by a refit
    (reusing the compiled density of `fitted`, the default fit, where only prior values change)."""
    if table is None or not len(table) or "reliable" not in table:
        return table
    unreliable = table[~table["reliable"].astype(bool)]
    if not len(unreliable):
        return table
    start = time.perf_counter()
    resolved = model_priors(model, priors)
    out = table.copy()
    for (prior, factor), rows in unreliable.groupby(["prior", "scale_factor"], sort=False):
        overrides = {**(priors or {}), **scaled_priors(resolved, label_of(prior), float(factor))}
        draws, sampler_checks = refit_draws(program, model, overrides, seed=seed, sampler=sampler, fitted=fitted,
                                            built_under=resolved)
        for index, row in rows.iterrows():
            if row["estimand"] in draws:
                out.loc[index] = pd.Series(refitted_row(row, np.asarray(draws[row["estimand"]]), sampler_checks))
    if timings is not None:
        timings["prior_refit"] = time.perf_counter() - start
    return out


__all__ = ["refit_unreliable", "refitted_row", "estimand_gate", "REFIT_DRAWS"]
