"""Prior and posterior predictive checks, PSIS-LOO, and comparing runs by LOO.

Nothing is compiled per check: `observed_functions(model)` compiles, once per model, the
observed variables' pointwise log-likelihood and the parameters of their distributions as
functions of the free variables, vectorised over a block of draws and compiled with JAX
(`draw_function`); predictive draws come from those parameters through each distribution's
own random function (the models' CustomDist `random`), the log-likelihood for LOO and the
sensitivity check from the first function.

Predictive checks (cheap: `PPC_DRAWS` draws, thinned evenly from the posterior)
compare the observed data with data simulated from the model, summarised the
way the questions are asked:

- attendance by week, cohort and policy: observed rate vs the 90% band of the
  predicted rate (`attendance_by_week.csv`, `attendance_by_week.png`);
- the distribution of session ratings by policy, per rating scale: observed
  share of each rating vs the predicted band (`rating_distribution.csv/.png`);
- the same for retrospective ratings when the model has them
  (`retro_distribution.csv/.png`).

`check_tables(model, design, idata)` returns these tables for the prior
(`prior_*`) and the posterior (`posterior_*`); `write_checks(tables, folder)`
writes them as CSV plus PNG figures (the run folder's `checks/`).

PSIS-LOO: `loo_tables(model, idata)` computes the pointwise log-likelihood of
every observed variable (not stored in posterior.nc: it would be draws ×
observations floats) at every k-th draw of each chain (at most LOO_DRAWS), and returns
`loo.csv` (one row per observed variable: elpd_loo, se, p_loo, n, max Pareto k, counts
of k > 0.7 and > 1, warning) and
`loo_pointwise.csv` (variable, obs, elpd_i, pareto_k). `compare_runs(paths)`
rebuilds `ELPDDataLOO` objects from the stored pointwise values and runs
`az.compare` per observed variable the runs share. Models are comparable by
LOO only on the same observations: runs on different data are refused, and
each observed variable (attended, rating, retro) is compared separately.
"""
from __future__ import annotations

import contextlib
import json
import logging
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import arviz_stats as azs
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from mats_eval.errors import UsageError

PPC_DRAWS = 200
# PSIS-LOO on at most this many draws (every k-th of each chain): Pareto k's threshold
# min(1 − 1/log10 S, 0.7) is 0.7 from S ≈ 2000, and more draws only cost time and memory
LOO_DRAWS = 2000
# Size limits: at most this many draws × observations held at once (float64: 400 MB for LOO);
# above them fewer draws are used and the fit records a note (diagnostics.json post_fit_limits)
MAX_LOO_VALUES = 50_000_000
MAX_PPC_VALUES = 20_000_000
# The prior's free variables are drawn once, 200 draws, with the Python linker (1–2 s, where
# compiling their forward graph took ~13 s); the observed variables' functions are JAX (DrawFunction)
PRIOR_MODE = "FAST_COMPILE"
_PER_UNIT_DIMS = {"scholar", "session", "speaker", "attendance_obs", "rating_obs", "retro_obs"}
BAND = (0.05, 0.95)
PARETO_K_GOOD = 0.7
LOO_COLUMNS = ["variable", "elpd_loo", "se", "p_loo", "n_obs", "n_samples", "pareto_k_max", "n_k_above_0_7",
               "n_k_above_1", "warning"]


# --- predictive draws -------------------------------------------------------------


def observed_values(design, name: str) -> np.ndarray:
    """The observed data of an observed variable of our models (codes for ordinal ones)."""
    if name == "attended":
        return np.asarray(design.att_y)
    if name == "rating":
        return np.asarray(design.rating_code)
    if name == "retro":
        return np.asarray(design.retro.code)
    raise KeyError(name)


def thin(idata, draws: int = PPC_DRAWS):
    """A DataTree holding only the posterior, every k-th draw of each chain (arviz-stats' thin),
    k = ⌈C·D / draws⌉: at most `draws` draws in total."""
    post = idata["posterior"]
    step = max(1, int(np.ceil(post.sizes["chain"] * post.sizes["draw"] / draws)))
    return xr.DataTree.from_dict({"posterior": azs.thin(idata, factor=step).to_dataset()})


def draw_index(n: int, max_draws: int) -> np.ndarray:
    """Evenly spaced indices of `max_draws` of n draws (all of them when there are fewer): the
    draws kernels.thinned and the sensitivity check pick."""
    if n <= max_draws:
        return np.arange(n)
    return np.linspace(0, n - 1, max_draws).round().astype(int)


