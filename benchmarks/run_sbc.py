"""Simulation-based calibration of registered models (see benchmarks/CALIBRATION.md).

    .venv/bin/python benchmarks/run_sbc.py --models attendance,ratings --reps 100 --scale 0.1

Resumable: rerunning the same command skips finished replications. Results go to
benchmarks/results/sbc/<model>/ (ranks.csv, uniformity.csv, tasks/), the figure to
benchmarks/figures/sbc_<model>.png.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="attendance,ratings")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--scenario", default="identified")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--thin", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sbc")
    args = parser.parse_args()

    from mats_eval.calibration import sbc

    for model in args.models.split(","):
        start = time.perf_counter()
        result = sbc(model, args.reps, args.out / model, scenario=args.scenario, scale=args.scale, draws=args.draws,
                     tune=args.tune, chains=args.chains, thin_to=args.thin, workers=args.workers,
                     scheduler=args.scheduler, progress=False)
        shutil.copy(result.folder / f"sbc_{model}.png", HERE / "figures" / f"sbc_{model}.png")
        print(f"== {model}: {len(result.ranks)} replications, {result.failed} failed, "
              f"{int(result.ranks['divergences'].gt(0).sum())} with divergences, {time.perf_counter() - start:.0f} s")
        print(result.uniformity.to_string(index=False, float_format=lambda x: f"{x:.3g}"), flush=True)


if __name__ == "__main__":
    main()
