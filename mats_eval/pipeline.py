"""The whole job in one call: validate → fit → effects → decisions → report.

    run(dataset, out) writes  out/run/    (the contract's run folder, plus plans.csv,
                                           plans_by_week.csv, plan_sensitivity.csv and
                                           recommendation.json: the plans on its decision draws)
                              out/report/ (report.html, report.md, figures, built from out/run/ alone)
atomically: `out` appears whole or not at all, also when the fit fails the
diagnostics gate (then it is written, marked unreliable, and the caller is told).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mats_eval.errors import UsageError

DEFAULT_PLANS = Path(__file__).resolve().parents[1] / "analyses" / "plans" / "example.yaml"


@dataclass
class PipelineResult:
    """Where everything went, and the fit itself (for notebooks)."""

    out: Path
    run_dir: Path
    report_html: Path
    fit: object  # FitResult

    @property
    def reliable(self) -> bool:
        return bool(self.fit.reliable)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[mats-eval] {message}", flush=True)


def run(
    dataset,
    out: Path | str,
    plans: Path | str | None = None,
    force: bool = False,
    progress: bool = True,
    **fit_options,
) -> PipelineResult:
    """Validate `dataset`, fit (the relevance model with session topics, else the joint model, unless
    `model` is given), write run folder and report under `out`.

    `plans` is a plans YAML (default: analyses/plans/example.yaml when it exists;
    pass "" to skip plans), read before the fit (a bad file fails fast) and evaluated once on
    the run folder's decision draws. `fit_options` go to `mats_eval.inference.fitting.fit`.
    """
    from mats_eval.data.io import atomic_folder, load
    from mats_eval.decisions.plans import load_plans
    from mats_eval.inference.fitting import fit
    from mats_eval.models import default_model_for
    from mats_eval.report.build import build_report

    out = Path(out)
    if out.exists() and not force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    plans_path = _plans_path(plans)
    if plans_path is not None:
        load_plans(plans_path)  # validate now, not after minutes of sampling
    _say(progress, f"validating {dataset}")
    data = load(dataset)
    _say(progress, f"valid: {len(data.scholars)} scholars, {len(data.sessions)} sessions, "
                   f"{len(data.attendance)} attendance rows")
    with atomic_folder(out, force=force) as tmp:
        # chosen here once, so what is said is what is fitted
        fit_options = {**fit_options, "model": fit_options.get("model") or default_model_for(data)}
        _say(progress, f"fitting the {fit_options['model']} model (first run compiles, ~1 min)")
        result = fit(data, out=tmp / "run", progress=progress, **fit_options)
        _say(progress, "diagnostics gate " + ("passed" if result.reliable else "FAILED: results marked unreliable"))
        unevaluated = _add_plans(tmp / "run", plans_path)
        _say(progress, "building the report")
        # from the run folder alone; given plans it could not evaluate, the report says why
        build_report(tmp / "run", tmp / "report", plans_path=unevaluated)
    return PipelineResult(out=out, run_dir=out / "run", report_html=out / "report" / "report.html", fit=result)


def _add_plans(run_dir: Path, plans_path: Path | None) -> Path | None:
    """Write the plan comparison into the run folder; returns `plans_path` if it could not be evaluated."""
    from mats_eval.decisions.plans import plans_from_run, write_plans

    if plans_path is None:
        return None
    try:
        write_plans(run_dir, plans_from_run(run_dir, plans_path))
    except UsageError:  # e.g. a plan uses a kind the data do not have
        return plans_path
    return None


def _plans_path(plans) -> Path | None:
    if plans is None:
        return DEFAULT_PLANS if DEFAULT_PLANS.exists() else None
    if str(plans) == "":
        return None
    path = Path(plans)
    if not path.exists():
        raise UsageError(f"plans file {path} does not exist")
    return path
