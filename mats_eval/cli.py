"""The `mats-eval` command: argument parsing and exit codes only.

Every command delegates to one pipeline module; errors map to the contract's
exit codes (0 ok, 2 invalid input or usage, 3 diagnostics gate failed, 1 other).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from mats_eval.errors import MatsEvalError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Bayesian evaluation of research-programme programming (seminars, workshops, groups).",
)

DEFAULT_MODEL = "joint"


def _fail(exc: MatsEvalError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def validate(dataset: Path = typer.Argument(..., help="Dataset folder (cohorts.csv, scholars.csv, ...).")):
    """Validate a dataset folder against the data contract and print its summary."""
    from mats_eval.io import load

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
    from mats_eval.simulate import write_scenario

    try:
        write_scenario(scenario, seed=seed, out=out, force=force)
    except MatsEvalError as exc:
        _fail(exc)
    typer.echo(f"wrote scenario {scenario!r} (seed {seed}) to {out}")


@app.command()
def example(
    dataset: Path = typer.Option(Path("data/example"), help="The shipped example dataset."),
):
    """The Quick start's main job on the shipped example data."""
    validate(dataset)


def main() -> None:
    try:
        app()
    except MatsEvalError as exc:  # pragma: no cover - commands catch their own
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