def draws_within(n_draws: int, n_values_per_draw: int, max_draws: int, max_values: int) -> tuple[int, str]:
    """(draws to use, '' or a note): at most `max_draws`, and at most `max_values` values held at once."""
    cap = max(1, max_values // max(n_values_per_draw, 1))
    use = min(n_draws, max_draws, cap)
    if use < min(n_draws, max_draws):
        return use, (f"{use} draws instead of {min(n_draws, max_draws)}: {n_values_per_draw} observations per draw "
                     f"would exceed {max_values} values held at once")
    return use, ""


@dataclass
class DrawFunction:
    """Outputs of a model's graph as functions of its free variables, for a block of draws at once:
    the graph vectorised over a leading draw axis (PyTensor's vectorize_graph) and compiled once with
    JAX, the backend the sampler already uses (no Numba or C compilation, ~2 s on data/example)."""

    inputs: dict[str, str]  # free variable -> dtype its input expects
    fn: object
    batched: list[bool]  # which outputs carry the draw axis (the others are constants)
    block: int  # draws per call: every call has this shape, so JAX compiles once

    def blocks(self, values: dict[str, np.ndarray]):
        """(start, stop, [outputs at draws start..stop−1, each (draws, ...)]) over {free variable: (draws, ...)}."""
        arrays = [np.asarray(values[name], dtype=dtype) for name, dtype in self.inputs.items()]
        n = len(arrays[0])
        for start in range(0, n, self.block):
            stop = min(start + self.block, n)
            fill = np.r_[np.arange(start, stop), np.full(self.block - (stop - start), stop - 1)]  # pad the last
            outputs = self.fn(*[a[fill] for a in arrays])
            yield start, stop, [np.asarray(out)[: stop - start] if batched
                                else np.broadcast_to(np.asarray(out), (stop - start,) + np.shape(out))
                                for out, batched in zip(outputs, self.batched)]


# draws per call of a DrawFunction: at most this many, and at most BLOCK_VALUES values per output
DRAW_BLOCK, BLOCK_VALUES = 250, 4_000_000


def constrained_model(model: pm.Model) -> pm.Model:
    """`model` with its value transforms removed: its value variables take the constrained values the
    posterior holds. remove_value_transforms refuses models with custom initial values (the ordered
    cutpoints have one); they play no part in a density, so they are dropped meanwhile."""
    from pymc.model.transform.conditioning import remove_value_transforms

    saved = dict(model.rvs_to_initial_values)
    try:
        model.rvs_to_initial_values = dict.fromkeys(saved)
        return remove_value_transforms(model)
    finally:
        model.rvs_to_initial_values = saved


def draw_function(umodel: pm.Model, outputs: list, values_per_draw: int = 1) -> DrawFunction:
    """A DrawFunction of `outputs`, graphs of the value variables of `umodel` (a constrained_model)."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    values = {rv.name: umodel.rvs_to_values[rv] for rv in umodel.free_RVs}
    batched = {v: pt.tensor(name=f"{name}_draws", dtype=v.type.dtype, shape=(None,) + tuple(v.type.shape))
               for name, v in values.items()}
    vectorised = vectorize_graph(list(outputs), replace=batched)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = pytensor.function(list(batched.values()), vectorised, mode="JAX", on_unused_input="ignore")
    return DrawFunction(inputs={name: v.type.dtype for name, v in values.items()}, fn=fn,
                        batched=[v.ndim == out.ndim + 1 for v, out in zip(vectorised, outputs)],
                        block=max(1, min(DRAW_BLOCK, BLOCK_VALUES // max(values_per_draw, 1))))


@dataclass
class ObservedFunctions:
    """The model's observed variables as functions of its free variables (constrained values),
    compiled once per model (DrawFunction): `logp` their pointwise log-likelihoods, `params` the
    parameters of their distributions, from which `draw` simulates new data with the
    distribution's own random function (rng_fn: the models' CustomDist `random`)."""

    names: list[str]
    free: dict[str, str]  # free variable -> dtype its function input expects
    logp: DrawFunction
    params: DrawFunction
    ops: list

    def draw(self, values: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
        """{observed variable: (draws, n_obs) simulated data} at each draw of `values`."""
        rng = np.random.default_rng(seed)
        out = {name: [] for name in self.names}
        for start, stop, params in self.params.blocks(values):
            for j in range(stop - start):
                flat = iter([p[j] for p in params])
                for name, (op, n_params) in zip(self.names, self.ops):
                    out[name].append(np.asarray(op.rng_fn(rng, *[next(flat) for _ in range(n_params)], None)))
        return {name: np.stack(rows) for name, rows in out.items()}

    def log_likelihood(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{observed variable: (draws, n_obs) pointwise log-likelihood} at each draw of `values`."""
        parts = [outputs for _, _, outputs in self.logp.blocks(values)]
        return {name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(self.names)}

    def total_log_likelihood(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Σ over every observation of every observed variable, at each draw of `values` (draws,)."""
        return np.concatenate([sum(out.reshape(len(out), -1).sum(axis=1) for out in outputs)
                               for _, _, outputs in self.logp.blocks(values)])


_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def observed_functions(model: pm.Model) -> ObservedFunctions:
    """ObservedFunctions of `model`, compiled on first use and kept while the model lives."""
    if model in _COMPILED:
        return _COMPILED[model]
    umodel = constrained_model(model)  # the posterior holds constrained values
    observed = list(umodel.observed_RVs)
    dist_params = [list(rv.owner.op.dist_params(rv.owner)) for rv in observed]
    size = n_observations(model)
    logp = draw_function(umodel, umodel.logp(vars=observed, sum=False), size)
    params = draw_function(umodel, umodel.replace_rvs_by_values([p for ps in dist_params for p in ps]), size)
    functions = ObservedFunctions(names=[rv.name for rv in observed], free=logp.inputs, logp=logp, params=params,
                                  ops=[(rv.owner.op, len(ps)) for rv, ps in zip(observed, dist_params)])
    _COMPILED[model] = functions
    return functions


@contextlib.contextmanager
def quiet_pymc():
    """PyMC's 'Sampling: [...]' log line off meanwhile (fit's progress lines say what runs)."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def posterior_values(idata, names, keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{name: (chain·draw, ...) draws of the posterior}, at the draws `keep` (all when None)."""
    post = idata["posterior"]
    out = {}
    for name in names:
        values = np.asarray(post[name].transpose("chain", "draw", ...).values)
        values = values.reshape((-1,) + values.shape[2:])
        out[name] = values if keep is None else values[keep]
    return out


