"""Small study: coverage of the session-level rating effects with and without the session term (issue 16).

    taskset -c 1 .venv/bin/python benchmarks/session_effect_coverage.py --out benchmarks/results/session_effects_v2
    .venv/bin/python benchmarks/session_effect_coverage.py --summarise-only --out benchmarks/results/session_effects_v2

Fixed before it was run: 40 datasets (REPS) of the `identified` scenario at scale 0.3, with the
simulator's own session effects on ratings (rating_session_sd = 0.3); on each, the ratings
model twice, 2 chains x (300 tune + 300 draws): as built (`with`: the session term, default
prior) and with the term switched off (`without`: rating_session_sd ~ HalfNormal(0.001)).
Per fit and estimand: truth, posterior mean and sd, 90% HDI, covered, and on which side of the
interval a missed truth lies. Resumable: one row per fit in --out/fits.csv; rerun to finish.
Results: --out/{fits.csv,summary.csv} (default benchmarks/results/session_effects, the run of
2026-11-29 on earlier code: a rerun on main needs a fresh --out).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from _study import RESULTS

import mats_eval
from mats_eval.cli_options import script
from mats_eval.simulation.scenarios import simulate
from mats_eval.studies.calibration import wilson_interval

SCENARIO, SCALE, REPS, FIRST_SEED = "identified", 0.3, 40, 1000
FIT = dict(model="ratings", draws=300, tune=300, chains=2, progress=False, checks=False, extend=False)  # fixed draws
VARIANTS = {"with": None, "without": {"rating_session_sd": {"dist": "HalfNormal", "sigma": 0.001}}}
ESTIMANDS = ("mandatory_minus_optional_rating", "volume_slope_rating")


def fit_rows(seed: int, variant: str) -> list[dict]:
    """One dataset, one variant: a row per estimand (truth, mean, sd, HDI, covered, side of a miss)."""
    data = simulate(SCENARIO, seed=seed, scale=SCALE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains may fail the gate: recorded as `reliable`
        result = mats_eval.fit(data.program_data(), seed=seed, priors=VARIANTS[variant], **FIT)
    effects = result.effects.set_index("estimand")
    rows = []
    for name in ESTIMANDS:
        e, truth = effects.loc[name], data.truth[name]
        side = "below" if truth < e["hdi_low"] else "above" if truth > e["hdi_high"] else ""
        rows.append({"seed": seed, "variant": variant, "estimand": name, "truth": truth, "mean": e["mean"],
                     "sd": e["sd"], "hdi_low": e["hdi_low"], "hdi_high": e["hdi_high"], "covered": side == "",
                     "miss_side": side, "reliable": bool(result.reliable)})
    return rows


def summary(fits: pd.DataFrame) -> pd.DataFrame:
    """Per variant and estimand: coverage (Wilson 95%), bias ± its Monte-Carlo se, mean posterior sd,
    and misses with the truth below / above the interval."""
    rows = []
    for (variant, name), g in fits.groupby(["variant", "estimand"], sort=True):
        error = g["mean"] - g["truth"]
        hits = int(g["covered"].sum())
        low, high = wilson_interval(hits, len(g))
        rows.append({"variant": variant, "estimand": name, "n": len(g), "coverage": hits / len(g),
                     "coverage_low": low, "coverage_high": high, "bias": error.mean(),
                     "bias_mcse": error.std(ddof=1) / np.sqrt(len(g)), "rmse": float(np.sqrt((error**2).mean())),
                     "mean_posterior_sd": g["sd"].mean(), "truth_below": int((g["miss_side"] == "below").sum()),
                     "truth_above": int((g["miss_side"] == "above").sum()), "reliable_share": g["reliable"].mean()})
    return pd.DataFrame(rows)


def main(
    summarise_only: Annotated[bool, typer.Option(
        "--summarise-only", help="Fit nothing: summarise the fits already in fits.csv.")] = False,
    out: Annotated[Path, typer.Option(help="Study folder (fits.csv and summary.csv).")] = RESULTS / "session_effects",
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "fits.csv"
    fits = pd.read_csv(path, keep_default_na=False) if path.is_file() else pd.DataFrame()
    done = set(zip(fits["seed"], fits["variant"])) if len(fits) else set()
    for seed in range(FIRST_SEED, FIRST_SEED + REPS):
        for variant in VARIANTS:
            if summarise_only or (seed, variant) in done:
                continue
            rows = pd.DataFrame(fit_rows(seed, variant))
            rows.to_csv(path, mode="a", header=not path.is_file(), index=False)
            print(f"{seed} {variant}: " + ", ".join(f"{r.estimand} {r.mean:.3f} ({r.truth:.3f})"
                                                     for r in rows.itertuples()), flush=True)
    fits = pd.read_csv(path, keep_default_na=False)
    fits["covered"] = fits["covered"].astype(str).eq("True")
    fits["reliable"] = fits["reliable"].astype(str).eq("True")
    table = summary(fits)
    table.to_csv(out / "summary.csv", index=False)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))


if __name__ == "__main__":
    script(main, __doc__)
