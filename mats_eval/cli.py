"""The `mats-eval` command: argument parsing and exit codes only.

Every command delegates to one pipeline module; errors map to the contract's
exit codes (0 ok, 2 invalid input or usage, 3 diagnostics gate failed, 1 other).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from mats_eval.errors import MatsEvalError, UsageError
from mats_eval.inference.samplers import DEFAULT_SAMPLER, SAMPLER_HELP

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Bayesian evaluation of research-programme programming (seminars, workshops, groups).",
)

def _fail(exc: MatsEvalError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def validate(dataset: Path = typer.Argument(..., help="Dataset folder (cohorts.csv, scholars.csv, ...).")):
    """Validate a dataset folder against the data contract and print its summary."""
    from mats_eval.data.io import load

    try:
        data = load(dataset)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"{dataset}: valid")
    typer.echo(data.summary().to_string(index=False))
    if data.implied_attendance:
        typer.echo(f"{data.implied_attendance} rating(s) with no attendance row (counted as attended)")


@app.command()
def simulate(
    scenario: str = typer.Option("mats-history", help="Scenario name: mats-history, null, selection, ..."),
    seed: int = typer.Option(0, help="Random seed."),
    out: Path = typer.Option(..., help="Folder to write the dataset and truth.json into."),
    force: bool = typer.Option(False, help="Replace an existing folder."),
):
    """Write a simulated dataset with known truth (truth.json)."""
    from mats_eval.simulation.scenarios import write_scenario

    try:
        write_scenario(scenario, seed=seed, out=out, force=force)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"wrote scenario {scenario!r} (seed {seed}) to {out}")


@app.command()
def example(
    dataset: Path = typer.Option(Path("data/example"), help="The shipped example dataset."),
    out: Path = typer.Option(Path("runs/example"), help="Where the run folder and report go (replaced)."),
):
    """The Quick start's main job: the full analysis and report on the shipped example data."""
    _run_pipeline(dataset, out, plans=None, force=True, options={})


@app.command()
def run(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    out: Path = typer.Option(..., help="Output folder: run/ (fit) and report/ (HTML + Markdown)."),
    plans: Optional[Path] = typer.Option(None, help="Plans YAML (default: analyses/plans/example.yaml)."),
    model: Optional[str] = typer.Option(None, help="Model (default: the joint model)."),
    draws: Optional[int] = typer.Option(None, help="Posterior draws per chain (default 3000)."),
    tune: Optional[int] = typer.Option(None, help="Tuning steps per chain (default 1000)."),
    chains: int = typer.Option(2, help="Number of chains."),
    seed: int = typer.Option(0, help="Random seed."),
    sampler: Optional[str] = typer.Option(None, help=SAMPLER_HELP),
    force: bool = typer.Option(False, help="Replace an existing output folder."),
):
    """Validate → fit → effects → decisions → report, in one go; exit 3 if the gate fails."""
    options = dict(chains=chains, seed=seed)
    options.update({k: v for k, v in dict(model=model, sampler=sampler, draws=draws, tune=tune).items()
                    if v is not None})
    _run_pipeline(dataset, out, plans=plans, force=force, options=options)


def _run_pipeline(dataset: Path, out: Path, plans, force: bool, options: dict) -> None:
    from mats_eval.errors import DiagnosticsFailed
    from mats_eval.pipeline import run as run_pipeline

    try:
        result = run_pipeline(dataset, out, plans=plans, force=force, **options)
        typer.echo(result.fit.effects.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        typer.echo(f"report: {result.report_html}")
        typer.echo(f"run folder: {result.run_dir}")
        if not result.reliable:
            raise DiagnosticsFailed(
                f"diagnostics gate failed ({'; '.join(result.fit.diagnostics['failures'])}); "
                f"everything was written and marked unreliable; {result.fit.diagnostics.get('advice', '')}"
            )
    except MatsEvalError as exc:
        _fail(exc)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run folder written by `mats-eval fit`."),
    out: Path = typer.Option(..., help="Folder for report.html, report.md and figures."),
    plans: Optional[Path] = typer.Option(None, help="Plans YAML to compare (optional)."),
    force: bool = typer.Option(False, help="Replace an existing report folder."),
):
    """Build the HTML + Markdown report of a run folder."""
    from mats_eval.report.build import build_report

    try:
        if not (run_dir / "manifest.json").exists():
            raise UsageError(f"{run_dir} is not a run folder (no manifest.json)")
        html = build_report(run_dir, out, plans_path=plans, force=force)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"report: {html}")