def predictive_draws(model: pm.Model, idata=None, draws: int = PPC_DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """{observed variable: (draws, n_obs) simulated data}; prior predictive when idata is None.

    Posterior: the observed variables' distributions at `draws` evenly spaced posterior draws,
    sampled with their own random functions (no predictive graph is compiled). Prior: the same
    at draws of the free variables from the prior.
    """
    functions = observed_functions(model)
    if idata is None:
        with model, warnings.catch_warnings(), quiet_pymc():
            warnings.simplefilter("ignore")
            prior = pm.sample_prior_predictive(draws=draws, var_names=list(functions.free), random_seed=seed,
                                              compile_kwargs={"mode": PRIOR_MODE})
        values = posterior_values({"posterior": prior["prior"]}, functions.free)
    else:
        post = idata["posterior"]
        keep = draw_index(post.sizes["chain"] * post.sizes["draw"], draws)
        values = posterior_values(idata, functions.free, keep)
    return functions.draw(values, seed)


def _band(per_draw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) over the leading draw axis."""
    low, high = np.quantile(per_draw, BAND, axis=0)
    return per_draw.mean(axis=0), low, high


# --- summaries of the questions ---------------------------------------------------------


def attendance_by_week(design, observed: np.ndarray, simulated: np.ndarray) -> pd.DataFrame:
    """cohort, week, policy, n, observed rate, predicted mean and 90% band of the rate."""
    s = design.att_session
    keys = pd.DataFrame({
        "cohort": np.asarray(design.coords["cohort"])[design.session_cohort[s]],
        "week": (design.session_week0[s] + 1).astype(int),
        "policy": np.where(design.session_mandatory[s] > 0, "mandatory", "optional"),
    })
    groups = keys.groupby(["cohort", "week", "policy"], sort=True).indices
    rows = []
    for (cohort, week, policy), idx in groups.items():
        mean, low, high = _band(simulated[:, idx].mean(axis=1))
        rows.append({"cohort": cohort, "week": int(week), "policy": policy, "n": len(idx),
                     "observed": float(observed[idx].mean()), "predicted_mean": float(mean),
                     "predicted_low": float(low), "predicted_high": float(high)})
    return pd.DataFrame(rows)


def rating_distribution(observed: np.ndarray, simulated: np.ndarray, mandatory: np.ndarray, scale: np.ndarray,
                        scales) -> pd.DataFrame:
    """scale, policy, rating (points), observed share, predicted mean share and 90% band."""
    rows = []
    mandatory = np.asarray(mandatory)
    for j, (lo, hi) in enumerate(scales):
        for policy, flag in (("mandatory", 1.0), ("optional", 0.0)):
            idx = np.flatnonzero((np.asarray(scale) == j) & (mandatory == flag))
            if not len(idx):
                continue
            for code in range(hi - lo + 1):
                mean, low, high = _band((simulated[:, idx] == code).mean(axis=1))
                rows.append({"scale": f"{lo}_{hi}", "policy": policy, "rating": lo + code, "n": len(idx),
                             "observed": float((observed[idx] == code).mean()), "predicted_mean": float(mean),
                             "predicted_low": float(low), "predicted_high": float(high)})
    return pd.DataFrame(rows)


def session_mean_spread(observed: np.ndarray, simulated: np.ndarray, session: np.ndarray, scale: np.ndarray,
                        scales, min_ratings: int = 3) -> pd.DataFrame:
    """Per rating scale: the sd across sessions of a session's mean rating (points), observed vs predicted.

        spread = sd_s(ȳ_s),  ȳ_s the mean rating of session s, over sessions with ≥ `min_ratings` ratings

    The ratings of one session share that session, so a model that treats them as independent
    (no session effect) predicts too little spread. `p_value` = share of draws whose spread is
    at least the observed one: near 1 means the model predicts too much spread, near 0 too little.
    """
    rows = []
    for j, (lo, hi) in enumerate(scales):
        idx = np.flatnonzero(np.asarray(scale) == j)
        sessions, group, counts = np.unique(np.asarray(session)[idx], return_inverse=True, return_counts=True)
        keep = counts >= min_ratings
        if keep.sum() < 2:
            continue
        # (rows, sessions) matrix of 1/n_s: codes @ weights = each session's mean code
        weights = np.zeros((len(idx), len(sessions)))
        weights[np.arange(len(idx)), group] = 1.0 / counts[group]
        weights = weights[:, keep]
        spread_sim = (np.asarray(simulated)[:, idx] @ weights).std(axis=1, ddof=1)
        spread_obs = float((np.asarray(observed)[idx] @ weights).std(ddof=1))
        mean, low, high = _band(spread_sim)
        rows.append({"scale": f"{lo}_{hi}", "n_sessions": int(keep.sum()), "n": int(counts[keep].sum()),
                     "observed": spread_obs, "predicted_mean": float(mean), "predicted_low": float(low),
                     "predicted_high": float(high), "p_value": float((spread_sim >= spread_obs).mean())})
    return pd.DataFrame(rows)


def summarise(design, simulated: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """The check tables for one set of predictive draws."""
    out = {}
    if "attended" in simulated:
        out["attendance_by_week"] = attendance_by_week(design, observed_values(design, "attended"),
                                                       simulated["attended"])
    if "rating" in simulated:
        out["rating_distribution"] = rating_distribution(
            observed_values(design, "rating"), simulated["rating"], design.session_mandatory[design.rating_session],
            design.rating_scale, design.scales)
        out["session_mean_spread"] = session_mean_spread(observed_values(design, "rating"), simulated["rating"],
                                                         design.rating_session, design.rating_scale, design.scales)
    if "retro" in simulated:
        r = design.retro
        out["retro_distribution"] = rating_distribution(observed_values(design, "retro"), simulated["retro"],
                                                        r.mandatory, r.scale, r.scales)
    return out


def check_tables(model: pm.Model, design, idata=None, draws: int = PPC_DRAWS, seed: int = 0) -> dict[str, pd.DataFrame]:
    """{'prior_<table>': ..., 'posterior_<table>': ...}; posterior ones only when idata is given."""
    tables = {f"prior_{k}": v for k, v in summarise(design, predictive_draws(model, None, draws, seed)).items()}
    if idata is not None:
        post = summarise(design, predictive_draws(model, idata, draws, seed + 1))
        tables.update({f"posterior_{k}": v for k, v in post.items()})
    return tables


def coverage(table: pd.DataFrame) -> float:
    """Share of rows whose observed value lies inside the predicted 90% band."""
    inside = (table["observed"] >= table["predicted_low"]) & (table["observed"] <= table["predicted_high"])
    return float(inside.mean()) if len(table) else float("nan")


# --- figures ----------------------------------------------------------------------------


def _plot_attendance(table: pd.DataFrame, title: str, path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: a library does not choose the caller's backend

    cohorts = list(dict.fromkeys(table["cohort"]))
    fig = Figure(figsize=(4 * len(cohorts), 3.2))
    axes = fig.subplots(1, len(cohorts), sharey=True, squeeze=False)
    colours = {"mandatory": "tab:red", "optional": "tab:blue"}
    for ax, cohort in zip(axes[0], cohorts):
        for policy, rows in table[table["cohort"] == cohort].groupby("policy"):
            ax.fill_between(rows["week"], rows["predicted_low"], rows["predicted_high"], alpha=0.25,
                            color=colours[policy], label=f"{policy}: predicted 90%")
            ax.plot(rows["week"], rows["observed"], "o-", color=colours[policy], ms=3, label=f"{policy}: observed")
        ax.set_title(str(cohort))
        ax.set_xlabel("week")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("attendance rate")
    handles = {}
    for ax in axes[0]:  # one legend for every policy shown in any panel
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    axes[0][-1].legend(list(handles.values()), list(handles), fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def _plot_distribution(table: pd.DataFrame, title: str, path: Path) -> None:
    from matplotlib.figure import Figure

    panels = list(dict.fromkeys(zip(table["scale"], table["policy"])))
    fig = Figure(figsize=(4 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (scale, policy) in zip(axes[0], panels):
        rows = table[(table["scale"] == scale) & (table["policy"] == policy)]
        ax.bar(rows["rating"], rows["observed"], color="lightgrey", label="observed")
        err = np.vstack([rows["predicted_mean"] - rows["predicted_low"], rows["predicted_high"] - rows["predicted_mean"]])
        ax.errorbar(rows["rating"], rows["predicted_mean"], yerr=np.clip(err, 0, None), fmt="o", color="k", ms=3,
                    label="predicted 90%")
        ax.set_title(f"{policy} (scale {scale.replace('_', '–')}), n={int(rows['n'].iloc[0])}")
        ax.set_xlabel("rating")
    axes[0][0].set_ylabel("share")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def write_checks(tables: dict[str, pd.DataFrame], folder: Path | str) -> Path:
    """CSV and PNG of every check table into `folder` (created), plus coverage.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cover = {}
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)
        which = "prior" if name.startswith("prior_") else "posterior"
        title = f"{which} predictive check: {name.split('_', 1)[1].replace('_', ' ')}"
        if name.endswith("attendance_by_week"):
            _plot_attendance(table, title, folder / f"{name}.png")
        elif name.endswith("_distribution"):  # session_mean_spread: one number per scale, no figure
            _plot_distribution(table, title, folder / f"{name}.png")
        cover[name] = coverage(table)
    (folder / "coverage.json").write_text(json.dumps(
        {"band": list(BAND), "share_of_cells_inside_band": cover}, indent=2, sort_keys=True))
    return folder


