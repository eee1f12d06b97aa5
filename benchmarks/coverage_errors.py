"""What goes with an estimand's errors in a coverage folder? (RESULTS.md, identified and null)

For each dataset of a coverage folder, the estimand's error (posterior mean − truth) beside what the
simulator drew for that dataset and the model had to estimate. For a rating estimand (`--outcome
rating`): each cohort's rating effect (centred on the cohorts' mean), the realised mandatory − optional
difference of session and speaker effects among the reference kind's sessions (within cohorts that ran
both), and the realised correlation of the scholars' attendance and rating traits. For an attendance
estimand (`--outcome attendance`): the realised means of the cohort, scholar and session attendance
effects (which a model cannot tell from the population level: their population mean is 0, but three
cohorts' realised mean is not) and the realised mandatory − optional gap of session attendance effects.
Then the correlation of each with the error, and a least-squares fit of the error on them, whose
intercept is the bias left when every realised draw sits at its population mean. Nothing is
refitted: the datasets are redrawn from their seeds.

    .venv/bin/python benchmarks/coverage_errors.py benchmarks/results/coverage_full/identified
    .venv/bin/python benchmarks/coverage_errors.py benchmarks/results/coverage_full/null \
        --outcome attendance --estimand attendance_first_week
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


def policy_gap(dataset, kind: str, effects: dict) -> dict:
    """Mean over cohorts that ran both policies of (mandatory − optional) mean of each per-session effect
    among `kind`'s sessions; `effects`: name → a function of the sessions table giving the effect."""
    sessions = dataset.tables["sessions"]
    sessions = sessions[sessions["kind"] == kind].assign(**effects)
    both = sessions.groupby("cohort")["policy"].transform("nunique") == 2
    by_policy = sessions[both].groupby(["cohort", "policy"])[list(effects)].mean()
    gaps = by_policy.xs("mandatory", level="policy") - by_policy.xs("optional", level="policy")
    return {f"{name}_gap": float(gaps[name].mean()) for name in effects}


def realised_rating(dataset, kind: str) -> dict:
    """What the simulator drew for one dataset's ratings (see the module docstring)."""
    cohorts = dataset.parameters["rating_cohort"]
    centre = np.mean(list(cohorts.values()))
    row = {f"cohort_effect[{name}]": value - centre for name, value in cohorts.items()}
    row |= policy_gap(dataset, kind, {
        "session_effect": lambda s: s["session_id"].map(dataset.latent["session_rating"]).to_numpy(float),
        "speaker_effect": lambda s: s["speaker"].map(dataset.parameters["rating_speaker"]).fillna(0.0).to_numpy(float)})
    scholars = dataset.latent["scholar"]
    row["scholar_corr_realised"] = float(np.corrcoef(scholars["scholar_attendance"], scholars["scholar_rating"])[0, 1])
    return row


def realised_attendance(dataset, kind: str) -> dict:
    """What the simulator drew for one dataset's attendance (see the module docstring)."""
    row = {"cohort_mean": float(np.mean(list(dataset.parameters["attendance_cohort"].values()))),
           "scholar_mean": float(np.mean(dataset.latent["scholar"]["scholar_attendance"])),
           "session_mean": float(np.mean(dataset.latent["session_attendance"]))}
    return row | policy_gap(dataset, kind, {
        "session_effect": lambda s: s["session_id"].map(dataset.latent["session_attendance"]).to_numpy(float)})


REALISED = {"rating": realised_rating, "attendance": realised_attendance}


def bias_left(table: pd.DataFrame) -> tuple[float, float]:
    """(intercept, its standard error) of the least-squares fit of the error on the realised columns."""
    import statsmodels.api as sm

    columns = table.drop(columns="error")
    centred = [c for c in columns if c.startswith("cohort_effect[")]
    if centred:  # centred cohort effects sum to 0: one of them is the others' negative sum
        columns = columns.drop(columns=centred[-1])
    fitted = sm.OLS(table["error"], sm.add_constant(columns)).fit()
    return float(fitted.params["const"]), float(fitted.bse["const"])


def main(folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A coverage folder.")],
         estimand: Annotated[str, typer.Option(help="The estimand whose errors to explain.")] =
         "mandatory_minus_optional_rating",
         kind: Annotated[str, typer.Option(help="The session kind of the realised gaps.")] = "seminar",
         outcome: Annotated[str, typer.Option(help="Whose realised draws to set beside the errors: rating or "
                                                   "attendance.")] = "rating") -> None:
    if outcome not in REALISED:
        raise typer.BadParameter(f"unknown outcome {outcome!r}; choose one of {', '.join(REALISED)}")
    long = read_study_table(folder / "coverage_long.csv")
    rows = long[long["estimand"] == estimand]
    if rows.empty:
        raise typer.BadParameter(f"no rows for {estimand!r} in {folder / 'coverage_long.csv'}")
    table = pd.DataFrame([
        {"key": r.key, "error": r.mean - r.truth, **REALISED[outcome](simulate(r.scenario, seed=int(r.seed), scale=1.0), kind)}
        for r in rows.itertuples()
    ]).set_index("key")
    print(table.to_string(float_format=lambda v: f"{v:+.3f}"))
    print(f"\ncorrelation with the error of {estimand} over {len(table)} datasets:")
    print(table.corr()["error"].drop("error").to_string(float_format=lambda v: f"{v:+.2f}"))
    intercept, se = bias_left(table)
    print(f"\nmean error {table['error'].mean():+.4g}; left when every realised draw is at its population mean "
          f"(least-squares intercept): {intercept:+.4g} (se {se:.2g})")


if __name__ == "__main__":
    script(main, __doc__)
