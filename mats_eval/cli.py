"""The `mats-eval` command: argument parsing and exit codes only.

Every command delegates to one pipeline module; errors map to the contract's
exit codes (0 ok, 2 invalid input or usage, 3 diagnostics gate failed, 1 other).
The options are defined once, in cli_options.py (shared with analyses/ and benchmarks/);
invalid numbers and paths that do not exist are refused while parsing, before any work.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from mats_eval import __version__
from mats_eval.cli_options import (
    Dataset, Force, ModelName, Plans, Progress, Reps, RunDir, Scale, Seed, default_example, fit_settings,
    out_option, study_settings, takes,
)
from mats_eval.errors import DiagnosticsFailed, MatsEvalError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Bayesian evaluation of research-programme programming (seminars, workshops, groups).",
)


def _fail(exc: MatsEvalError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mats-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the package version and exit.")] = False,
) -> None:
    """Bayesian evaluation of research-programme programming (seminars, workshops, groups)."""


def _table(frame) -> str:
    return frame.to_string(index=False, float_format=lambda x: f"{x:.3g}")


def _gate_failed(diagnostics: dict, where: str) -> DiagnosticsFailed:
    return DiagnosticsFailed(
        f"diagnostics gate failed ({'; '.join(diagnostics['failures'])}); {where} "
        f"and marked unreliable; {diagnostics.get('advice', '')}")


@app.command()
def validate(dataset: Dataset):
    """Validate a dataset folder against the data contract and print its summary.

    Example: mats-eval validate data/example
    """
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
def estimands():
    """List every estimand the package reports: name, unit, interval and meaning (the registry).

    Example: mats-eval estimands
    """
    from mats_eval.estimands.registry import registry_table

    typer.echo(registry_table().to_string(index=False))


@app.command("import")
def import_(
    mapping: Annotated[Path, typer.Argument(exists=True, dir_okay=False, show_default=False,
                                            help="Mapping YAML: which export feeds which table (see `mats-eval init`).")],
    out: out_option("Dataset folder to write (must not exist unless --force)."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be written; write nothing.")] = False,
    force: Force = False,
):
    """Turn spreadsheet exports (CSV, .xlsx, .ods) into a dataset folder, pseudonymising people.

    Example: mats-eval import exports/mapping.yaml --out data/mats5 --dry-run
    """
    from mats_eval.data.importer import import_dataset

    try:
        report = import_dataset(mapping, out, dry_run=dry_run, force=force)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(report.render())
    if not dry_run:
        typer.echo(f"{out}: valid (check it any time with `mats-eval validate {out}`)")


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(show_default=False, help="Folder to create for the new dataset.")],
    force: Force = False,
):
    """Write an empty dataset template: the six tables' headers, a README of the rules, an example mapping.

    Example: mats-eval init data/mats6
    """
    from mats_eval.data.template import EXAMPLE_MAPPING_NAME, write_template

    try:
        write_template(folder, force=force)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"wrote {folder}: fill in the CSV tables (README.md says how), or edit "
               f"{EXAMPLE_MAPPING_NAME} and run `mats-eval import`")


@app.command()
def simulate(
    out: out_option("Folder to write the dataset and truth.json into."),
    scenario: Annotated[str, typer.Option(help="Scenario name: mats-history, null, selection, ...")] = "mats-history",
    seed: Seed = 0,
    force: Force = False,
):
    """Write a simulated dataset with known truth (truth.json).

    Example: mats-eval simulate --scenario selection --seed 1 --out /tmp/sim
    """
    from mats_eval.simulation.scenarios import write_scenario

    try:
        write_scenario(scenario, seed=seed, out=out, force=force)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"wrote scenario {scenario!r} (seed {seed}) to {out}")


@app.command()
@takes(fit_settings)
def example(
    dataset: Annotated[Path, typer.Option(exists=True, help="The shipped example dataset (found from any folder).")]
    = default_example(),
    out: Annotated[Path, typer.Option(help="Where the run folder and report go (replaced).")] = Path("runs/example"),
    *, fit_settings: dict,
):
    """The Quick start's main job: the full analysis and report on the shipped example data.

    Example: mats-eval example --out runs/example
    """
    _run_pipeline(dataset, out, plans=None, force=True, fit_options=fit_settings)


@app.command()
@takes(fit_settings)
def run(
    dataset: Dataset,
    out: out_option("Output folder: run/ (fit) and report/ (HTML + Markdown)."),
    plans: Plans = None,
    force: Force = False,
    *, fit_settings: dict,
):
    """Validate → fit → effects → decisions → report, in one go; exit 3 if the gate fails.

    Example: mats-eval run data/example --out runs/ex --draws 1000
    """
    _run_pipeline(dataset, out, plans=plans, force=force, fit_options=fit_settings)


def _run_pipeline(dataset: Path, out: Path, plans, force: bool, fit_options: dict) -> None:
    from mats_eval.pipeline import run as run_pipeline

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="diagnostics gate failed")  # reported below instead
            result = run_pipeline(dataset, out, plans=plans, force=force, **fit_options)
        typer.echo(_table(result.fit.effects))
        typer.echo(f"report: {result.report_html}")
        typer.echo(f"run folder: {result.run_dir}")
        if not result.reliable:
            raise _gate_failed(result.fit.diagnostics, "everything was written")
    except MatsEvalError as exc:
        _fail(exc)


@app.command()
def report(
    run_dir: RunDir,
    out: out_option("Folder for report.html, report.md and figures."),
    plans: Plans = None,
    force: Force = False,
):
    """Build the HTML + Markdown report of a run folder.

    Example: mats-eval report runs/fit1 --out runs/fit1-report
    """
    from mats_eval.report.build import build_report

    try:
        if not (run_dir / "manifest.json").exists():
            raise UsageError(f"{run_dir} is not a run folder (no manifest.json)")
        html = build_report(run_dir, out, plans_path=plans, force=force)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"report: {html}")


@app.command()
@takes(fit_settings)
def fit(
    dataset: Dataset,
    out: out_option("Run folder to write (must not exist unless --force)."),
    force: Force = False,
    *, fit_settings: dict,
):
    """Fit a model and write a run folder; exit 3 if the diagnostics gate fails.

    Example: mats-eval fit data/example --out runs/fit1 --model attendance
    """
    from mats_eval.inference.fitting import fit as run_fit

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="diagnostics gate failed")  # reported below instead
            result = run_fit(dataset, out=out, force=force, **fit_settings)
        typer.echo(_table(result.effects))
        if not result.reliable:
            raise _gate_failed(result.diagnostics, f"results written to {out}")
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"wrote run folder {out} (diagnostics gate passed)")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(exists=True, file_okay=False,
                                               help="Two or more run folders fitted to the same data.")],
):
    """Compare runs by PSIS-LOO (az.compare), one table per observed variable they share.

    Example: mats-eval compare runs/a/run runs/b/run
    """
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


@app.command()
@takes(study_settings)
def sbc(
    model: ModelName,
    out: out_option("Study folder (resumed if it exists: finished replications are kept)."),
    reps: Reps = 100,
    scenario: Annotated[str, typer.Option(help="Simulator scenario whose design (not outcomes) is used.")]
    = "identified",
    scale: Scale = 0.1,
    thin: Annotated[int, typer.Option(min=1, help="Thinned posterior draws L per fit (ranks 0..L).")] = 100,
    progress: Progress = True,
    *, study_settings: dict,
):
    """Simulation-based calibration of a model: rank histograms and uniformity tests.

    Example: mats-eval sbc --model ratings --reps 100 --out runs/sbc
    """
    from mats_eval.studies.calibration import sbc as run_sbc

    try:
        result = run_sbc(model, reps, out, scenario=scenario, scale=scale, thin_to=thin, progress=progress,
                         **study_settings)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(_table(result.uniformity))
    typer.echo(f"{len(result.ranks)} replications ({result.failed} failed); wrote {out}/ranks.csv, "
               f"{out}/uniformity.csv, {out}/sbc_{model}.png")


def _integers(text: str) -> list[int]:
    """'40,80' -> [40, 80]."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {text!r}") from None


