"""What goes with an estimand's errors in a coverage folder? (RESULTS.md, identified, session 18)

For each dataset of a coverage folder, the estimand's error (posterior mean − truth) beside what the
simulator drew for that dataset and the model had to estimate: each cohort's rating effect (centred on
the cohorts' mean), the realised mandatory − optional difference of session and speaker effects among
the reference kind's sessions (within cohorts that ran both), and the realised correlation of the
scholars' attendance and rating traits. Then the correlation of each with the error. Nothing is
refitted: the datasets are redrawn from their seeds.

    .venv/bin/python benchmarks/coverage_errors.py benchmarks/results/coverage_full/identified
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from mats_eval.cli_options import script
from mats_eval.studies.calibration import read_study_table
from mats_eval.simulation.scenarios import simulate


def realised(dataset, kind: str) -> dict:
    """What the simulator drew for one dataset (see the module docstring)."""
    cohorts = dataset.parameters["rating_cohort"]
    centre = np.mean(list(cohorts.values()))
    row = {f"cohort_effect[{name}]": value - centre for name, value in cohorts.items()}
    sessions = dataset.tables["sessions"]
    sessions = sessions[sessions["kind"] == kind].assign(
        session_effect=lambda s: s["session_id"].map(dataset.latent["session_rating"]).to_numpy(float),
        speaker_effect=lambda s: s["speaker"].map(dataset.parameters["rating_speaker"]).fillna(0.0).to_numpy(float))
    both = sessions.groupby("cohort")["policy"].transform("nunique") == 2
    by_policy = sessions[both].groupby(["cohort", "policy"])[["session_effect", "speaker_effect"]].mean()
    gaps = by_policy.xs("mandatory", level="policy") - by_policy.xs("optional", level="policy")
    row["session_effect_gap"] = float(gaps["session_effect"].mean())
    row["speaker_effect_gap"] = float(gaps["speaker_effect"].mean())
    scholars = dataset.latent["scholar"]
    row["scholar_corr_realised"] = float(np.corrcoef(scholars["scholar_attendance"], scholars["scholar_rating"])[0, 1])
    return row


def main(folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A coverage folder.")],
         estimand: Annotated[str, typer.Option(help="The estimand whose errors to explain.")] =
         "mandatory_minus_optional_rating",
         kind: Annotated[str, typer.Option(help="The session kind of the realised gaps.")] = "seminar") -> None:
    long = read_study_table(folder / "coverage_long.csv")
    rows = long[long["estimand"] == estimand]
    if rows.empty:
        raise typer.BadParameter(f"no rows for {estimand!r} in {folder / 'coverage_long.csv'}")
    table = pd.DataFrame([
        {"key": r.key, "error": r.mean - r.truth, **realised(simulate(r.scenario, seed=int(r.seed), scale=1.0), kind)}
        for r in rows.itertuples()
    ]).set_index("key")
    print(table.to_string(float_format=lambda v: f"{v:+.3f}"))
    print(f"\ncorrelation with the error of {estimand} over {len(table)} datasets:")
    print(table.corr()["error"].drop("error").to_string(float_format=lambda v: f"{v:+.2f}"))


if __name__ == "__main__":
    script(main, __doc__)
