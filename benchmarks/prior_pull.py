"""How far a coefficient's prior pulls the estimands built on it (RESULTS.md, identified, session 19).

A normal prior N(0, τ) on a coefficient whose likelihood is roughly normal around the truth β gives a
posterior mean of β·(1 − s²/τ²), s the posterior sd: a bias of −β·s²/τ² towards 0. This script moves
the coefficient by that much in each dataset's true parameters, recomputes the true estimands with the
simulator's own function (`true_estimands`), and prints the mean change beside the bias the coverage
study measured. Nothing is fitted; the datasets are redrawn from their seeds. The default reads the
attendance policy effect: truth 2.3 logits, prior N(0, 1.5) (models/priors.py), posterior sd 0.24 on
data/example (`reports/example/run/summary.csv`).

    .venv/bin/python benchmarks/prior_pull.py benchmarks/results/coverage_full/identified
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mats_eval.cli_options import script
from mats_eval.studies.calibration import read_study_table
from mats_eval.models.priors import ATTENDANCE_PRIORS, RATING_PRIORS
from mats_eval.simulation.scenarios import simulate, true_estimands

PRIORS = {**ATTENDANCE_PRIORS, **RATING_PRIORS}


def pulled_truth_change(dataset, coefficient: str, prior_sd: float, posterior_sd: float) -> dict[str, float]:
    """estimand → its true value with `coefficient` shrunk by s²/τ² towards 0, minus its true value."""
    p = dict(dataset.parameters)
    p[coefficient] = p[coefficient] * (1 - posterior_sd**2 / prior_sd**2)
    moved = true_estimands(p, dataset.reference)
    return {k: moved[k] - v for k, v in dataset.truth.items()}


def main(folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A coverage folder.")],
         coefficient: Annotated[str, typer.Option(help="The coefficient whose prior pulls.")] = "attendance_mandatory",
         posterior_sds: Annotated[str, typer.Option(help="Posterior sds of the coefficient to try, comma-separated.")]
         = "0.2,0.24,0.3",
         datasets: Annotated[int, typer.Option(min=1, help="How many of the folder's datasets to redraw.")] = 10,
         estimands: Annotated[str, typer.Option(help="The estimands to show, comma-separated.")]
         = "mandatory_minus_optional_attendance,mandatory_minus_optional_attendance_averaged,attendance_first_week",
         ) -> None:
    if coefficient not in PRIORS or PRIORS[coefficient][0] != "Normal" or PRIORS[coefficient][1]["mu"] != 0:
        raise typer.BadParameter(f"{coefficient!r} has no N(0, τ) default prior; choose one of "
                                 f"{', '.join(k for k, (d, a) in PRIORS.items() if d == 'Normal' and a.get('mu') == 0)}")
    prior_sd = float(PRIORS[coefficient][1]["sigma"])
    names = estimands.split(",")
    long = read_study_table(folder / "coverage_long.csv")
    keys = long.drop_duplicates("key").sort_values("key").head(datasets)
    sds = [float(s) for s in posterior_sds.split(",")]
    changes = {s: [] for s in sds}
    for row in keys.itertuples():
        dataset = simulate(row.scenario, seed=int(row.seed), scale=1.0)
        for s in sds:
            changes[s].append(pulled_truth_change(dataset, coefficient, prior_sd, s))
    print(f"{coefficient}: prior N(0, {prior_sd}); mean change of the true estimands over {len(keys)} datasets "
          f"when the coefficient is pulled in by s²/τ²:")
    table = pd.DataFrame({f"s = {s}": pd.DataFrame(changes[s])[names].mean() for s in sds})
    coverage = read_study_table(folder / "coverage.csv").set_index("estimand")
    table["bias measured (MCSE)"] = [f"{coverage.loc[n, 'bias']:+.3g} ({coverage.loc[n, 'bias_mcse']:.2g})"
                                     if n in coverage.index else "" for n in names]
    print(table.to_string(float_format=lambda v: f"{v:+.4g}"))


if __name__ == "__main__":
    script(main, __doc__)
