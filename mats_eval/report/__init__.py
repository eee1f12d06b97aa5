"""The programme lead's report: `build_report(run_dir, out_dir, ...)` → report.html + report.md."""
from mats_eval.report.build import build_report

__all__ = ["build_report"]
