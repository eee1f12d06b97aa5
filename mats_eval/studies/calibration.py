"""Is the inference calibrated? Simulation-based calibration (SBC) and interval coverage.

SBC (Talts et al. 2018), for one registered model and a FIXED small design:
    θ̃ ~ p(θ),  ỹ ~ p(y | θ̃)  (pm.sample_prior_predictive on the model itself),
    θ_1..θ_L ~ p(θ | ỹ)  (L thinned posterior draws),  rank r = #{l : θ_l < θ̃} ∈ {0..L};
if the sampler and model are right, r is uniform on {0..L} for every scalar θ, and
for every contract estimand g(θ) (ranked as "estimand:<name>").
Each replication is one task of a study (studies/runner.py `run_study`), seeded by its key.
Uniformity per parameter: a chi-square test over B equal bins of rank values (scipy) and
arviz-stats' ECDF-PIT uniformity test (`pot_c`, Tesso & Vehtari 2026; what arviz_plots'
plot_ecdf_pit reports for SBC) on randomised PIT values u = (r + V)/(L + 1), V ~ U(0, 1),
which are exactly U(0, 1) when r is uniform: midpoint PITs (r + ½)/(L + 1) tie, and with
many replications the test then rejects too often.

With nutpie, a worker compiles the observed model once per (model, design) and
swaps in each replication's data (nutpie's `with_data` on a shared variable):
a tiny fit then costs ~2 s instead of ~15 s.

Coverage: over many datasets of a simulator scenario (simulation/scenarios.py `simulate`), fit
the default model and record, per contract estimand, whether its 90% HDI holds
the truth (goal: 85–95%), and on every scenario whose true policy effect is 0
(`null`, `selection`) its false-positive rate (goal ≤ 5%) under two rules: its
90% HDI excludes 0, and the two-sided 5% rule P(effect > 0) ∉ [0.025, 0.975].
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from mats_eval.constants import INTERVAL_PROB
from mats_eval.estimands.intervals import equal_tailed
from mats_eval.inference.samplers import DEFAULT_SAMPLER, NUTPIE_BACKENDS
from mats_eval.studies.runner import ok_results, run_study, task_seed

DEFAULT_THIN_TO = 100  # L: thinned posterior draws per replication, ranks 0..L
POLICY_ESTIMANDS = ("mandatory_minus_optional_rating", "mandatory_minus_optional_retro")
COVERAGE_SCENARIOS = ("null", "identified", "selection", "confounded", "mats-history")


# --- ranks and uniformity ---------------------------------------------------------

def thin(draws: np.ndarray, n_keep: int) -> np.ndarray:
    """n_keep draws spread evenly over (chain, draw): every k-th draw of each chain (arviz-stats' thin),
    k = ⌊C·D / n_keep⌋, chains interleaved and cut to n_keep (the library keeps whole chains)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws.reshape(1, -1) if draws.ndim == 1 else draws.reshape(draws.shape[0], -1)
    chains, per_chain = draws.shape
    if chains * per_chain < n_keep:
        raise ValueError(f"need at least {n_keep} draws to thin to, got {chains * per_chain}")
    step = max((chains * per_chain) // n_keep, 1)
    kept = array_stats.thin(draws, factor=step, chain_axis=0, draw_axis=1)
    return kept.T.reshape(-1)[:n_keep]


def rank_of_truth(truth: float, draws: np.ndarray, rng: np.random.Generator | None = None) -> int:
    """r = #{θ_l < θ̃} + U·#{θ_l = θ̃} (ties split at random so discrete draws stay uniform)."""
    draws = np.asarray(draws, dtype=float).ravel()
    below = int((draws < truth).sum())
    ties = int((draws == truth).sum())
    if ties and rng is not None:
        below += int(rng.integers(0, ties + 1))
    return below


def chi_square_uniformity(ranks, n_ranks: int, bins: int = 10) -> tuple[float, float]:
    """(χ², p) of ranks in 0..n_ranks−1 against the discrete uniform, over `bins` bins of rank values.

    Bin b holds ranks r with ⌊r·B / n_ranks⌋ = b; expected count = N · |bin b| / n_ranks (bins may
    hold unequal numbers of rank values, so the expected counts are ours; the test is scipy's).
    """
    ranks = np.asarray(ranks, dtype=int)
    bins = min(bins, n_ranks)
    bin_of = np.arange(n_ranks) * bins // n_ranks
    expected = np.bincount(bin_of, minlength=bins) * len(ranks) / n_ranks
    observed = np.bincount(bin_of[ranks], minlength=bins)
    chi2, p = stats.chisquare(observed, expected)
    return float(chi2), float(p)


def ecdf_uniformity(ranks, n_ranks: int, seed: int = 0) -> tuple[float, float]:
    """(deviation, p): max_k |F̂(k) − (k+1)/n_ranks|, the ECDF of the ranks against the uniform's CDF,
    and the p-value of arviz-stats' `pot_c` uniformity test on randomised PITs (r + V)/n_ranks."""
    ranks = np.asarray(ranks, dtype=int)
    # the PIT-ECDF at k/n_ranks of midpoint PITs is F̂(k − 1) − k/n_ranks: exactly our deviation
    _, delta = array_stats.ecdf((ranks + 0.5) / n_ranks, npoints=n_ranks + 1, pit=True)
    pit = (ranks + np.random.default_rng(seed).uniform(size=len(ranks))) / n_ranks
    p_value, _, _ = array_stats.uniformity_test(pit, method="pot_c")
    return float(np.abs(delta).max()), float(p_value)


def uniformity_table(ranks: pd.DataFrame, n_ranks: int, bins: int = 10, alpha: float = 0.01) -> pd.DataFrame:
    """One row per parameter (a column of `ranks`): n, χ², p_chi2, ECDF deviation, p_ecdf, uniform (both p ≥ α)."""
    rows = []
    for name in ranks.columns:
        r = ranks[name].dropna().astype(int).to_numpy()
        if len(r) == 0:
            continue
        chi2, p_chi2 = chi_square_uniformity(r, n_ranks, bins)
        dev, p_ecdf = ecdf_uniformity(r, n_ranks)
        rows.append({"parameter": name, "n": len(r), "chi2": chi2, "p_chi2": p_chi2, "ecdf_deviation": dev,
                     "p_ecdf": p_ecdf, "uniform": bool(p_chi2 >= alpha and p_ecdf >= alpha)})
    return pd.DataFrame(rows, columns=["parameter", "n", "chi2", "p_chi2", "ecdf_deviation", "p_ecdf", "uniform"])


# --- the model's own prior predictive -----------------------------------------------

def scalar_parameters(model) -> list[str]:
    """Scalar free variables and Deterministics, except raw `_z` offsets: the parameters SBC ranks."""
    names = [v.name for v in model.free_RVs + model.deterministics if v.ndim == 0]
    return [n for n in names if not n.endswith("_z")]


def draw_from_prior(model, seed: int) -> tuple[dict[str, float], dict[str, np.ndarray], object]:
    """(θ̃ for every scalar parameter, ỹ for every observed variable, the whole draw's `prior` Dataset):
    one joint draw from the model."""
    import logging

    import pymc as pm

    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)  # not one "Sampling: [...]" line per replication
    try:
        with model:
            tree = pm.sample_prior_predictive(draws=1, random_seed=seed)
    finally:
        logger.setLevel(level)
    prior, predictive = tree["prior"], tree["prior_predictive"]
    truth = {n: float(prior[n].values.reshape(-1)[0]) for n in scalar_parameters(model)}
    observed = {v.name: np.asarray(predictive[v.name].values[0, 0]) for v in model.observed_RVs}
    return truth, observed, prior


def estimand_ranks(prior, idata, design, thin_to: int, rng: np.random.Generator, model: str | None = None
                   ) -> dict[str, int]:
    """Rank of each contract estimand g(θ̃) among g(θ_l) over the thinned posterior draws.

    Estimands are functions of θ, so under a calibrated posterior their ranks are uniform too;
    this is SBC of what the report states (e.g. the argmax optimal_sessions_per_week),
    not only of the raw parameters. Keys are prefixed "estimand:". `model`: the fitted model
    (default: the default model), whose spec maps prior and posterior draws to the canonical parameters.
    """
    from mats_eval.models import DEFAULT_MODEL, estimand_draws

    model = model or DEFAULT_MODEL
    truth = estimand_draws(model, {"posterior": prior}, design)
    chains = idata["posterior"].sizes["chain"]
    post = estimand_draws(model, idata, design)
    return {f"estimand:{name}": rank_of_truth(float(np.ravel(value)[0]),
                                              thin(post[name].reshape(chains, -1), thin_to), rng)
            for name, value in truth.items() if name in post}


def observed_data_name(var_name: str) -> str:
    return f"observed__{var_name}"


def with_observations(model, observed: dict, shared: bool = False):
    """A copy of `model` whose observed variables hold `observed` (name -> array).

    pm.observe replaces observed values but refuses models with custom initial values
    (e.g. sorted cutpoints), so they are lifted off and set again on the copy. With
    shared=True the data are named shared variables (`observed__<name>`) that nutpie's
    `with_data` can swap without recompiling.
    """
    import pymc as pm
    import pytensor

    inits = {rv.name: value for rv, value in model.rvs_to_initial_values.items() if value is not None}
    saved = dict(model.rvs_to_initial_values)
    values = {name: (pytensor.shared(np.asarray(y), name=observed_data_name(name)) if shared else np.asarray(y))
              for name, y in observed.items()}
    try:
        for rv in saved:
            model.rvs_to_initial_values[rv] = None
        new = pm.observe(model, values)
    finally:
        model.rvs_to_initial_values.update(saved)
    for name, value in inits.items():
        new.set_initval(new[name], value)
    return new


# --- one SBC replication ------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def fixed_design(scenario: str, scale: float, seed: int):
    """The Design of simulate(scenario, seed, scale): only its structure is used (outcomes are redrawn)."""
    from mats_eval.data.design import build_design
    from mats_eval.simulation.scenarios import simulate

    return build_design(simulate(scenario, seed=seed, scale=scale).program_data())


@functools.lru_cache(maxsize=4)
def _prior_model(model_name: str, scenario: str, scale: float, design_seed: int):
    from mats_eval.models import build_model

    return build_model(model_name, fixed_design(scenario, scale, design_seed))


@functools.lru_cache(maxsize=4)
def _compiled_nutpie(model_name: str, scenario: str, scale: float, design_seed: int, sampler: str = DEFAULT_SAMPLER):
    """nutpie's compiled observed model of this design (Numba or JAX, as `sampler` says), compiled once per
    process; each replication swaps in its data (`with_data`)."""
    from mats_eval.inference.fitting import compile_density

    model = _prior_model(model_name, scenario, scale, design_seed)
    placeholder = {v.name: np.asarray(model.rvs_to_values[v].data) for v in model.observed_RVs}
    return compile_density(with_observations(model, placeholder, shared=True), sampler)


def sample_observed(model_name: str, scenario: str, scale: float, design_seed: int, observed: dict, *,
                    sampler: str, draws: int, tune: int, chains: int, seed: int):
    """Posterior DataTree of the model on this design given `observed` data."""
    # an unknown name falls through to sample_posterior, which raises the UsageError naming the choices
    if sampler in NUTPIE_BACKENDS:
        import nutpie

        compiled = _compiled_nutpie(model_name, scenario, scale, design_seed, sampler)
        data = {observed_data_name(n): y for n, y in observed.items()}
        return nutpie.sample(compiled.with_data(**data), draws=draws, tune=tune, chains=chains, cores=1, seed=seed,
                             progress_bar=False)
    from mats_eval.inference.fitting import sample_posterior

    model = with_observations(_prior_model(model_name, scenario, scale, design_seed), observed)
    return sample_posterior(model, sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed,
                            progress=False)[0]


def sbc_replication(model: str, seed: int, scenario: str = "identified", scale: float = 0.1, design_seed: int = 0,
                    draws: int = 500, tune: int = 500, chains: int = 2, thin_to: int = DEFAULT_THIN_TO,
                    sampler: str = DEFAULT_SAMPLER) -> dict:
    """One SBC draw: θ̃, ỹ from the prior; fit; rank of each θ̃ among `thin_to` thinned posterior draws."""
    from mats_eval.inference.diagnostics import count_divergences

    start = time.perf_counter()
    truth, observed, prior = draw_from_prior(_prior_model(model, scenario, scale, design_seed), seed)
    idata = sample_observed(model, scenario, scale, design_seed, observed, sampler=sampler, draws=draws, tune=tune,
                            chains=chains, seed=seed)
    post = idata["posterior"]
    rng = np.random.default_rng(seed)
    ranks = {n: rank_of_truth(v, thin(post[n].transpose("chain", "draw").values, thin_to), rng)
             for n, v in truth.items()}
    ranks.update(estimand_ranks(prior, idata, fixed_design(scenario, scale, design_seed), thin_to, rng, model))
    return {"ranks": ranks, "truth": truth, "divergences": count_divergences(idata), "n_ranks": thin_to + 1,
            "fit_seconds": time.perf_counter() - start}


# --- SBC study -------------------------------------------------------------------------

@dataclass
class SBCResult:
    """ranks: one row per replication (columns: rep, divergences, then one per parameter);
    uniformity: uniformity_table; folder: where ranks.csv, uniformity.csv and the figure are."""

    model: str
    ranks: pd.DataFrame
    uniformity: pd.DataFrame
    n_ranks: int
    folder: Path
    failed: int = 0


def sbc_tasks(model: str, reps: int, seed: int = 0, **settings) -> dict[str, dict]:
    """rep-000 .. : the replication's args, its seed derived from (seed, key)."""
    return {f"rep-{i:04d}": {"model": model, "seed": task_seed(seed, f"{model}-rep-{i:04d}"), **settings}
            for i in range(reps)}


def sbc(model: str, reps: int, out: Path | str, *, scenario: str = "identified", scale: float = 0.1,
        design_seed: int = 0, draws: int = 500, tune: int = 500, chains: int = 2,
        thin_to: int = DEFAULT_THIN_TO, sampler: str = DEFAULT_SAMPLER, seed: int = 0, bins: int = 10,
        workers: int | None = None, scheduler=None, progress: bool = True) -> SBCResult:
    """Run (or resume) `reps` SBC replications of `model` into `out`; write ranks.csv, uniformity.csv,
    sbc_<model>.png. The design is simulate(scenario, design_seed, scale)'s."""
    from mats_eval.errors import UsageError
    from mats_eval.models import MODELS

    if model not in MODELS:
        raise UsageError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if chains * draws < thin_to:
        raise UsageError(f"chains × draws ({chains * draws}) must be at least the thinned draws ({thin_to})")
    out = Path(out)
    settings = dict(scenario=scenario, scale=scale, design_seed=design_seed, draws=draws, tune=tune, chains=chains,
                    thin_to=thin_to, sampler=sampler)
    tasks = sbc_tasks(model, reps, seed, **settings)
    records = run_study(sbc_replication, tasks, out, workers=workers, scheduler=scheduler, progress=progress,
                        description=f"SBC {model}")
    ranks = ranks_table(records)
    n_ranks = thin_to + 1
    params = [c for c in ranks.columns if c not in ("rep", "divergences")]
    uniformity = uniformity_table(ranks[params], n_ranks, bins)
    ranks.to_csv(out / "ranks.csv", index=False)
    uniformity.to_csv(out / "uniformity.csv", index=False)
    plot_rank_histograms(ranks[params], n_ranks, out / f"sbc_{model}.png", title=f"SBC ranks: {model}", bins=bins)
    return SBCResult(model, ranks, uniformity, n_ranks, out, failed=sum(r["status"] != "ok" for r in records))


def ranks_table(records: list[dict]) -> pd.DataFrame:
    """One row per successful replication: rep, divergences, rank of each parameter."""
    rows = [{"rep": r["key"], "divergences": r["divergences"], **r["ranks"]} for r in ok_results(records)]
    return pd.DataFrame(rows)


def plot_rank_histograms(ranks: pd.DataFrame, n_ranks: int, path: Path, title: str = "", bins: int = 10) -> Path:
    """One panel per parameter: rank histogram with the 99% band of a uniform bin count (Binomial(N, 1/B))."""
    from matplotlib.figure import Figure  # no pyplot: a library does not choose the caller's backend

    names = list(ranks.columns)
    cols = min(4, max(len(names), 1))
    rows = max(int(np.ceil(len(names) / cols)), 1)
    # constrained layout leaves room for the suptitle (tight_layout let it overlap the first row)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    bin_of = np.arange(n_ranks) * bins // n_ranks
    for ax, name in zip(axes.flat, names):
        r = ranks[name].dropna().astype(int).to_numpy()
        counts = np.bincount(bin_of[r], minlength=bins)
        share = np.bincount(bin_of, minlength=bins) / n_ranks
        lo, hi = stats.binom.ppf([0.005, 0.995], len(r), share.mean())
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(len(r) * share.mean(), color="0.5", lw=0.8)
        ax.bar(np.arange(bins), counts, width=0.9, color="tab:blue")
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


# --- coverage -----------------------------------------------------------------------

def coverage_replication(scenario: str, seed: int, scale: float, model: str | None = None, draws: int = 500,
                         tune: int = 500, chains: int = 2, sampler: str = DEFAULT_SAMPLER) -> dict:
    """Simulate(scenario, seed, scale), fit `model`; per estimand: truth, mean, HDI, prob_positive, covered,
    excludes_zero, and the 90% equal-tailed interval (ETI) with its coverage.

    `model` None: the model `fit` chooses for these data (models.default_model_for: the relevance
    model where sessions have topics, else the joint model), so coverage measures what a user gets."""
    from mats_eval.inference.fitting import study_fit
    from mats_eval.models import default_model_for
    from mats_eval.simulation.scenarios import simulate

    data = simulate(scenario, seed=seed, scale=scale)
    program = data.program_data()
    model = model or default_model_for(program)
    result = study_fit(program, model, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler)
    # the equal-tailed interval too: for a skewed or discrete posterior (the argmax
    # optimal_sessions_per_week) HDI and ETI differ, and only the ETI is invariant to reparametrisation
    draws_of = result.estimand_draws
    rows = {}
    for row in result.effects.to_dict("records"):
        truth = data.truth.get(row["estimand"])
        if truth is None:
            continue
        eti_low, eti_high = equal_tailed(draws_of[row["estimand"]])
        rows[row["estimand"]] = {
            "truth": truth, "mean": row["mean"], "hdi_low": row["hdi_low"], "hdi_high": row["hdi_high"],
            "prob_positive": row["prob_positive"],
            "covered": bool(row["hdi_low"] <= truth <= row["hdi_high"]),
            "excludes_zero": bool(row["hdi_low"] > 0 or row["hdi_high"] < 0),
            "eti_low": eti_low, "eti_high": eti_high, "covered_eti": bool(eti_low <= truth <= eti_high),
        }
    gate = result.diagnostics
    return {"estimands": rows, "reliable": result.reliable, "model": model,
            "target_accept": result.manifest["settings"]["target_accept"],
            # why a fit failed the gate, so a study's reliable_share can be read (a chance R-hat over ~1000
            # parameters, or a sampler problem)
            "gate": {"failures": gate["failures"], "rhat_max": gate["rhat_max"],
                     "rhat_max_parameter": gate["rhat_max_parameter"], "ess_bulk_min": gate["ess_bulk_min"],
                     "ess_tail_min": gate["ess_tail_min"], "divergences": gate["divergences"],
                     # the first run's failures when it failed narrowly and was sampled again (fit's `extend`)
                     "extended_from": (gate.get("extended") or {}).get("failures_before")}}


def coverage_tasks(scenarios, reps: int, seed: int = 0, **settings) -> dict[str, dict]:
    """<scenario>-0000 ..: dataset seeds derived from (seed, key)."""
    return {f"{s}-{i:04d}": {"scenario": s, "seed": task_seed(seed, f"{s}-{i:04d}") % 2**31, **settings}
            for s in scenarios for i in range(reps)}


def coverage_records_table(records: list[dict]) -> pd.DataFrame:
    """Long table: one row per (dataset, estimand)."""
    rows = []
    for r in ok_results(records):
        for estimand, values in r["estimands"].items():
            rows.append({"key": r["key"], "scenario": r["scenario"], "seed": r["seed"], "reliable": r["reliable"],
                         "estimand": estimand, **values})
    return pd.DataFrame(rows)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson interval for a binomial share (statsmodels), z = 1.96 for 95%:
    (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), clipped to [0, 1]."""
    if n == 0:
        return float("nan"), float("nan")
    low, high = proportion_confint(successes, n, alpha=2 * stats.norm.sf(z), method="wilson")
    return float(low), float(high)


def coverage_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Per (scenario, estimand): n, coverage of the 90% HDI with its Wilson interval, the bias of the
    posterior mean with its Monte Carlo se (sd/√n) and their ratio, the side of the misses (truth below
    the interval: the estimate too high; above: too low), share excluding 0, and whether the coverage
    is in the 85–95% goal."""
    rows = []
    for (scenario, estimand), g in long.groupby(["scenario", "estimand"], sort=True):
        n, hits = len(g), int(g["covered"].sum())
        lo, hi = wilson_interval(hits, n)
        error = g["mean"].astype(float) - g["truth"].astype(float)
        mcse = float(error.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        rows.append({"scenario": scenario, "estimand": estimand, "n": n, "coverage": hits / n,
                     "coverage_low": lo, "coverage_high": hi,
                     "bias": float(error.mean()), "bias_mcse": mcse,
                     "bias_in_mcse": float(error.mean() / mcse) if mcse > 0 else float("nan"),
                     "misses_estimate_high": int((g["truth"] < g["hdi_low"]).sum()),
                     "misses_estimate_low": int((g["truth"] > g["hdi_high"]).sum()),
                     "excludes_zero": float(g["excludes_zero"].mean()),
                     "reliable_share": float(g["reliable"].mean()),
                     "in_goal": bool(0.85 <= hits / n <= 0.95),
                     # datasets recorded before ETIs were kept have none: then NaN
                     "coverage_eti": (float(g["covered_eti"].astype(bool).mean())
                                      if "covered_eti" in g and g["covered_eti"].notna().all() else np.nan)})
    return pd.DataFrame(rows)


def false_positive_rate(long: pd.DataFrame, estimands=POLICY_ESTIMANDS) -> pd.DataFrame:
    """Wherever a policy effect's truth is 0 (`null`, `selection`): per scenario,
    estimand and rule (90% HDI excludes 0; two-sided 5%), the share of datasets that would declare
    an effect, with its Wilson interval (goal ≤ 5%)."""
    g = long[long["estimand"].isin(estimands)]
    rows = []
    for (scenario, estimand), h in g.groupby(["scenario", "estimand"]):
        if not np.allclose(h["truth"].astype(float), 0.0):
            continue
        flags = {"hdi90_excludes_0": h["excludes_zero"].astype(bool)}
        if "prob_positive" in h and h["prob_positive"].notna().all():
            flags["two_sided_5pct"] = (h["prob_positive"] < 0.025) | (h["prob_positive"] > 0.975)
        for rule, flag in flags.items():
            hits = int(flag.sum())
            lo, hi = wilson_interval(hits, len(h))
            rows.append({"scenario": scenario, "estimand": estimand, "rule": rule, "n": len(h),
                         "false_positive_rate": hits / len(h), "fpr_low": lo, "fpr_high": hi,
                         "in_goal": bool(hits / len(h) <= 0.05)})
    return pd.DataFrame(rows, columns=["scenario", "estimand", "rule", "n", "false_positive_rate", "fpr_low",
                                       "fpr_high", "in_goal"])


GATE_CHECKS = {"R-hat": "rhat", "bulk ESS": "bulk_ess", "tail ESS": "tail_ess", "divergent": "divergences",
               "E-BFMI": "bfmi"}


def gate_table(records: list[dict]) -> pd.DataFrame:
    """Per scenario: fits, the share passing the diagnostics gate (with its Wilson interval), how
    many were sampled twice (`extended`: the first run failed narrowly) and how many fits each
    check failed (a fit can fail several). Fits recorded without their gate's failures count only
    in `fits` and `passed`."""
    rows = []
    results = ok_results(records)
    for scenario in sorted({r["scenario"] for r in results}):
        mine = [r for r in results if r["scenario"] == scenario]
        passed = sum(bool(r["reliable"]) for r in mine)
        low, high = wilson_interval(passed, len(mine))
        row = {"scenario": scenario, "fits": len(mine), "passed": passed, "passed_share": passed / len(mine),
               "passed_low": low, "passed_high": high,
               "fits_with_failures_recorded": sum("gate" in r for r in mine),
               # fits whose first run failed the gate narrowly and were sampled again with twice the draws
               "extended": sum(bool(r.get("gate", {}).get("extended_from")) for r in mine)}
        for text, column in GATE_CHECKS.items():
            row[f"failed_{column}"] = sum(any(text in f for f in r["gate"]["failures"]) for r in mine if "gate" in r)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class CoverageResult:
    long: pd.DataFrame
    summary: pd.DataFrame
    false_positives: pd.DataFrame
    folder: Path
    failed: int = 0
    gate: pd.DataFrame | None = None  # gate_table: the share of fits passing the diagnostics gate


def coverage(scenarios=COVERAGE_SCENARIOS, reps: int = 100, out: Path | str = "coverage", *, scale: float = 0.3,
             model: str | None = None, draws: int = 500, tune: int = 500, chains: int = 2, sampler: str = DEFAULT_SAMPLER,
             seed: int = 0, workers: int | None = None, scheduler=None, progress: bool = True) -> CoverageResult:
    """Run (or resume) coverage fits into `out`; write coverage_long.csv, coverage.csv, false_positives.csv
    and coverage.png."""
    out = Path(out)
    tasks = coverage_tasks(list(scenarios), reps, seed, scale=scale, model=model, draws=draws, tune=tune,
                           chains=chains, sampler=sampler)
    records = run_study(coverage_replication, tasks, out, workers=workers, scheduler=scheduler, progress=progress,
                        description="coverage")
    return write_coverage(records, out)


def read_study_table(path: Path | str) -> pd.DataFrame:
    """A table a study wrote (coverage_long.csv, coverage.csv, gate.csv, ...), read back with its scenario
    names as written: pandas would read the scenario "null" as a missing value; only empty cells are."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def write_coverage(records: list[dict], out: Path | str) -> CoverageResult:
    """coverage_long.csv, coverage.csv, false_positives.csv, gate.csv and coverage.png in `out` from finished
    records (e.g. runner.load_results(out) to summarise a study stopped part-way)."""
    out = Path(out)
    long = coverage_records_table(records)
    summary = coverage_summary(long) if len(long) else pd.DataFrame()
    fpr = false_positive_rate(long) if len(long) else pd.DataFrame()
    long.to_csv(out / "coverage_long.csv", index=False)
    summary.to_csv(out / "coverage.csv", index=False)
    fpr.to_csv(out / "false_positives.csv", index=False)
    gate = gate_table(records)
    gate.to_csv(out / "gate.csv", index=False)
    if len(summary):
        plot_coverage(summary, out / "coverage.png")
    return CoverageResult(long, summary, fpr, out, failed=sum(r["status"] != "ok" for r in records), gate=gate)


def plot_coverage(summary: pd.DataFrame, path: Path) -> Path:
    """Coverage per estimand (one marker per scenario, Wilson intervals) against the 85–95% goal band."""
    from matplotlib.figure import Figure

    estimands = sorted(summary["estimand"].unique())
    scenarios = sorted(summary["scenario"].unique())
    fig = Figure(figsize=(7, 0.45 * len(estimands) + 1.5))
    ax = fig.subplots()
    ax.axvspan(0.85, 0.95, color="0.9", zorder=0)
    ax.axvline(INTERVAL_PROB, color="0.5", lw=0.8)
    for j, scenario in enumerate(scenarios):
        s = summary[summary["scenario"] == scenario].set_index("estimand").reindex(estimands)
        y = np.arange(len(estimands)) + (j - (len(scenarios) - 1) / 2) * 0.12
        xerr = np.clip([s["coverage"] - s["coverage_low"], s["coverage_high"] - s["coverage"]], 0, None)
        ax.errorbar(s["coverage"], y, xerr=xerr,
                    fmt="o", ms=4, label=scenario, capsize=2)
    ax.set_yticks(np.arange(len(estimands)), estimands, fontsize=8)
    ax.set_xlabel("share of 90% HDIs holding the truth")
    ax.set_xlim(0.5, 1.0)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