@app.command()
@takes(study_settings)
def power(
    out: out_option("Study folder (resumed if it exists); power.csv is written there."),
    designs: Annotated[str, typer.Option(help="Allocations to compare, comma-separated.")]
    = "between-cohort,alternate-weeks,randomise-sessions",
    scholars: Annotated[str, typer.Option(help="Scholars per cohort; comma-separated for several.")] = "40",
    weeks: Annotated[str, typer.Option(help="Programme weeks; comma-separated for several.")] = "8",
    seminars: Annotated[str, typer.Option(help="Seminars a week; comma-separated for several.")] = "3",
    effect: Annotated[Optional[list[str]], typer.Option(
        help="Assumed true parameter NAME=VALUE (repeatable), e.g. rating_mandatory=-0.5.")] = None,
    effect_prior: Annotated[Optional[list[str]], typer.Option(
        help="A normal prior NAME=MEAN,SD on an assumed parameter (repeatable): each replication draws it, "
             "and the power column is then the assurance.")] = None,
    scenario: Annotated[str, typer.Option(help="Scenario whose parameters are the default assumptions.")]
    = "mats-history",
    estimand: Annotated[str, typer.Option(help="The effect the study should find.")]
    = "mandatory_minus_optional_rating",
    model: Annotated[Optional[str], typer.Option(
        help="Model to fit (default: the package's default for the simulated data, the joint model).")] = None,
    reps: Reps = 20,
    progress: Progress = True,
    *, study_settings: dict,
):
    """Power of candidate designs for the next cohort's experiment; prints a table, writes power.csv.

    Example: mats-eval power --designs between-cohort,alternate-weeks --reps 20 --out runs/power
    """
    from mats_eval.studies.power import design_grid, parse_effect_prior, parse_effects, power as run_power

    try:
        grid = design_grid([d.strip() for d in designs.split(",") if d.strip()], _integers(scholars),
                           _integers(weeks), _integers(seminars))
        table = run_power(grid, reps, out, effects=parse_effects(effect), scenario=scenario, estimand=estimand,
                          model=model, progress=progress, effect_prior=parse_effect_prior(effect_prior),
                          **study_settings)
    except MatsEvalError as exc:
        _fail(exc)
    columns = ["design", "truth", "reps", "power", "power_low", "power_high", "mean_width", "reliable_share"]
    typer.echo(_table(table[columns]))
    typer.echo(f"wrote {out}/power.csv")


def main() -> None:
    try:
        app()
    except MatsEvalError as exc:  # pragma: no cover - commands catch their own
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
