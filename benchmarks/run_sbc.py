"""Simulation-based calibration of registered models (see benchmarks/CALIBRATION.md).

    .venv/bin/python benchmarks/run_sbc.py --models attendance,ratings --reps 100 --scale 0.1

Resumable: rerunning the same command skips finished replications. Results go to
benchmarks/results/sbc/<model>/ (ranks.csv, uniformity.csv, tasks/), the figure to
benchmarks/figures/sbc_<model>.png (only for the default --out; a side study keeps its figure in its folder).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from _study import RESULTS, publish_figure

from mats_eval.cli_options import Reps, Scale, optional_out_option, script, study_settings, takes

DEFAULT_OUT = RESULTS / "sbc"


def main(
    models: Annotated[str, typer.Option(help="Models to calibrate, comma-separated.")] = "attendance,ratings",
    scenario: Annotated[str, typer.Option(help="Simulator scenario whose design (not outcomes) is used.")]
    = "identified",
    thin: Annotated[int, typer.Option(min=1, help="Thinned posterior draws L per fit (ranks 0..L).")] = 100,
    reps: Reps = 100,
    scale: Scale = 0.1,
    out: optional_out_option("Study folder, one subfolder per model (default: benchmarks/results/sbc).") = None,
    *, study_settings: dict,
) -> None:
    from mats_eval.studies.calibration import sbc

    out = Path(out) if out is not None else DEFAULT_OUT
    for model in models.split(","):
        start = time.perf_counter()
        result = sbc(model, reps, out / model, scenario=scenario, scale=scale, thin_to=thin, progress=False,
                     **study_settings)
        publish_figure(result.folder / f"sbc_{model}.png", out, DEFAULT_OUT)
        print(f"== {model}: {len(result.ranks)} replications, {result.failed} failed, "
              f"{int(result.ranks['divergences'].gt(0).sum())} with divergences, {time.perf_counter() - start:.0f} s")
        print(result.uniformity.to_string(index=False, float_format=lambda x: f"{x:.3g}"), flush=True)


if __name__ == "__main__":
    script(takes(study_settings)(main), __doc__)
