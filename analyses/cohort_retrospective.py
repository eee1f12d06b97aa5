"""Question 4: the cohort retrospective — the full report (all estimands, cohorts, plans, caveats).

    .venv/bin/python analyses/cohort_retrospective.py [DATASET] [--out DIR] [--plans YAML] [--draws N ...]
"""
import warnings

from _common import DEFAULT_DATASET, REPORTS, ExampleDataset, ExistingRun, analysis

import mats_eval
from mats_eval.cli_options import Plans, optional_out_option

ReportOut = optional_out_option("Output folder: run/ and report/ (default: reports/cohort_retrospective; replaced).")


def main(dataset: ExampleDataset = DEFAULT_DATASET, out: ReportOut = None, plans: Plans = None,
         run: ExistingRun = None, *, fit_settings: dict) -> None:
    out = out or REPORTS / "cohort_retrospective"
    if run is not None:  # the report of an existing run folder, plans evaluated from its decision draws
        from mats_eval.report.build import build_report

        print(f"report: {build_report(run, out / 'report', plans_path=plans, force=True)}")
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="diagnostics gate failed")  # the report says so
        result = mats_eval.run(dataset, out, plans=plans, force=True,
                               **fit_settings)
    print(f"report: {result.report_html}")


if __name__ == "__main__":
    analysis(main, __doc__)
