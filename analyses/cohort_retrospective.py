"""Question 4: the cohort retrospective — the full report (all estimands, cohorts, plans, caveats).

    python analyses/cohort_retrospective.py [DATASET] [--out DIR]
"""
from _common import arguments, output_folder

from mats_eval.pipeline import run


def main() -> None:
    args = arguments(__doc__, default_model="joint")
    result = run(args.dataset, output_folder(args, "cohort_retrospective"), force=True,
                 model=args.model, draws=args.draws, tune=args.tune, seed=args.seed)
    print(f"report: {result.report_html}")


if __name__ == "__main__":
    main()
