"""The Markdown table RESULTS.md shows for a coverage folder: the gate's pass share, then per estimand
its unit, coverage (Wilson 95%), bias of the posterior mean with its MCSE, the side of the misses and
how often the interval excludes 0. Biases beyond 2 MCSE are bold. Then, per estimand, how widely the
errors spread in units of the interval they were given: the sd over datasets of (mean − truth) / (HDI
width / 3.29), 3.29 being a normal 90% interval's width in sds. Near 1 the intervals are as wide as the
errors; above 1 they are too narrow, below 1 too wide. That reading assumes a roughly normal posterior,
so the skewed estimands (the half-life, whose posterior has a long right tail, and the volume optimum,
which lives on the grid of volumes searched and whose HDI is often one grid point wide) are marked,
and their coverage is the reading to trust.

    .venv/bin/python benchmarks/coverage_table.py benchmarks/results/coverage_full/mats-history

Given several folders it prints one table instead (CALIBRATION.md's), an estimand per row and a
scenario per column, each cell "coverage · bias in MCSE · misses high/low"; a coverage outside
85–95% or a bias beyond 2 MCSE is bold. The first rows give each scenario's datasets and gate.

    .venv/bin/python benchmarks/coverage_table.py benchmarks/results/coverage_full/{mats-history,identified,null,selection,confounded}
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from mats_eval.cli_options import script
from mats_eval.studies.calibration import read_study_table

SKEWED = ("optimal_sessions_per_week", "attendance_half_life_weeks")  # also shown with their ETI coverage
NORMAL_90_WIDTH = 3.29  # a normal distribution's central 90% interval spans 2 × 1.645 sds


def signed(x: float) -> str:
    return f"{x:+.3g}".replace("-", "−")


def gate_line(row) -> str:
    return (f"{row.scenario}: {row.passed} of {row.fits} fits pass the gate (Wilson 95% {row.passed_low:.2f}–"
            f"{row.passed_high:.2f}); failures by check: R-hat {row.failed_rhat}, bulk ESS {row.failed_bulk_ess}, "
            f"tail ESS {row.failed_tail_ess}, divergences {row.failed_divergences}, BFMI {row.failed_bfmi}"
            + (f"; {row.extended} sampled again with twice the draws after a narrow miss"
               if getattr(row, "extended", 0) else ""))


def estimand_row(row) -> str:
    from mats_eval.estimands.registry import ESTIMANDS

    unit = getattr(ESTIMANDS.get(row.estimand), "scale", "")
    coverage = f"{row.coverage:.2f} ({row.coverage_low:.2f}–{row.coverage_high:.2f})"
    if row.estimand in SKEWED:
        coverage += f" [ETI {row.coverage_eti:.2f}]"
    bias = f"{signed(row.bias)} ({row.bias_mcse:.2g}; {signed(row.bias_in_mcse)})"
    if abs(row.bias_in_mcse) > 2:
        bias = f"**{bias}**"
    return (f"| {row.estimand} | {unit} | {row.n} | {coverage} | {bias} | {row.misses_estimate_high} / "
            f"{row.misses_estimate_low} | {row.excludes_zero:.2f} |")


def error_spread(long: pd.DataFrame) -> pd.DataFrame:
    """Per estimand: datasets, and the sd of the errors in posterior sds (HDI width / 3.29), with a 95%
    interval from the χ² distribution of a normal sample's variance."""
    from scipy import stats

    sd = (long["hdi_high"] - long["hdi_low"]) / NORMAL_90_WIDTH
    z = ((long["mean"] - long["truth"]) / sd.where(sd > 0)).rename("z")
    rows = []
    for name, values in z.groupby(long["estimand"]):
        values = values.dropna()
        n = len(values)
        spread = float(values.std(ddof=1)) if n > 1 else float("nan")
        low, high = (np.sqrt((n - 1) * spread**2 / stats.chi2.ppf(q, n - 1)) for q in (0.975, 0.025))
        rows.append({"estimand": name, "n": n, "error_sd_in_posterior_sds": spread, "low": low, "high": high})
    return pd.DataFrame(rows)


def matrix_cell(row) -> str:
    """'0.90 · +0.4 · 3/6': coverage, bias in MCSE, misses too high / too low; bold outside the goal."""
    coverage = f"{row.coverage:.2f}"
    if not 0.85 <= row.coverage <= 0.95:
        coverage = f"**{coverage}**"
    bias = signed(round(row.bias_in_mcse, 1))
    if abs(row.bias_in_mcse) > 2:
        bias = f"**{bias}**"
    return f"{coverage} · {bias} · {row.misses_estimate_high}/{row.misses_estimate_low}"


def matrix(folders: list[Path]) -> str:
    """One Markdown table over several coverage folders: an estimand per row, a scenario per column."""
    gates = {f: read_study_table(f / "gate.csv").iloc[0] for f in folders}
    tables = {f: read_study_table(f / "coverage.csv").set_index("estimand") for f in folders}
    names = [str(gates[f].scenario) for f in folders]
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(folders) + 1) + "|",
             "| datasets | " + " | ".join(str(gates[f].fits) for f in folders) + " |",
             "| passing the gate | " + " | ".join(f"{gates[f].passed_share:.2f}" for f in folders) + " |"]
    estimands = sorted(set().union(*(t.index for t in tables.values())))
    for name in estimands:
        cells = [matrix_cell(tables[f].loc[name].rename(name)) if name in tables[f].index else "–" for f in folders]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(folders: Annotated[list[Path], typer.Argument(exists=True, file_okay=False,
                                                       help="Coverage folders (coverage.csv, gate.csv).")]) -> None:
    if len(folders) > 1:
        print(matrix(folders))
        return
    folder = folders[0]
    for _, row in read_study_table(folder / "gate.csv").iterrows():
        print(gate_line(row) + "\n")
    print("| estimand | unit | datasets | coverage of the 90% interval (Wilson 95%) | bias of the posterior mean "
          "(MCSE; in MCSE) | misses: estimate too high / too low | interval excludes 0 |")
    print("|---|---|---|---|---|---|---|")
    for _, row in read_study_table(folder / "coverage.csv").iterrows():
        print(estimand_row(row))
    print("\n| estimand | datasets | spread of the errors in posterior sds (95%) |\n|---|---|---|")
    for row in error_spread(read_study_table(folder / "coverage_long.csv")).itertuples():
        mark = " (skewed: not a calibration reading)" if row.estimand in SKEWED else ""
        print(f"| {row.estimand} | {row.n} | {row.error_sd_in_posterior_sds:.2f} ({row.low:.2f}–{row.high:.2f})"
              f"{mark} |")


if __name__ == "__main__":
    script(main, __doc__)
