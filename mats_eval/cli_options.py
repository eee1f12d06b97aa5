"""The command-line options, defined once: `mats-eval`, `analyses/` and `benchmarks/` all use these.

Each option is a typer `Annotated` type (`draws: Draws = DEFAULT_DRAWS`), so its flag,
help and valid range live here and nowhere else. Numbers are range-checked by click
while the command line is parsed, so `--draws 0` stops with "Invalid value for
'--draws'" and exit code 2 before any work starts.

Options that always travel together are gathered by a *settings function*:
`fit_settings` holds every option of one `mats_eval.fit`, `study_settings` those of a
calibration or power study. `@takes(fit_settings)` gives a command all of them and
hands it their values as one dict, so `fit`, `run`, `example` and the analysis
scripts cannot drift apart.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from mats_eval.constants import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TUNE
from mats_eval.errors import UsageError
from mats_eval.inference.samplers import DEFAULT_SAMPLER, SAMPLER_HELP, SAMPLERS
from mats_eval.models import MODELS

# A study fits hundreds of small simulated datasets: shorter chains than one real fit
# (benchmarks/CALIBRATION.md; the measurements behind it in benchmarks/HISTORY.md "Speed").
STUDY_DRAWS = 500
STUDY_TUNE = 500

# --- where the shipped example lives ----------------------------------------


def example_candidates() -> list[Path]:
    """Where `data/example` may be: beside the package (a clone or editable install), then the working folder."""
    return [Path(__file__).resolve().parents[1] / "data" / "example", Path.cwd() / "data" / "example"]


def example_dataset() -> Path:
    """The shipped example dataset, found from any working folder; UsageError naming the places tried."""
    for folder in example_candidates():
        if (folder / "cohorts.csv").is_file():
            return folder
    tried = ", ".join(str(p) for p in example_candidates())
    raise UsageError(f"the example dataset is not where it should be (looked in {tried}); "
                     "pass a dataset folder instead")


def default_example() -> Path:
    """example_dataset() for an option's default: the first candidate when none exists (click then says so)."""
    try:
        return example_dataset()
    except UsageError:
        return example_candidates()[0]


# --- one type per option -----------------------------------------------------


