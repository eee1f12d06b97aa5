"""Simulation-based calibration of registered models (see benchmarks/CALIBRATION.md).

    .venv/bin/python benchmarks/run_sbc.py --models attendance,ratings --reps 100 --scale 0.1

Resumable: rerunning the same command skips finished replications. Results go to
benchmarks/results/sbc/<model>/ (ranks.csv, uniformity.csv, tasks/), the figure to
benchmarks/figures/sbc_<model>.png (only for the default --out; a side study keeps its figure in its folder).
"""
from __future__ import annotations

import shutil
import time

from _study import HERE, study_parser


def main() -> None:
    parser = study_parser(__doc__, scale=0.1, out="sbc")
    parser.add_argument("--models", default="attendance,ratings")
    parser.add_argument("--scenario", default="identified")
    parser.add_argument("--thin", type=int, default=100)
    args = parser.parse_args()

    from mats_eval.studies.calibration import sbc

    for model in args.models.split(","):
        start = time.perf_counter()
        result = sbc(model, args.reps, args.out / model, scenario=args.scenario, scale=args.scale, draws=args.draws,
                     tune=args.tune, chains=args.chains, sampler=args.sampler, thin_to=args.thin, workers=args.workers,
                     scheduler=args.scheduler, progress=False)
        if args.out == parser.get_default("out"):  # a side study (--out elsewhere) keeps its figure to itself
            shutil.copy(result.folder / f"sbc_{model}.png", HERE / "figures" / f"sbc_{model}.png")
        print(f"== {model}: {len(result.ranks)} replications, {result.failed} failed, "
              f"{int(result.ranks['divergences'].gt(0).sum())} with divergences, {time.perf_counter() - start:.0f} s")
        print(result.uniformity.to_string(index=False, float_format=lambda x: f"{x:.3g}"), flush=True)


if __name__ == "__main__":
    main()
