"""Run folders (DATA_CONTRACT.md §4): FitResult, writing it atomically, reading it back.

A run folder holds manifest.json, posterior.nc, summary.csv, effects.csv and
diagnostics.json. It is written through io.atomic_folder, so it appears whole
or not at all. summary.csv has one row per element of every population-level
parameter (fixed effects, group sds, kind/cohort/scale vectors, cutpoints); the
raw `_z` vectors and per-scholar/session/speaker effects stay in posterior.nc
only (they are many, and per-person summaries do not belong in a table).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mats_eval.constants import INTERVAL_PROB
from mats_eval.errors import UsageError

SUMMARY_COLUMNS = ["parameter", "mean", "sd", "hdi_low", "hdi_high", "ess_bulk", "ess_tail", "r_hat"]
RUN_FILES = ("manifest.json", "posterior.nc", "summary.csv", "effects.csv", "diagnostics.json")
# Written when the fit computed them (fit(..., checks=True), the default):
# crosscheck.csv (statsmodels cross-checks), loo.csv and loo_pointwise.csv (PSIS-LOO),
# volume_curve.csv (models with attendance and ratings), prior_sensitivity.csv (when the
# policy effect is not identified within cohorts) and checks/ (predictive checks).
OPTIONAL_TABLES = ("crosscheck", "loo", "loo_pointwise", "volume_curve", "prior_sensitivity")
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
    crosscheck: pd.DataFrame | None = None
    loo: pd.DataFrame | None = None
    loo_pointwise: pd.DataFrame | None = None
    volume_curve: pd.DataFrame | None = None
    prior_sensitivity: pd.DataFrame | None = None
    checks: dict | None = None  # {table name: DataFrame} of predictive checks (ppc.check_tables)
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


def summary_table(idata) -> pd.DataFrame:
    """summary.csv: parameter, mean, sd, hdi_low, hdi_high (90% HDI), ess_bulk, ess_tail, r_hat."""
    table = az.summary(idata, var_names=summary_variables(idata), ci_prob=INTERVAL_PROB, ci_kind="hdi", kind="all",
                       round_to="none")
    table = pd.DataFrame(table).rename(columns={"hdi90_lb": "hdi_low", "hdi90_ub": "hdi_high"})
    table = table.rename_axis("parameter").reset_index()
    return table[SUMMARY_COLUMNS]


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
        write_posterior(result.idata, tmp / "posterior.nc")
        result.summary.to_csv(tmp / "summary.csv", index=False)
        result.effects.to_csv(tmp / "effects.csv", index=False)
        (tmp / "diagnostics.json").write_text(json.dumps(_jsonable(result.diagnostics), indent=2, sort_keys=True))
        (tmp / "manifest.json").write_text(json.dumps(_jsonable(result.manifest), indent=2, sort_keys=True))
        for name in OPTIONAL_TABLES:
            table = getattr(result, name)
            if table is not None:
                table.to_csv(tmp / f"{name}.csv", index=False)
        if result.checks:
            from mats_eval.checks.predictive import write_checks

            write_checks(result.checks, tmp / "checks")
    result.path = out
    return out


def load_run(path: Path | str) -> FitResult:
    """Read a run folder back into a FitResult (posterior loaded into memory, file closed)."""
    path = Path(path)
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise UsageError(f"{path} is not a complete run folder (missing {', '.join(missing)})")
    idata = read_posterior(path / "posterior.nc")
    optional = {name: pd.read_csv(path / f"{name}.csv")
                for name in OPTIONAL_TABLES if (path / f"{name}.csv").is_file()}
    if (path / "checks").is_dir():
        optional["checks"] = {f.stem: pd.read_csv(f) for f in sorted((path / "checks").glob("*.csv"))}
    return FitResult(
        idata=idata,
        effects=_read_effects(path / "effects.csv"),
        summary=pd.read_csv(path / "summary.csv"),
        diagnostics=json.loads((path / "diagnostics.json").read_text()),
        manifest=json.loads((path / "manifest.json").read_text()),
        path=path,
        **optional,
    )


def _read_effects(path: Path) -> pd.DataFrame:
    """effects.csv with its `note` column as text ('' for no note)."""
    table = pd.read_csv(path)
    if "note" in table:
        table["note"] = table["note"].fillna("").astype(str)
    return table


def write_posterior(idata, path: Path) -> None:
    """DataTree -> netCDF4, one group per DataTree child."""
    _netcdf_safe(idata).to_netcdf(path)


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
