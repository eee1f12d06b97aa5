"""Run folders (README.md "What goes in, what comes out"): FitResult, writing it atomically, reading it back.

A run folder is the single source of truth of a fit: everything the report and
the decisions show is computed once, when the run is made, and stored here;
they never reload the dataset or re-derive parameters from posterior.nc.

Required (RUN_FILES, the contract): manifest.json, posterior.nc, summary.csv,
effects.csv, diagnostics.json.
Written by every fit (REFERENCE_FILE, PRIORS_FILE):
- reference.json: where the estimands are evaluated (Reference.to_dict());
- priors.json: every prior the model was built with, {name: {dist, params, set_by}}
  (set_by "user" for a --priors override; models/priors.py priors_record).
Written when the fit could compute them (OPTIONAL_TABLES, `<name>.csv`):
- volume_curve.csv: U(V) over the volume grid, from the very draws and grid
  whose per-draw argmax is the optimal_sessions_per_week row of effects.csv
  (models with attendance and ratings);
- attendance_curve.csv: expected optional attendance per week of a new cohort
  at the reference kind and volume (models with attendance);
- crosscheck.csv, loo.csv, loo_pointwise.csv (fit(..., checks=True));
- prior_sensitivity.csv (policy effect not identified within cohorts);
- sensitivity.csv: power-scaling prior and likelihood sensitivity per estimand, with a
  plain-words diagnosis (checks/sensitivity.py; fit(..., checks=True));
- plans.csv, plans_by_week.csv, plan_sensitivity.csv (pipeline.run with a plans file:
  decisions.write_plans) and recommendation.json (RECOMMENDATION_FILE: best plan, tie status,
  the recommendation's sentences, the utility settings; decisions/recommend.py).
And:
- decision_draws.nc: the canonical parameters the plans' kernel reads
  (inference/fitting.py read_by_plans), draws per session kind (one netCDF group
  per kind; the draws every kind shares in the root group, once), thinned to the
  kernels.CURVE_DRAWS draws the volume optimum and volume_curve.csv use; plans
  are evaluated from them (models with attendance and ratings);
- observed/: aggregated data tables for the report's figures (data/observed.py:
  no ids, groups under MIN_SCHOLARS scholars suppressed);
- checks/: predictive check tables and figures.

posterior.nc holds every free variable and the population-level Deterministics at
STORED_DRAWS draws (every k-th of each chain); per-unit Deterministics (per-scholar,
-session, -speaker effects on their own scale) are left out (recomputable:
write_posterior), and per-unit draws keep UNIT_SIGNIFICANT_BITS significant bits.

The folder is written through io.atomic_folder, so it appears whole or not at
all. summary.csv has one row per element of every population-level parameter
(fixed effects, group sds, kind/cohort/scale vectors, cutpoints); the raw `_z`
vectors and per-scholar/session/speaker effects stay in posterior.nc only
(they are many, and per-person summaries do not belong in a table).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from mats_eval.data.reference import Reference
from mats_eval.errors import UsageError

SUMMARY_COLUMNS = ["parameter", "mean", "sd", "hdi_low", "hdi_high", "ess_bulk", "ess_tail", "r_hat"]
RUN_FILES = ("manifest.json", "posterior.nc", "summary.csv", "effects.csv", "diagnostics.json")
REFERENCE_FILE = "reference.json"
PRIORS_FILE = "priors.json"
OPTIONAL_TABLES = ("crosscheck", "loo", "loo_pointwise", "volume_curve", "attendance_curve", "prior_sensitivity",
                   "sensitivity", "plans", "plans_by_week", "plan_sensitivity")
RECOMMENDATION_FILE = "recommendation.json"
DECISION_DRAWS_FILE = "decision_draws.nc"
OBSERVED_DIR = "observed"
CHECKS_DIR = "checks"
_PER_UNIT_DIMS = {"scholar", "session", "speaker", "attendance_obs", "rating_obs", "retro_obs"}


@dataclass
class FitResult:
    """A fitted model: posterior (DataTree), effects and summary tables, diagnostics and manifest."""

    idata: object
    effects: pd.DataFrame
    summary: pd.DataFrame
    diagnostics: dict
    manifest: dict = field(default_factory=dict)
    path: Path | None = None
    model: object = None  # the pm.Model when fitted in this session (not stored)
    compiled: object = None  # nutpie's compiled density of `model` (this session only; refits reuse it)
    crosscheck: pd.DataFrame | None = None
    loo: pd.DataFrame | None = None
    loo_pointwise: pd.DataFrame | None = None
    volume_curve: pd.DataFrame | None = None
    attendance_curve: pd.DataFrame | None = None
    prior_sensitivity: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None  # sensitivity.csv (checks/sensitivity.py)
    priors: dict | None = None  # priors.json: {name: {dist, params, set_by}}
    plans: pd.DataFrame | None = None
    plans_by_week: pd.DataFrame | None = None
    plan_sensitivity: pd.DataFrame | None = None
    checks: dict | None = None  # {table name: DataFrame} of predictive checks (ppc.check_tables)
    reference: Reference | None = None
    # {kind: {canonical name: draws}}: what decisions.plans evaluates plans from
    decision_draws: dict | None = None
    observed: dict | None = None  # {table name: DataFrame} of observed/ (data.observed.observed_tables)
    # {estimand: draws} behind `effects` (effects.estimand_draws), for other summaries
    # of the same draws (an equal-tailed interval); from a fit in this session only, not stored
    estimand_draws: dict | None = None

    @property
    def reliable(self) -> bool:
        return bool(self.diagnostics.get("passed", False))

    def _repr_html_(self) -> str:
        verdict = "passed" if self.reliable else "FAILED: " + "; ".join(self.diagnostics.get("failures", []))
        name = self.manifest.get("model", {}).get("name", "?")
        return (
            f"<h4>mats_eval fit: {name}</h4><p>Diagnostics gate {verdict}</p>"
            + self.effects.to_html(index=False, float_format=lambda x: f"{x:.3g}")
            + "<details><summary>parameters</summary>"
            + self.summary.to_html(index=False, float_format=lambda x: f"{x:.3g}")
            + "</details>"
        )

    def __repr__(self) -> str:
        verdict = "passed" if self.reliable else "FAILED"
        return f"FitResult(model={self.manifest.get('model', {}).get('name')!r}, gate={verdict}, path={self.path})"


def summary_variables(idata) -> list[str]:
    """Posterior variables that get summary.csv rows (population-level ones, see module docstring)."""
    post = idata["posterior"]
    return [
        name for name, da in post.data_vars.items()
        if not name.endswith("_z") and not (_PER_UNIT_DIMS & set(da.dims))
    ]


def _netcdf_safe(idata):
    """Copy of the DataTree without object-dtype variables (e.g. nutpie's divergence messages),
    which netCDF cannot store."""
    tree = idata.copy()
    for node in tree.subtree:
        drop = [name for name, da in node.dataset.data_vars.items() if da.dtype == object]
        if drop:
            node.dataset = node.dataset.drop_vars(drop)
    return tree


def write_run(result: FitResult, out: Path | str, force: bool = False) -> Path:
    """Write the run folder `out` atomically (io.atomic_folder); returns its path."""
    from mats_eval.data.io import atomic_folder

    out = Path(out)
    with atomic_folder(out, force=force) as tmp:
        write_posterior(result.idata, tmp / "posterior.nc", result.model)
        result.summary.to_csv(tmp / "summary.csv", index=False)
        result.effects.to_csv(tmp / "effects.csv", index=False)
        (tmp / "diagnostics.json").write_text(json.dumps(_jsonable(result.diagnostics), indent=2, sort_keys=True))
        (tmp / "manifest.json").write_text(json.dumps(_jsonable(result.manifest), indent=2, sort_keys=True))
        if result.reference is not None:
            (tmp / REFERENCE_FILE).write_text(json.dumps(result.reference.to_dict(), indent=2))
        if result.priors is not None:
            (tmp / PRIORS_FILE).write_text(json.dumps(_jsonable(result.priors), indent=2))
        for name in OPTIONAL_TABLES:
            table = getattr(result, name)
            if table is not None:
                table.to_csv(tmp / f"{name}.csv", index=False)
        if result.decision_draws:
            write_decision_draws(result.decision_draws, tmp / DECISION_DRAWS_FILE)
        if result.observed:
            (tmp / OBSERVED_DIR).mkdir()
            for name, table in result.observed.items():
                table.to_csv(tmp / OBSERVED_DIR / f"{name}.csv", index=False)
        if result.checks:
            from mats_eval.checks.predictive import write_checks

            write_checks(result.checks, tmp / CHECKS_DIR)
    result.path = out
    return out


def load_run(path: Path | str, posterior: bool = True) -> FitResult:
    """Read a run folder back into a FitResult (files loaded into memory and closed).

    posterior=False leaves posterior.nc unopened (and not required): FitResult.idata
    is None. The report and the decisions read a run this way.
    """
    path = Path(path)
    required = [f for f in RUN_FILES if posterior or f != "posterior.nc"]
    missing = [f for f in required if not (path / f).is_file()]
    if missing:
        raise UsageError(f"{path} is not a complete run folder (missing {', '.join(missing)})")
    optional = {name: pd.read_csv(path / f"{name}.csv")
                for name in OPTIONAL_TABLES if (path / f"{name}.csv").is_file()}
    if (path / CHECKS_DIR).is_dir():
        optional["checks"] = {f.stem: pd.read_csv(f) for f in sorted((path / CHECKS_DIR).glob("*.csv"))}
    if (path / OBSERVED_DIR).is_dir():
        optional["observed"] = {f.stem: pd.read_csv(f, keep_default_na=False, na_values=[""])
                                for f in sorted((path / OBSERVED_DIR).glob("*.csv"))}
    if (path / REFERENCE_FILE).is_file():
        optional["reference"] = read_reference(path / REFERENCE_FILE)
    if (path / PRIORS_FILE).is_file():
        optional["priors"] = json.loads((path / PRIORS_FILE).read_text())
    if (path / DECISION_DRAWS_FILE).is_file():
        optional["decision_draws"] = read_decision_draws(path / DECISION_DRAWS_FILE)
    return FitResult(
        idata=read_posterior(path / "posterior.nc") if posterior else None,
        effects=_read_effects(path / "effects.csv"),
        summary=pd.read_csv(path / "summary.csv"),
        diagnostics=json.loads((path / "diagnostics.json").read_text()),
        manifest=json.loads((path / "manifest.json").read_text()),
        path=path,
        **optional,
    )


def read_reference(path: Path) -> Reference:
    """reference.json back into a Reference (JSON lists back into tuples)."""
    raw = json.loads(Path(path).read_text())
    return Reference(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def write_decision_draws(draws_by_kind: dict, path: Path) -> None:
    """{kind: {name: array (draws, ...)}} -> netCDF, one group per kind, dims draw and <name>_dim_i.

    A parameter with the same draws at every kind (all but the kind effects) is stored once, in the
    root group, and read back into every kind; float64 on purpose: plans re-evaluated from it match
    plans.csv.
    """
    kinds = list(draws_by_kind)
    as_arrays = {kind: {name: np.asarray(v, dtype=float) for name, v in p.items()} for kind, p in draws_by_kind.items()}
    first = as_arrays[kinds[0]] if kinds else {}
    shared = [name for name, values in first.items()
              if all(name in as_arrays[k] and np.array_equal(as_arrays[k][name], values) for k in kinds[1:])]
    groups = {"/": _draws_dataset({name: first[name] for name in shared})}
    for kind, p in as_arrays.items():
        groups[kind] = _draws_dataset({name: v for name, v in p.items() if name not in shared})
    encoding = {("/" if node == "/" else f"/{node}"): {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
                for node, ds in groups.items()}
    xr.DataTree.from_dict(groups).to_netcdf(path, encoding=encoding)


def _draws_dataset(p: dict) -> xr.Dataset:
    """{name: (draws, ...)} as a Dataset with dims draw and <name>_dim_i."""
    return xr.Dataset({name: (("draw",) + tuple(f"{name}_dim_{i}" for i in range(v.ndim - 1)), v)
                       for name, v in p.items()})


def read_decision_draws(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """decision_draws.nc back into {kind: {canonical name: draws}} (the root group's shared draws in every kind)."""
    with xr.open_datatree(path) as tree:
        shared = {name: np.asarray(da.values) for name, da in tree.dataset.data_vars.items()}
        return {node.name: {**shared, **{name: np.asarray(da.values) for name, da in node.dataset.data_vars.items()}}
                for node in tree.children.values()}


def _read_effects(path: Path) -> pd.DataFrame:
    """effects.csv with its `note` column as text ('' for no note)."""
    table = pd.read_csv(path)
    if "note" in table:
        table["note"] = table["note"].fillna("").astype(str)
    return table


# posterior.nc keeps at most STORED_DRAWS draws, every k-th of each chain: nothing downstream reads the
# posterior's draws (summary.csv, diagnostics.json, effects and curves are computed from all of them before
# writing), and 2000 draws (the draws volume_curve.csv and decision_draws.nc use) describe it to well
# under its Monte Carlo error. Per-unit draws (one per scholar, session or speaker: most of the file)
# keep UNIT_SIGNIFICANT_BITS significant bits (netCDF BitRound, then zlib): relative error < 1.3e-4.
STORED_DRAWS = 2000
UNIT_SIGNIFICANT_BITS = 13


def write_posterior(idata, path: Path, model=None) -> None:
    """DataTree -> netCDF4, one group per DataTree child, every group zlib-compressed: at most STORED_DRAWS
    draws (every k-th of each chain), posterior draws as float32, the per-unit ones to UNIT_SIGNIFICANT_BITS
    significant bits; with the pm.Model `model`, its per-unit Deterministics (per-scholar, -session, -speaker
    effects) are left out. The posterior's attrs say what was done.

    Why: float64 draws of every scholar and session effect made the example's posterior.nc ~60 MB, float32
    ~30 MB, this ~5 MB. Every summary in the run folder is computed from the in-memory float64 draws of
    every draw before writing. The left-out Deterministics are functions of the free variables, which are all
    kept: `pm.compute_deterministics(posterior, model=model)` gives them back.
    """
    tree = _netcdf_safe(idata)
    posterior = tree["posterior"].to_dataset(inherit=False)
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    step = max(1, int(np.ceil(chains * draws / STORED_DRAWS)))
    for node in tree.subtree:  # posterior and sample_stats alike, so they stay aligned
        if "draw" in node.dataset.dims and node.dataset.sizes["draw"] == draws:
            node.dataset = node.to_dataset(inherit=False).isel(draw=slice(None, None, step))
    posterior = tree["posterior"].to_dataset(inherit=False)
    dropped = recomputable_unit_variables(posterior, model)
    posterior = posterior.drop_vars(dropped)
    posterior.attrs.update(deterministics_left_out=", ".join(dropped), per_unit_significant_bits=UNIT_SIGNIFICANT_BITS,
                           stored_draws=f"every {step} draw(s) of each chain of {chains} x {draws}; summary.csv and "
                                        "diagnostics.json are from all of them")
    tree["posterior"] = xr.DataTree(posterior.map(
        lambda da: da.astype(np.float32) if da.dtype == np.float64 else da, keep_attrs=True), name="posterior")
    encoding = {node.path: {name: {"zlib": True, "complevel": 4} for name in node.dataset.data_vars}
                for node in tree.subtree}
    for name, da in posterior.data_vars.items():
        if _PER_UNIT_DIMS & set(da.dims) and np.issubdtype(da.dtype, np.floating):
            encoding["/posterior"][name].update(significant_digits=UNIT_SIGNIFICANT_BITS, quantize_mode="BitRound")
    tree.to_netcdf(path, encoding=encoding)


def recomputable_unit_variables(posterior, model) -> list[str]:
    """The model's Deterministics with a per-unit dim (none without the model)."""
    if model is None:
        return []
    names = {d.name for d in getattr(model, "deterministics", [])}
    return [name for name, da in posterior.data_vars.items() if name in names and _PER_UNIT_DIMS & set(da.dims)]


def read_posterior(path: Path):
    """The DataTree of posterior.nc, loaded into memory (the file is closed)."""
    with xr.open_datatree(path) as tree:
        return tree.load()


def _jsonable(obj):
    """Numpy scalars/arrays and Paths into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
