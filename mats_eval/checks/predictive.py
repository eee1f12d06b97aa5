"""Prior and posterior predictive checks, PSIS-LOO, and comparing runs by LOO.

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
observations floats), and returns `loo.csv` (one row per observed variable:
elpd_loo, se, p_loo, n, max Pareto k, counts of k > 0.7 and > 1, warning) and
`loo_pointwise.csv` (variable, obs, elpd_i, pareto_k). `compare_runs(paths)`
rebuilds `ELPDDataLOO` objects from the stored pointwise values and runs
`az.compare` per observed variable the runs share. Models are comparable by
LOO only on the same observations: runs on different data are refused, and
each observed variable (attended, rating, retro) is compared separately.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import arviz as az
import arviz_stats as azs
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from mats_eval.errors import UsageError

PPC_DRAWS = 200
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


def predictive_draws(model: pm.Model, idata=None, draws: int = PPC_DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """{observed variable: (draws, n_obs) simulated data}; prior predictive when idata is None."""
    names = [rv.name for rv in model.observed_RVs]
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if idata is None:
            out = pm.sample_prior_predictive(draws=draws, var_names=names, random_seed=seed)
            group = out["prior_predictive"]
        else:
            out = pm.sample_posterior_predictive(thin(idata, draws), var_names=names, random_seed=seed,
                                                 progressbar=False)
            group = out["posterior_predictive"]
    result = {}
    for name in names:
        values = np.asarray(group[name].transpose("chain", "draw", ...).values)
        result[name] = values.reshape((-1,) + values.shape[2:])
    return result


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


# --- LOO ------------------------------------------------------------------------------


def log_likelihood(model: pm.Model, idata):
    """DataTree with the posterior and the pointwise log-likelihood of every observed variable."""
    post = xr.DataTree.from_dict({"posterior": idata["posterior"].to_dataset()})
    # pm.compute_log_likelihood refuses models with custom initial values (the ordered
    # cutpoints have one); they play no part in the log-likelihood, so drop them meanwhile
    saved = dict(model.rvs_to_initial_values)
    try:
        model.rvs_to_initial_values = dict.fromkeys(saved)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ll = pm.compute_log_likelihood(post, model=model, extend_inferencedata=False, progressbar=False)
    finally:
        model.rvs_to_initial_values = saved
    group = ll["log_likelihood"].to_dataset() if isinstance(ll, xr.DataTree) else ll
    return xr.DataTree.from_dict({"posterior": post["posterior"].to_dataset(),
                                  "log_likelihood": group})


def loo_tables(model: pm.Model, idata) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loo.csv, loo_pointwise.csv) over every observed variable (see module docstring)."""
    tree = log_likelihood(model, idata)
    rows, pointwise = [], []
    for name in tree["log_likelihood"].data_vars:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = az.loo(tree, var_name=name, pointwise=True)
        except ValueError as exc:  # e.g. too few draws for Pareto smoothing
            n_obs = int(np.prod([n for d, n in tree["log_likelihood"][name].sizes.items()
                                 if d not in ("chain", "draw")]))
            rows.append({"variable": name, "elpd_loo": np.nan, "se": np.nan, "p_loo": np.nan, "n_obs": n_obs,
                         "n_samples": 0, "pareto_k_max": np.nan, "n_k_above_0_7": 0, "n_k_above_1": 0,
                         "warning": f"PSIS-LOO failed: {exc}"})
            continue
        k = np.asarray(res.pareto_k.values).ravel()
        elpd_i = np.asarray(res.elpd_i.values).ravel()
        rows.append({
            "variable": name, "elpd_loo": float(res.elpd), "se": float(res.se), "p_loo": float(res.p),
            "n_obs": int(res.n_data_points), "n_samples": int(res.n_samples), "pareto_k_max": float(np.max(k)),
            "n_k_above_0_7": int((k > PARETO_K_GOOD).sum()), "n_k_above_1": int((k > 1).sum()),
            "warning": pareto_warning(k, float(res.good_k or PARETO_K_GOOD)),
        })
        pointwise.append(pd.DataFrame({"variable": name, "obs": np.arange(len(k)), "elpd_i": elpd_i,
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
