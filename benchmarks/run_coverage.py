"""Coverage of 90% HDIs over simulated datasets, and the null false-positive rate (benchmarks/CALIBRATION.md).

    .venv/bin/python benchmarks/run_coverage.py --scenarios null,identified --reps 100 --scale 0.2

Resumable: rerunning the same command skips finished datasets; `--summarise-only` writes the
tables from the datasets finished so far without fitting. Results go to
benchmarks/results/coverage/ (coverage.csv, false_positives.csv, coverage_long.csv,
tasks/), the figure to benchmarks/figures/coverage.png.
"""
from __future__ import annotations

import shutil
import time

from _study import HERE, study_parser


def main() -> None:
    parser = study_parser(__doc__, scale=0.2, out="coverage")
    parser.add_argument("--scenarios", default="null,identified,selection,confounded,mats-history")
    parser.add_argument("--model", default=None, help="default: mats_eval.models.DEFAULT_MODEL")
    parser.add_argument("--summarise-only", action="store_true",
                        help="fit nothing: summarise the datasets already finished in --out")
    args = parser.parse_args()

    from mats_eval.studies.calibration import coverage, write_coverage
    from mats_eval.studies.runner import load_results

    start = time.perf_counter()
    if args.summarise_only:
        if not (args.out / "tasks").is_dir():
            parser.error(f"--summarise-only: no finished datasets in {args.out} (no tasks/ folder)")
        result = write_coverage(load_results(args.out), args.out)
    else:
        result = coverage(args.scenarios.split(","), args.reps, args.out, scale=args.scale, model=args.model,
                          draws=args.draws, tune=args.tune, chains=args.chains, sampler=args.sampler, workers=args.workers,
                          scheduler=args.scheduler, progress=False)
    # only the main study's figure is the committed one; a side study (--out elsewhere) keeps its own
    if (result.folder / "coverage.png").is_file() and args.out == parser.get_default("out"):
        shutil.copy(result.folder / "coverage.png", HERE / "figures" / "coverage.png")
    print(f"== {len(result.long['key'].unique()) if len(result.long) else 0} datasets, {result.failed} failed, "
          f"{time.perf_counter() - start:.0f} s")
    fmt = {"float_format": lambda x: f"{x:.3g}", "index": False}
    print(result.summary.to_string(**fmt))
    print(result.false_positives.to_string(**fmt), flush=True)


if __name__ == "__main__":
    main()
