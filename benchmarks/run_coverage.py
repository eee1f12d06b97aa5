"""Coverage of 90% HDIs over simulated datasets, and the null false-positive rate (benchmarks/CALIBRATION.md).

    .venv/bin/python benchmarks/run_coverage.py --scenarios null,identified --reps 100 --scale 0.2

Resumable: rerunning the same command skips finished datasets; `--summarise-only` writes the
tables from the datasets finished so far without fitting. Results go to
benchmarks/results/coverage/ (coverage.csv, false_positives.csv, coverage_long.csv,
gate.csv: the share of fits passing the diagnostics gate and which checks failed, tasks/), the figure to benchmarks/figures/coverage.png.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from _study import RESULTS, publish_figure

from mats_eval.cli_options import Reps, Scale, optional_out_option, script, study_settings, takes

DEFAULT_OUT = RESULTS / "coverage"


def main(
    scenarios: Annotated[str, typer.Option(help="Simulator scenarios, comma-separated.")]
    = "null,identified,selection,confounded,mats-history",
    model: Annotated[Optional[str], typer.Option(help="Model to fit (default: the one `mats-eval fit` chooses for each dataset).")]
    = None,
    summarise_only: Annotated[bool, typer.Option(
        "--summarise-only", help="Fit nothing: summarise the datasets already finished in --out.")] = False,
    reps: Reps = 100,
    scale: Scale = 0.2,
    out: optional_out_option("Study folder (default: benchmarks/results/coverage).") = None,
    *, study_settings: dict,
) -> None:
    from mats_eval.studies.calibration import coverage, write_coverage
    from mats_eval.studies.runner import load_results

    out = Path(out) if out is not None else DEFAULT_OUT
    start = time.perf_counter()
    if summarise_only:
        if not (out / "tasks").is_dir():
            raise typer.BadParameter(f"no finished datasets in {out} (no tasks/ folder)", param_hint="--summarise-only")
        result = write_coverage(load_results(out), out)
    else:
        result = coverage(scenarios.split(","), reps, out, scale=scale, model=model, progress=False,
                          **study_settings)
    publish_figure(result.folder / "coverage.png", out, DEFAULT_OUT)
    print(f"== {len(result.long['key'].unique()) if len(result.long) else 0} datasets, {result.failed} failed, "
          f"{time.perf_counter() - start:.0f} s")
    fmt = {"float_format": lambda x: f"{x:.3g}", "index": False}
    print(result.summary.to_string(**fmt))
    print(result.false_positives.to_string(**fmt))
    print(result.gate.to_string(**fmt), flush=True)


if __name__ == "__main__":
    script(takes(study_settings)(main), __doc__)