# --- LOO: PSIS over every observation at once -------------------------------------------
#
# arviz-stats smooths the importance weights of one observation at a time in a Python loop
# (~1.5 ms each: 20 s for data/example's 14,500 observations). The same computation, step for
# step (arviz_stats.base.diagnostics: _psislw, _ps_tail, _gpdfit, _gpinv, _loo, _summary), on
# a block of observations at a time, agrees with it to rounding (tests/checks/test_ppc.py).

# Zhang & Stephens (2009) with the prior of Vehtari et al. (2024): a N(0.5, ·) prior worth
# PRIOR_K observations on k, and PRIOR_BS scaling the grid of b around the first quartile
_GPD_PRIOR_K, _GPD_PRIOR_BS = 10, 3
_PSIS_BLOCK = 1000  # observations smoothed at once (memory: a few (block, draws) arrays)


def logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log Σ exp(x) along `axis`, shifted by the maximum (scipy's does much more checking, at 5× the cost)."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    out = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def tail_length(n_draws: int, r_eff: float) -> int:
    """M, how many of the largest importance ratios are smoothed: 3√(S/r_eff), or S/5 for S·r_eff ≤ 225."""
    return int(np.floor(3 * np.sqrt(n_draws / r_eff)) if n_draws * r_eff > 225 else np.floor(n_draws / 5))


def generalized_pareto_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, σ) of a generalized Pareto distribution per row of x (rows sorted ascending, ≥ 0).

    Zhang & Stephens' empirical Bayes: a grid of m = 30 + ⌊√M⌋ values of b = −k/σ weighted by their
    profile likelihood M·(log(−b/k̂(b)) − k̂(b) − 1), k̂(b) = mean log(1 − b·x); k is then pulled towards
    0.5 as if by PRIOR_K extra observations: k = (M·k̂ + 5)/(M + 10). k is NaN where the first quartile
    equals the minimum (no Pareto tail), +∞ where the fit fails.
    """
    n = x.shape[1]
    m = 30 + int(n ** 0.5)
    first_quartile = x[:, int((n / 4 + 0.5) - 1)]
    grid = 1 - np.sqrt(m / (np.arange(1, m + 1, dtype=float) - 0.5))
    with np.errstate(divide="ignore", invalid="ignore"):
        b = grid / (_GPD_PRIOR_BS * first_quartile[:, None]) + 1 / x[:, -1:]  # (rows, m)
        k_of_b = np.stack([np.log1p(-b[:, j, None] * x).mean(axis=1) for j in range(m)], axis=1)
        profile = n * (np.log(-b / k_of_b) - k_of_b - 1)
        weight = np.exp(profile - logsumexp(profile, axis=1, keepdims=True))
        weight[weight < 10 * np.finfo(float).eps] = 0.0  # negligible grid points dropped, as arviz does
        b_post = (b * weight).sum(axis=1) / weight.sum(axis=1)
        k = np.log1p(-b_post[:, None] * x).mean(axis=1)
        sigma = -k / b_post
        k = (n * k + _GPD_PRIOR_K * 0.5) / (n + _GPD_PRIOR_K)
    k = np.where(np.isnan(k), np.inf, k)
    no_tail = first_quartile <= x[:, 0]
    return np.where(no_tail, np.nan, k), np.where(no_tail, np.nan, sigma)


def smoothed_log_weights(log_lik: np.ndarray, r_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """(log weights (rows, S), Pareto k (rows,)) of PSIS for leave-one-out, one row per observation.

    The importance ratios are 1/p(y_i | θ_s); their M largest are replaced by the expected order
    statistics of the generalized Pareto fitted to them (over the next largest), capped at the
    largest ratio, and the weights normalised. Raises ValueError when M < 5 or a tail is flat.
    """
    rows, n_draws = log_lik.shape
    tail = tail_length(n_draws, r_eff)
    if tail < 5:
        raise ValueError("n_draws_tail must be at least 5")
    log_ratio = -log_lik - (-log_lik).max(axis=1, keepdims=True)
    order = np.argsort(log_ratio, axis=1)
    ordered = np.take_along_axis(log_ratio, order, axis=1)
    top, cutoff = ordered[:, n_draws - tail:], ordered[:, n_draws - tail - 1]
    if np.any(np.abs(top[:, -1] - top[:, 0]) < np.finfo(float).tiny):
        raise ValueError("All tail values are the same")
    k, sigma = generalized_pareto_fit(np.exp(top) - np.exp(cutoff)[:, None])
    # expected order statistics: the GPD quantiles at (j − ½)/M over the cutoff, back on the log scale
    probs = np.arange(0.5, tail) / tail
    with np.errstate(divide="ignore", invalid="ignore"):
        kk, ss = k[:, None], sigma[:, None]
        spread = np.where(kk == 0, -np.log1p(-probs), np.expm1(-kk * np.log1p(-probs)) / kk)
        quantiles = np.where(ss > 0, np.exp(cutoff)[:, None] + ss * spread, np.nan)
        smoothed = np.log(quantiles)
    smoothed = np.where(smoothed > top[:, -1:], top[:, -1:], smoothed)
    smooth = np.isfinite(k)
    np.put_along_axis(ordered, np.broadcast_to(np.arange(n_draws - tail, n_draws), (rows, tail)),
                      np.where(smooth[:, None], smoothed, top), axis=1)
    log_ratio = np.empty_like(ordered)
    np.put_along_axis(log_ratio, order, ordered, axis=1)
    return log_ratio - logsumexp(log_ratio, axis=1, keepdims=True), k


def psis_loo(log_lik: np.ndarray, r_eff: float = 1.0) -> dict[str, np.ndarray | float]:
    """PSIS-LOO of a (draws, observations) pointwise log-likelihood (Vehtari, Gelman & Gabry 2017):

        elpd_i = log Σ_s w_is·p(y_i | θ_s),   p_loo_i = log((1/S)·Σ_s p(y_i | θ_s)) − elpd_i

    with w_is the Pareto-smoothed weights (`smoothed_log_weights`); returns elpd_i, pareto_k, p_loo_i
    per observation and their totals elpd (with se = √(n·var(elpd_i))) and p_loo.
    """
    log_lik = np.asarray(log_lik, dtype=float)
    n_draws, n_obs = log_lik.shape
    elpd_i, pareto_k, p_loo_i = (np.empty(n_obs) for _ in range(3))
    for start in range(0, n_obs, _PSIS_BLOCK):
        block = slice(start, start + _PSIS_BLOCK)
        rows = log_lik[:, block].T
        log_weights, pareto_k[block] = smoothed_log_weights(rows, r_eff)
        elpd_i[block] = logsumexp(log_weights + rows, axis=1)
        p_loo_i[block] = logsumexp(rows, axis=1) - np.log(n_draws) - elpd_i[block]
    se = float(np.sqrt(n_obs * np.var(elpd_i, ddof=1))) if n_obs > 1 else 0.0
    return {"elpd_i": elpd_i, "pareto_k": pareto_k, "p_loo_i": p_loo_i, "elpd": float(elpd_i.sum()), "se": se,
            "p_loo": float(p_loo_i.sum()), "n_samples": n_draws, "n_obs": n_obs,
            "good_k": min(1 - 1 / np.log10(n_draws), PARETO_K_GOOD) if n_draws > 1 else PARETO_K_GOOD}




def n_observations(model: pm.Model) -> int:
    """How many observations the model's observed variables hold together."""
    return int(sum(np.size(model.rvs_to_values[rv].data) for rv in model.observed_RVs))


