"""Coverage of 90% HDIs over simulated datasets, and the null false-positive rate (benchmarks/CALIBRATION.md).

    .venv/bin/python benchmarks/run_coverage.py --scenarios null,identified --reps 100 --scale 0.2

Resumable: rerunning the same command skips finished datasets. Results go to
benchmarks/results/coverage/ (coverage.csv, false_positives.csv, coverage_long.csv,
tasks/), the figure to benchmarks/figures/coverage.png.
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
    parser.add_argument("--scenarios", default="null,identified,selection,confounded,mats-history")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--model", default=None, help="default: mats_eval.models.DEFAULT_MODEL")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "coverage")
    args = parser.parse_args()

    from mats_eval.calibration import coverage

    start = time.perf_counter()
    result = coverage(args.scenarios.split(","), args.reps, args.out, scale=args.scale, model=args.model,
                      draws=args.draws, tune=args.tune, chains=args.chains, workers=args.workers,
                      scheduler=args.scheduler, progress=False)
    if (result.folder / "coverage.png").is_file():
        shutil.copy(result.folder / "coverage.png", HERE / "figures" / "coverage.png")
    print(f"== {len(result.long['key'].unique()) if len(result.long) else 0} datasets, {result.failed} failed, "
          f"{time.perf_counter() - start:.0f} s")
    fmt = {"float_format": lambda x: f"{x:.3g}", "index": False}
    print(result.summary.to_string(**fmt))
    print(result.false_positives.to_string(**fmt), flush=True)


if __name__ == "__main__":
    main()
