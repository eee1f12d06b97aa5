"""The Markdown table RESULTS.md shows for a coverage folder: the gate's pass share, then per estimand
its unit, coverage (Wilson 95%), bias of the posterior mean with its MCSE, the side of the misses and
how often the interval excludes 0. Biases beyond 2 MCSE are bold.

    .venv/bin/python benchmarks/coverage_table.py benchmarks/results/coverage_full/mats-history
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mats_eval.cli_options import script

SKEWED = ("optimal_sessions_per_week", "attendance_half_life_weeks")  # also shown with their ETI coverage


def signed(x: float) -> str:
    return f"{x:+.3g}".replace("-", "−")


def gate_line(row) -> str:
    return (f"{row.scenario}: {row.passed} of {row.fits} fits pass the gate (Wilson 95% {row.passed_low:.2f}–"
            f"{row.passed_high:.2f}); failures by check: R-hat {row.failed_rhat}, bulk ESS {row.failed_bulk_ess}, "
            f"tail ESS {row.failed_tail_ess}, divergences {row.failed_divergences}, BFMI {row.failed_bfmi}")


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


def main(folder: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                                help="A coverage folder (coverage.csv, gate.csv).")]) -> None:
    for _, row in pd.read_csv(folder / "gate.csv").iterrows():
        print(gate_line(row) + "\n")
    print("| estimand | unit | datasets | coverage of the 90% interval (Wilson 95%) | bias of the posterior mean "
          "(MCSE; in MCSE) | misses: estimate too high / too low | interval excludes 0 |")
    print("|---|---|---|---|---|---|---|")
    for _, row in pd.read_csv(folder / "coverage.csv").iterrows():
        print(estimand_row(row))


if __name__ == "__main__":
    script(main, __doc__)