def log_likelihood(model: pm.Model, idata):
    """DataTree with `idata`'s posterior and the pointwise log-likelihood of every observed variable
    at each of its draws (ObservedFunctions: compiled once per model)."""
    functions = observed_functions(model)
    post = idata["posterior"].to_dataset()
    shape = (post.sizes["chain"], post.sizes["draw"])
    loglik = functions.log_likelihood(posterior_values(idata, functions.free))
    group = xr.Dataset({name: (("chain", "draw", f"{name}_obs"), values.reshape(shape + values.shape[1:]))
                        for name, values in loglik.items()})
    return xr.DataTree.from_dict({"posterior": post, "log_likelihood": group})


def pointwise_log_likelihood(model: pm.Model, idata, keep: np.ndarray) -> dict[str, np.ndarray]:
    """{observed variable: (len(keep), n_obs) pointwise log-likelihood} at the posterior draws `keep`
    (chain·draw order, e.g. draw_index): what LOO reads and, summed, the sensitivity check."""
    functions = observed_functions(model)
    return functions.log_likelihood(posterior_values(idata, functions.free, keep))


def loo_draws(model: pm.Model, idata, max_draws: int = LOO_DRAWS, max_values: int = MAX_LOO_VALUES) -> tuple[int, str]:
    """(draws PSIS-LOO uses, '' or a note why fewer than max_draws): see draws_within."""
    post = idata["posterior"]
    return draws_within(post.sizes["chain"] * post.sizes["draw"], n_observations(model), max_draws, max_values)