@app.command()
def fit(
    dataset: Path = typer.Argument(..., help="Dataset folder to fit."),
    model: Optional[str] = typer.Option(
        None, help="Model: joint, attendance, attendance_floor, ratings, retrospective (default: joint)."),
    out: Path = typer.Option(..., help="Run folder to write (must not exist unless --force)."),
    draws: Optional[int] = typer.Option(None, help="Posterior draws per chain (default 3000)."),
    tune: Optional[int] = typer.Option(None, help="Tuning steps per chain (default 1000)."),
    chains: Optional[int] = typer.Option(None, help="Number of chains (default 2)."),
    seed: int = typer.Option(0, help="Random seed (same seed, same draws)."),
    sampler: Optional[str] = typer.Option(None, help=SAMPLER_HELP),
    target_accept: Optional[float] = typer.Option(None, help="NUTS target acceptance rate (default 0.8)."),
    force: bool = typer.Option(False, help="Replace an existing run folder."),
    progress: bool = typer.Option(True, help="Show the sampler's progress bar."),
    checks: bool = typer.Option(True, help="Cross-checks, predictive checks and LOO in the run folder."),
):
    """Fit a model and write a run folder; exit 3 if the diagnostics gate fails."""
    import warnings

    from mats_eval.errors import DiagnosticsFailed
    from mats_eval.inference.fitting import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TUNE, fit as run_fit
    from mats_eval.models import DEFAULT_MODEL as DEFAULT_FIT_MODEL

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="diagnostics gate failed")  # reported below instead
            result = run_fit(
                dataset, model=model or DEFAULT_FIT_MODEL, out=out, draws=draws or DEFAULT_DRAWS,
                tune=DEFAULT_TUNE if tune is None else tune, chains=chains or DEFAULT_CHAINS,
                seed=seed, sampler=sampler or DEFAULT_SAMPLER, force=force, progress=progress,
                target_accept=target_accept, checks=checks,
            )
        typer.echo(result.effects.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        if not result.reliable:
            diag = result.diagnostics
            raise DiagnosticsFailed(
                f"diagnostics gate failed ({'; '.join(diag['failures'])}); results written to {out} "
                f"and marked unreliable; {diag.get('advice', '')}"
            )
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"wrote run folder {out} (diagnostics gate passed)")


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Two or more run folders fitted to the same data."),
):
    """Compare runs by PSIS-LOO (az.compare), one table per observed variable they share."""
    import pandas as pd

    from mats_eval.checks.predictive import compare_runs

    try:
        tables = compare_runs(runs)
    except MatsEvalError as exc:
        _fail(exc)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        for variable, table in tables.items():
            typer.echo(f"== {variable} (elpd_loo, higher is better) ==")
            typer.echo(table.to_string(float_format=lambda x: f"{x:.3g}"))
            typer.echo("")


def _scheduler_and_workers(scheduler: Optional[str], workers: Optional[int]) -> dict:
    """Study execution options: a Dask scheduler address, or local worker processes (0 = in this process)."""
    return {"scheduler": scheduler or None, "workers": workers}