def between(low: float, high: float) -> Callable:
    """Option callback refusing a number outside the open interval (low, high), naming the flag."""
    def check(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
        if value is not None and not low < value < high:
            bound = f"above {low:g}" if high == float("inf") else f"between {low:g} and {high:g} (exclusive)"
            raise typer.BadParameter(f"{value:g} is not {bound}", ctx=ctx, param=param)
        return value
    return check


Dataset = Annotated[Path, typer.Argument(
    exists=True, show_default=False,
    help="Dataset folder (cohorts.csv, scholars.csv, sessions.csv, attendance.csv, ...).")]
ExampleDataset = Annotated[Path, typer.Argument(
    exists=True, help="Dataset folder (default: the shipped example data/example).")]
RunDir = Annotated[Path, typer.Argument(
    exists=True, file_okay=False, show_default=False, help="A run folder written by `mats-eval fit`.")]
Plans = Annotated[Optional[Path], typer.Option(
    exists=True, dir_okay=False, help="Plans YAML to compare (default: analyses/plans/example.yaml).")]
Force = Annotated[bool, typer.Option(help="Replace an existing output folder.")]
Progress = Annotated[bool, typer.Option(help="Show progress (the sampler's bar).")]

ModelName = Annotated[Literal[tuple(MODELS)], typer.Option(help="Model to fit.")]
FitModel = Annotated[Optional[Literal[tuple(MODELS)]], typer.Option(
    show_default=False, help="Model to fit (default: relevance when sessions.csv has topics, else joint).")]
Draws = Annotated[int, typer.Option(min=1, help="Posterior draws per chain.")]
Tune = Annotated[int, typer.Option(min=0, help="Tuning steps per chain.")]
Chains = Annotated[int, typer.Option(min=1, help="Number of chains.")]
Seed = Annotated[int, typer.Option(min=0, help="Random seed (the same seed gives the same draws, given the same compile cache).")]
Sampler = Annotated[Literal[SAMPLERS], typer.Option(help=SAMPLER_HELP)]
TargetAccept = Annotated[Optional[float], typer.Option(
    callback=between(0, 1), help="NUTS target acceptance rate, between 0 and 1 (default 0.8).")]
Checks = Annotated[bool, typer.Option(help="Cross-checks, predictive checks, LOO and prior sensitivity in the run "
                                             "folder.")]
Extend = Annotated[bool, typer.Option(help="When the diagnostics gate fails only narrowly on R-hat or ESS (no "
                                             "divergences), sample once more with twice the draws.")]
# read and checked by `fit` (models/priors.py read_priors_file), before the data are loaded:
# an unknown name or a bad distribution exits 2 naming the valid ones
PriorsFile = Annotated[Optional[Path], typer.Option(
    "--priors", exists=True, dir_okay=False, show_default=False,
    help="YAML of prior overrides, one per line: 'rating_mandatory: {dist: Normal, mu: 0, sigma: 0.5}' "
         "('{sigma: 0.5}' keeps the default family; '<x>_cohort_sd: {dist: HalfNormal, sigma: 0.5}' replaces "
         "the cohort variance prior). The priors used are written to priors.json.")]

Reps = Annotated[int, typer.Option(min=1, help="Replications (simulated datasets, one fit each).")]
Scale = Annotated[float, typer.Option(callback=between(0, float("inf")),
                                      help="Scholars-per-cohort multiplier of the design (small = fast).")]
Workers = Annotated[Optional[int], typer.Option(min=0, help="Local worker processes (default: cores; 0: in-process).")]
Scheduler = Annotated[Optional[str], typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")]


def out_option(help: str) -> type:
    """`--out` with a command's own description of what goes there."""
    return Annotated[Path, typer.Option("--out", help=help)]


def optional_out_option(help: str) -> type:
    """`--out` that may be left out (the command then picks a folder)."""
    return Annotated[Optional[Path], typer.Option("--out", help=help)]


# --- options that travel together --------------------------------------------


def fit_settings(
    model: FitModel = None,
    draws: Draws = DEFAULT_DRAWS,
    tune: Tune = DEFAULT_TUNE,
    chains: Chains = DEFAULT_CHAINS,
    seed: Seed = 0,
    sampler: Sampler = DEFAULT_SAMPLER,
    target_accept: TargetAccept = None,
    progress: Progress = True,
    checks: Checks = True,
    priors: PriorsFile = None,
    extend: Extend = True,
) -> dict:
    """Keyword arguments of `mats_eval.fit` (and `mats_eval.run`), one option each."""
    return dict(model=model, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
                target_accept=target_accept, progress=progress, checks=checks, priors=priors, extend=extend)


def study_settings(
    draws: Draws = STUDY_DRAWS,
    tune: Tune = STUDY_TUNE,
    chains: Chains = DEFAULT_CHAINS,
    sampler: Sampler = DEFAULT_SAMPLER,
    seed: Seed = 0,
    scheduler: Scheduler = None,
    workers: Workers = None,
) -> dict:
    """Keyword arguments every study (`studies.calibration.sbc`, `coverage`, `studies.power.power`) takes."""
    return dict(draws=draws, tune=tune, chains=chains, sampler=sampler, seed=seed, scheduler=scheduler or None,
                workers=workers)


def takes(settings: Callable[..., dict], exclude: tuple[str, ...] = ()) -> Callable:
    """Decorator: give a command every option of `settings` (but `exclude`).

    The command declares one keyword-only parameter named after `settings`
    (e.g. `*, fit_settings: dict`) and receives the options' values there, as the
    dict `settings` returns; the options themselves appear in its --help after its own.
    """
    shared = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)  # typer passes every option by name
              for p in inspect.signature(settings, eval_str=True).parameters.values() if p.name not in exclude]
    keyword = settings.__name__

    def decorate(command: Callable) -> Callable:
        own = inspect.signature(command, eval_str=True)
        if keyword not in own.parameters:
            raise TypeError(f"{command.__name__} must declare a keyword-only parameter {keyword!r}")

        @functools.wraps(command)
        def with_settings(*args, **kwargs):
            values = settings(**{p.name: kwargs.pop(p.name) for p in shared})
            return command(*args, **kwargs, **{keyword: values})

        kept = [p for p in own.parameters.values() if p.name != keyword]
        with_settings.__signature__ = own.replace(parameters=[*kept, *shared])
        return with_settings

    return decorate


def script(command: Callable, help: str | None = None) -> None:
    """Run `command` as a one-command typer program (an analysis or benchmark script's `__main__`)."""
    app = typer.Typer(add_completion=False, help=help or command.__doc__,
                      context_settings={"help_option_names": ["-h", "--help"]})
    app.command(help=help or command.__doc__)(command)
    app()