def relative_efficiency(posterior) -> float:
    """r_eff = mean ESS / draws over the population-level parameters of `posterior` (a Dataset): arviz-stats'
    rule, without the thousands of per-scholar effects that would cost seconds; 1 for a single chain."""
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
    if posterior.sizes["chain"] == 1:
        return 1.0
    population = [name for name, da in posterior.data_vars.items()
                  if not name.endswith("_z") and not (_PER_UNIT_DIMS & set(da.dims))]
    ess = azs.ess(posterior[population], method="mean")
    return float(np.hstack([np.ravel(ess[name].values) for name in ess.data_vars]).mean() / n_draws)


def loo_tables(model: pm.Model, idata, draws: int = LOO_DRAWS,
               log_lik: dict[str, np.ndarray] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loo.csv, loo_pointwise.csv) over every observed variable (see module docstring).

    PSIS-LOO (`psis_loo`) on `draws` evenly spaced draws (draw_index: the draws the sensitivity check
    and the volume optimum use; `log_lik` their pointwise_log_likelihood when the caller has it), with
    the relative efficiency r_eff of as many draws taken every k-th of each chain (`thin`,
    `relative_efficiency`): the same spacing, with the chains kept apart for the ESS.
    """
    post = idata["posterior"]
    keep = draw_index(post.sizes["chain"] * post.sizes["draw"], draws)
    loglik = pointwise_log_likelihood(model, idata, keep) if log_lik is None else log_lik
    r_eff = relative_efficiency(thin(idata, len(keep))["posterior"].to_dataset())
    rows, pointwise = [], []
    for name, values in loglik.items():
        try:
            res = psis_loo(values.reshape(len(values), -1), r_eff)
        except ValueError as exc:  # e.g. too few draws for Pareto smoothing
            rows.append({"variable": name, "elpd_loo": np.nan, "se": np.nan, "p_loo": np.nan,
                         "n_obs": int(np.prod(values.shape[1:])), "n_samples": 0, "pareto_k_max": np.nan,
                         "n_k_above_0_7": 0, "n_k_above_1": 0, "warning": f"PSIS-LOO failed: {exc}"})
            continue
        k = res["pareto_k"]
        rows.append({
            "variable": name, "elpd_loo": res["elpd"], "se": res["se"], "p_loo": res["p_loo"],
            "n_obs": res["n_obs"], "n_samples": res["n_samples"], "pareto_k_max": float(np.max(k)),
            "n_k_above_0_7": int((k > PARETO_K_GOOD).sum()), "n_k_above_1": int((k > 1).sum()),
            "warning": pareto_warning(k, float(res["good_k"])),
        })
        pointwise.append(pd.DataFrame({"variable": name, "obs": np.arange(len(k)), "elpd_i": res["elpd_i"],
                                       "pareto_k": k}))
    pointwise = pd.concat(pointwise, ignore_index=True) if pointwise else pd.DataFrame(
        columns=["variable", "obs", "elpd_i", "pareto_k"])
    return pd.DataFrame(rows, columns=LOO_COLUMNS), pointwise


def pareto_warning(k: np.ndarray, good_k: float = PARETO_K_GOOD) -> str:
    """'' or a sentence on how many observations have unreliable PSIS weights."""
    bad = int((k > good_k).sum())
    if not bad:
        return ""
    return (f"{bad} of {len(k)} observations have Pareto k > {good_k:.2f} (max {np.max(k):.2f}): "
            "PSIS-LOO is unreliable for them; consider K-fold CV or moment matching")


def elpd_from_pointwise(rows: pd.DataFrame, n_samples: int, p_loo: float = float("nan")):
    """An ELPDDataLOO rebuilt from stored pointwise elpd and Pareto k (enough for az.compare)."""
    from arviz_stats.utils import ELPDDataLOO

    elpd_i = rows["elpd_i"].to_numpy(float)
    n = len(elpd_i)
    dims = ["obs"]
    return ELPDDataLOO(
        elpd=float(elpd_i.sum()), se=float(np.sqrt(n * np.var(elpd_i))), p=float(p_loo), n_samples=int(n_samples),
        n_data_points=n, scale="log", warning=bool((rows["pareto_k"] > PARETO_K_GOOD).any()),
        good_k=PARETO_K_GOOD, elpd_i=xr.DataArray(elpd_i, dims=dims),
        pareto_k=xr.DataArray(rows["pareto_k"].to_numpy(float), dims=dims),
    )


def compare_runs(paths, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """{observed variable: az.compare table} over the runs that share it (see module docstring)."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise UsageError("compare needs at least two run folders")
    names = names or [_run_label(p, paths) for p in paths]
    loos, hashes = {}, {}
    for label, path in zip(names, paths):
        for f in ("loo.csv", "loo_pointwise.csv", "manifest.json"):
            if not (path / f).is_file():
                raise UsageError(f"{path} has no {f}: not a run folder written with LOO (refit it)")
        loos[label] = (pd.read_csv(path / "loo.csv"), pd.read_csv(path / "loo_pointwise.csv"))
        hashes[label] = json.loads((path / "manifest.json").read_text()).get("input", {}).get("sha256")
    if len({json.dumps(h, sort_keys=True) for h in hashes.values()}) > 1:
        raise UsageError("the runs were fitted to different data (input sha256 differ): LOO is not comparable")
    variables = sorted(set.intersection(*(set(s["variable"]) for s, _ in loos.values())))
    if not variables:
        raise UsageError("the runs share no observed variable to compare")
    out = {}
    for var in variables:
        elpds = {}
        for label, (summary, pointwise) in loos.items():
            n_samples = int(summary.loc[summary["variable"] == var, "n_samples"].iloc[0])
            if not (pointwise["variable"] == var).any():
                raise UsageError(f"run {label}: PSIS-LOO of {var!r} failed at fit time (see its loo.csv)")
            p_loo = float(summary.loc[summary["variable"] == var, "p_loo"].iloc[0])
            elpds[label] = elpd_from_pointwise(pointwise[pointwise["variable"] == var], n_samples, p_loo)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = az.compare(elpds)
        out[var] = pd.DataFrame(table)
    return out


def _run_label(path: Path, paths: list[Path]) -> str:
    labels = [p.name for p in paths]
    return path.name if labels.count(path.name) == 1 else str(path)


__all__ = ["check_tables", "write_checks", "loo_tables", "compare_runs", "predictive_draws", "PPC_DRAWS"]