@app.command()
def sbc(
    model: str = typer.Option(..., help="Registered model to calibrate (e.g. attendance, ratings)."),
    reps: int = typer.Option(100, help="SBC replications (prior draw, simulated data, fit)."),
    out: Path = typer.Option(..., help="Study folder (resumed if it exists: finished replications are kept)."),
    scenario: str = typer.Option("identified", help="Simulator scenario whose design (not outcomes) is used."),
    scale: float = typer.Option(0.1, help="Scholars-per-cohort multiplier of that design (small = fast)."),
    draws: int = typer.Option(500, help="Posterior draws per chain."),
    tune: int = typer.Option(500, help="Tuning steps per chain."),
    chains: int = typer.Option(2, help="Chains per fit."),
    thin: int = typer.Option(100, help="Thinned posterior draws L per fit (ranks 0..L)."),
    sampler: str = typer.Option(DEFAULT_SAMPLER, help=SAMPLER_HELP),
    seed: int = typer.Option(0, help="Base seed (each replication derives its own)."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786."),
    workers: Optional[int] = typer.Option(None, help="Local worker processes (default: cores; 0: in-process)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
):
    """Simulation-based calibration of a model: rank histograms and uniformity tests."""
    from mats_eval.studies.calibration import sbc as run_sbc

    try:
        result = run_sbc(model, reps, out, scenario=scenario, scale=scale, draws=draws, tune=tune, chains=chains,
                         thin_to=thin, sampler=sampler, seed=seed, progress=progress,
                         **_scheduler_and_workers(scheduler, workers))
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(result.uniformity.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    typer.echo(f"{len(result.ranks)} replications ({result.failed} failed); wrote {out}/ranks.csv, "
               f"{out}/uniformity.csv, {out}/sbc_{model}.png")


@app.command()
def power(
    designs: str = typer.Option("between-cohort,alternate-weeks,randomise-scholars",
                                help="Allocations to compare, comma-separated."),
    scholars: str = typer.Option("40", help="Scholars per cohort; comma-separated for several."),
    weeks: str = typer.Option("8", help="Programme weeks; comma-separated for several."),
    seminars: str = typer.Option("3", help="Seminars a week; comma-separated for several."),
    effect: Optional[list[str]] = typer.Option(None, help="Assumed true parameter NAME=VALUE (repeatable), "
                                               "e.g. rating_mandatory=-0.5."),
    scenario: str = typer.Option("mats-history", help="Scenario whose parameters are the default assumptions."),
    estimand: str = typer.Option("mandatory_minus_optional_rating", help="The effect the study should find."),
    model: Optional[str] = typer.Option(None, help="Model to fit (default: the smallest that reports the estimand)."),
    reps: int = typer.Option(20, help="Simulated studies per design."),
    out: Path = typer.Option(..., help="Study folder (resumed if it exists); power.csv is written there."),
    draws: int = typer.Option(500, help="Posterior draws per chain."),
    tune: int = typer.Option(500, help="Tuning steps per chain."),
    chains: int = typer.Option(2, help="Chains per fit."),
    sampler: str = typer.Option(DEFAULT_SAMPLER, help=SAMPLER_HELP),
    seed: int = typer.Option(0, help="Base seed (designs share their replications' seeds)."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786."),
    workers: Optional[int] = typer.Option(None, help="Local worker processes (default: cores; 0: in-process)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
):
    """Power of candidate designs for the next cohort's experiment; prints a table, writes power.csv."""
    from mats_eval.errors import UsageError
    from mats_eval.studies.power import design_grid, parse_effects, power as run_power

    def numbers(text: str) -> list[int]:
        try:
            return [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"expected comma-separated integers, got {text!r}") from None

    try:
        grid = design_grid([d.strip() for d in designs.split(",") if d.strip()], numbers(scholars), numbers(weeks),
                           numbers(seminars))
        table = run_power(grid, reps, out, effects=parse_effects(effect), scenario=scenario, estimand=estimand,
                          model=model, draws=draws, tune=tune, chains=chains, sampler=sampler, seed=seed,
                          progress=progress, **_scheduler_and_workers(scheduler, workers))
    except MatsEvalError as exc:
        _fail(exc)
    columns = ["design", "truth", "reps", "power", "power_low", "power_high", "mean_width", "reliable_share"]
    typer.echo(table[columns].to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    typer.echo(f"wrote {out}/power.csv")


def main() -> None:
    try:
        app()
    except MatsEvalError as exc:  # pragma: no cover - commands catch their own
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
