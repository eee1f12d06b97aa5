"""Build the programme lead's report from a run folder.

`build_report(run_dir, out_dir)` writes `report.html` (self-contained: figures
as base64 PNG, inline CSS, no network) and `report.md` (the same content, with
figures as PNG files in `figures/`) into `out_dir`, atomically.

The report is assembled once as a list of Sections made of Blocks (paragraph,
callout, bullets, table, figure) and rendered twice, so HTML and Markdown
cannot drift apart. Every section degrades to a short note when its input is
missing. Privacy (DATA_CONTRACT.md §3): no per-scholar rows at all, and any
group summary drawn from fewer than MIN_SCHOLARS distinct scholars is suppressed.
"""
from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mats_eval.decisions import plans as decisions

from mats_eval.estimands import kernels as estimands
from mats_eval.estimands.summary import equal_tailed
from mats_eval.data.privacy import SCHOLAR_PREFIX, SPEAKER_PREFIX
from mats_eval.report import plots

MIN_SCHOLARS = 5
SUPPRESSED = f"suppressed: fewer than {MIN_SCHOLARS} scholars"
_PSEUDONYM = re.compile(rf"\b({re.escape(SCHOLAR_PREFIX)}|{re.escape(SPEAKER_PREFIX)})[0-9a-fA-F]{{6,}}\b")


def scrub_ids(text: str) -> str:
    """Free text from run files (e.g. 'R-hat 1.1 (u[sch_ab12cd34ef56])') with pseudonyms masked."""
    return _PSEUDONYM.sub(lambda m: m.group(1) + "…", str(text))

# --- content model ------------------------------------------------------------


@dataclass
class Paragraph:
    text: str


@dataclass
class Callout:
    """A boxed message; level is 'fail' (red), 'warn' (amber) or 'pass' (green)."""

    title: str
    text: str
    level: str = "warn"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class FigureBlock:
    name: str  # file stem in figures/
    png: bytes
    caption: str = ""


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> "Section":
        self.blocks.extend(blocks)
        return self


def _skipped(reason: str) -> Paragraph:
    return Paragraph(f"Skipped: {reason}.")


# --- run folder ---------------------------------------------------------------


@dataclass
class RunFolder:
    """What a run folder holds; every part may be missing (None / empty)."""

    path: Path
    manifest: dict
    diagnostics: dict | None
    effects: pd.DataFrame | None
    crosscheck: pd.DataFrame | None
    check_figures: list[Path]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        return None


def read_run(run_dir: Path) -> RunFolder:
    run_dir = Path(run_dir)
    checks = sorted((run_dir / "checks").rglob("*.png")) if (run_dir / "checks").is_dir() else []
    return RunFolder(
        path=run_dir,
        manifest=_read_json(run_dir / "manifest.json") or {},
        diagnostics=_read_json(run_dir / "diagnostics.json"),
        effects=_read_csv(run_dir / "effects.csv"),
        crosscheck=_read_csv(run_dir / "crosscheck.csv"),
        check_figures=checks,
    )


def manifest_dataset(manifest: dict) -> str | None:
    """The dataset path of a run: manifest['dataset'], else manifest['input']['source']."""
    source = manifest.get("input") if isinstance(manifest.get("input"), dict) else {}
    return manifest.get("dataset") or source.get("source")


def manifest_model(manifest: dict) -> str:
    model = manifest.get("model")
    return str(model.get("name", "unknown") if isinstance(model, dict) else model or "unknown")


def load_run_data(run: RunFolder):
    """(ProgramData | None, note): the dataset named in the manifest, if it can be loaded."""
    dataset = manifest_dataset(run.manifest)
    if not dataset:
        return None, "the manifest names no dataset"
    if not Path(dataset).exists():
        return None, f"the dataset folder {Path(dataset).name!r} named in the manifest was not found"
    try:
        from mats_eval.data.io import load

        return load(dataset), None
    except Exception as exc:  # noqa: BLE001 - a report should still be built
        return None, f"the dataset could not be loaded ({type(exc).__name__})"


def reference_for(data, manifest: dict) -> estimands.Reference | None:
    """The estimands' evaluation point: from the data, else from manifest['reference']."""
    if data is not None:
        return estimands.reference_from(data)
    raw = manifest.get("reference")
    if not isinstance(raw, dict):
        return None
    tuples = {k: tuple(v) for k, v in raw.items() if isinstance(v, list)}
    try:
        return estimands.Reference(**{**raw, **tuples})
    except TypeError:
        return None


def load_canonical_parameters(run_dir: Path, data, kinds: Sequence[str], model: str | None = None):
    """({kind: canonical dict} | None, note) from posterior.nc via the fitted model's spec (models.canonical_parameters)."""
    posterior = Path(run_dir) / "posterior.nc"
    if not posterior.exists():
        return None, "the run folder has no posterior.nc"
    if data is None:
        return None, "the posterior needs the dataset to be interpreted, and it is not available"
    try:
        from mats_eval.models import DEFAULT_MODEL, canonical_parameters
        from mats_eval.runfolder import read_posterior

        idata = read_posterior(posterior)
    except Exception as exc:  # noqa: BLE001
        return None, f"the posterior could not be read ({type(exc).__name__}: {exc})"
    params = {}
    for kind in kinds:
        try:
            params[kind] = canonical_parameters(idata, data, kind=kind, model=model or DEFAULT_MODEL)
        except Exception:  # noqa: BLE001 - a kind the model has no parameters for
            continue
    return (params or None), (None if params else "no canonical parameters could be derived from the posterior")


# --- observed data summaries (no per-scholar rows) ----------------------------


def suppress_small_groups(frame: pd.DataFrame, n_col: str = "scholars") -> pd.DataFrame:
    """Blank every value of rows drawn from < MIN_SCHOLARS distinct scholars, and say so."""
    out = frame.astype(object).copy()
    small = frame[n_col] < MIN_SCHOLARS
    values = [c for c in frame.columns if c not in _label_columns(frame, n_col)]
    out.loc[small, values] = ""
    out.loc[small, n_col] = f"<{MIN_SCHOLARS}"
    out["note"] = np.where(small, SUPPRESSED, "")
    return out


def _label_columns(frame: pd.DataFrame, n_col: str) -> list[str]:
    """Grouping labels are the leading non-numeric columns before the count column."""
    labels = []
    for c in frame.columns:
        if c == n_col or pd.api.types.is_numeric_dtype(frame[c]):
            break
        labels.append(c)
    return labels


def _events(data) -> pd.DataFrame:
    """Attendance rows joined with their session (cohort, week, kind, policy, speaker)."""
    cols = [c for c in ("session_id", "cohort", "week", "kind", "policy", "speaker") if c in data.sessions]
    return data.attendance.merge(data.sessions[cols], on="session_id")


def _rated(data) -> pd.DataFrame | None:
    """Ratings joined with session and cohort scale; value = (rating − min)/(max − min)."""
    if data.ratings is None or not len(data.ratings):
        return None
    cols = [c for c in ("session_id", "cohort", "week", "kind", "policy", "speaker") if c in data.sessions]
    rated = data.ratings.merge(data.sessions[cols], on="session_id").merge(
        data.cohorts[["cohort", "session_scale_min", "session_scale_max"]], on="cohort"
    )
    lo, hi = rated["session_scale_min"].astype(float), rated["session_scale_max"].astype(float)
    return rated.assign(value=(rated["rating"] - lo) / (hi - lo))


def observed_attendance_by_week(data) -> pd.DataFrame:
    """cohort, week, rate, scholars: share attending optional sessions; cells < 5 scholars dropped."""
    events = _events(data)
    optional = events[events["policy"] == "optional"]
    grouped = optional.groupby(["cohort", "week"]).agg(rate=("attended", "mean"), scholars=("scholar_id", "nunique"))
    grouped = grouped.reset_index()
    return grouped[grouped["scholars"] >= MIN_SCHOLARS]


def observed_ratings(data, by: Sequence[str]) -> pd.DataFrame | None:
    """Mean rating (points and 0–1 value), ratings and distinct scholars per group."""
    rated = _rated(data)
    if rated is None:
        return None
    scale = rated["session_scale_min"].astype(int).astype(str) + "–" + rated["session_scale_max"].astype(int).astype(str)
    rated = rated.assign(scale=scale)
    agg = rated.groupby(list(by)).agg(
        scholars=("scholar_id", "nunique"),
        ratings=("rating", "size"),
        mean_rating=("rating", "mean"),
        scale=("scale", lambda s: ", ".join(sorted(set(s)))),
        value=("value", "mean"),
    )
    return agg.reset_index()


def group_summary(data, group: str) -> pd.DataFrame | None:
    """Per group (archetype, stream or speaker): scholars, optional attendance, mean rating value."""
    events = _events(data)
    if group in ("archetype", "stream"):
        if group not in data.scholars or data.scholars[group].isna().all():
            return None
        events = events.merge(data.scholars[["scholar_id", group]], on="scholar_id")
    elif group not in events or events[group].isna().all():
        return None
    events = events.dropna(subset=[group])
    optional = events[events["policy"] == "optional"]
    summary = events.groupby(group).agg(scholars=("scholar_id", "nunique"), sessions=("session_id", "nunique"))
    summary["optional_attendance"] = optional.groupby(group)["attended"].mean()
    rated = _rated(data)
    if rated is not None:
        if group in ("archetype", "stream"):
            rated = rated.merge(data.scholars[["scholar_id", group]], on="scholar_id")
        summary["mean_rating_0_1"] = rated.dropna(subset=[group]).groupby(group)["value"].mean()
    summary = summary.reset_index().rename(columns={group: group})
    summary[group] = summary[group].astype(str)
    return summary.sort_values("scholars", ascending=False, kind="stable")


def policy_confounding(data) -> list[str]:
    """Kinds whose policy changes only between cohorts (never within one): confounded with cohort."""
    notes = []
    for kind, rows in data.sessions.groupby("kind"):
        per_cohort = rows.groupby("cohort")["policy"].agg(lambda s: sorted(set(s)))
        if rows["policy"].nunique() > 1 and all(len(p) == 1 for p in per_cohort):
            which = "; ".join(f"{c}: {p[0]}" for c, p in per_cohort.items())
            notes.append(
                f"{kind.replace('_', ' ')}: policy changes only between cohorts ({which}), so the policy "
                "effect for this kind is confounded with cohort differences (speakers, scholars, season)."
            )
    return notes


# --- headline sentences -------------------------------------------------------


def _prob(p: float) -> str:
    if p > 0.995:
        return ">99%"
    if p < 0.005:
        return "<1%"
    return f"{100 * p:.0f}%"


def _direction(row, down: str, up: str) -> tuple[str, str]:
    """(word, probability) for the direction of the posterior mean."""
    if row["mean"] < 0:
        return down, _prob(1 - row["prob_positive"])
    return up, _prob(row["prob_positive"])


def _interval(row, fmt: str = "+.2f") -> str:
    return f"90% interval {row['hdi_low']:{fmt}} to {row['hdi_high']:{fmt}}"


def _rating_contrast(row, what: str) -> str:
    word, p = _direction(row, "lower", "higher")
    return (f"{what} are rated {abs(row['mean']):.1f} points {word} than optional ones "
            f"({_interval(row, '+.1f')}; probability {p}).")


def _slope(row, subject: str, per: str) -> str:
    word, p = _direction(row, "lowers", "raises")
    return (f"{subject} {word} {per} by {abs(row['mean']):.2f} on the log-odds scale "
            f"({_interval(row)}; probability {p}).")


def _week_slope(row, rows: dict) -> str:
    word, p = _direction(row, "falls", "rises")
    span = ""
    if "attendance_first_week" in rows and "attendance_last_week" in rows:
        first, last = rows["attendance_first_week"]["mean"], rows["attendance_last_week"]["mean"]
        span = f" from {first:.0%} in the first week to {last:.0%} in the last"
    return (f"Attendance of optional sessions {word}{span} ({row['mean']:+.2f} log-odds per week, "
            f"{_interval(row)}; probability it {word} {p}).")


def headline(row, rows: dict) -> str | None:
    """A plain-words sentence for one effects.csv row (None for rows told inside another)."""
    name = row["estimand"]
    if name == "mandatory_minus_optional_rating":
        text = _rating_contrast(row, "Mandatory sessions")
    elif name == "mandatory_minus_optional_retro":
        text = _rating_contrast(row, "In the end-of-programme survey, elements offered as mandatory")
    elif name == "attendance_week_slope":
        text = _week_slope(row, rows)
    elif name in ("attendance_first_week", "attendance_last_week") and "attendance_week_slope" in rows:
        return None
    elif name == "volume_slope_attendance":
        text = _slope(row, "Each extra session of a kind in a week", "attendance")
    elif name == "volume_slope_rating":
        text = _slope(row, "Each extra session of a kind in a week", "ratings")
    elif name == "optimal_sessions_per_week":
        text = (f"Expected valued attendance per scholar-week peaks at about {row['mean']:.1f} sessions a week "
                f"({_interval(row, '.1f')}).")
    elif name == "cohort_sd_rating":
        text = (f"Cohorts differ in how they rate sessions: the spread (sd) of cohort effects is "
                f"{row['mean']:.2f} on the log-odds scale ({_interval(row, '.2f')}).")
    else:
        text = (f"{name}: {row['mean']:.3g} ({row['scale']}; {_interval(row, '.3g')}; "
                f"probability above zero {_prob(row['prob_positive'])}).")
    caveat = _row_caveat(row)
    return text + (f" Caveat: {caveat}" if caveat else "")


def _row_caveat(row) -> str:
    parts = [row[c].strip() for c in ("identification", "note") if c in row and isinstance(row[c], str) and row[c].strip()]
    return scrub_ids(" ".join(p if p.endswith(".") else p + "." for p in parts))


# --- sections -----------------------------------------------------------------


def run_failed(run: RunFolder) -> bool:
    return bool((run.diagnostics or {}).get("passed") is False or run.manifest.get("reliable") is False)


def verdict_section(run: RunFolder) -> Section:
    """The diagnostics gate, first and boxed: red if failed, amber if unknown, green if passed."""
    section = Section("Diagnostics verdict")
    diag = run.diagnostics
    facts = _scalar_facts(diag or {})
    if run_failed(run):
        section.add(Callout("FAILED the diagnostics gate — results are unreliable",
                            "The sampler did not meet the gate (R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no "
                            "divergences). Every number below is shown for diagnosis only; do not base "
                            f"decisions on it. {facts}", "fail"))
    elif diag is None:
        section.add(Callout("Diagnostics unknown", "The run folder has no diagnostics.json; treat the results as unverified.", "warn"))
    else:
        section.add(Callout("Passed the diagnostics gate",
                            f"R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences. {facts}", "pass"))
    problems = (diag or {}).get("failures") or (diag or {}).get("reasons")
    if isinstance(problems, list) and problems:
        section.add(Bullets([scrub_ids(p) for p in problems]))
    if (diag or {}).get("advice"):
        section.add(Paragraph(scrub_ids(f"Advice: {diag['advice']}")))
    return section


def _scalar_facts(diag: dict) -> str:
    facts = [f"{k}: {_fmt_value(v)}" for k, v in diag.items()
             if k not in ("passed", "advice") and isinstance(v, (int, float, str, bool))]
    return scrub_ids("Details — " + "; ".join(facts) + ".") if facts else ""


def _fmt_value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run_info(run: RunFolder) -> Paragraph:
    m = run.manifest
    dataset = manifest_dataset(m)
    dataset = Path(dataset).name if dataset else "unknown"
    return Paragraph(f"Model: {manifest_model(m)} · sampler: {m.get('sampler', 'unknown')} · "
                     f"seed: {m.get('seed', 'unknown')} · dataset: {dataset}. Intervals are 90% highest-density intervals.")


def headline_section(run: RunFolder) -> Section:
    section = Section("Headline findings")
    if run.effects is None or not len(run.effects):
        return section.add(_skipped("the run folder has no effects.csv"))
    rows = {r["estimand"]: r for _, r in run.effects.iterrows()}
    sentences = [s for r in rows.values() if (s := headline(r, rows))]
    if run_failed(run):
        section.add(Paragraph("These findings come from a run that failed the diagnostics gate."))
    return section.add(Bullets(sentences))


def caveats_section(run: RunFolder, data) -> Section:
    section = Section("Identification caveats")
    items = []
    if run.effects is not None:
        for _, row in run.effects.iterrows():
            if caveat := _row_caveat(row):
                items.append(f"{row['estimand']}: {caveat}")
    confounded = (run.diagnostics or {}).get("confounded")
    if confounded:
        if isinstance(confounded, dict):
            items += [scrub_ids(f"{k}: {v}") for k, v in confounded.items()]
        elif isinstance(confounded, list):
            items += [scrub_ids(v) for v in confounded]
        else:
            items.append(scrub_ids(confounded))
    if data is not None:
        items += policy_confounding(data)
    items.append("Who attends optional sessions is self-selected; raw ratings of optional sessions flatter them. "
                 "Model estimates adjust for this only as far as the model includes selection.")
    return section.add(Bullets(items))


def effects_section(run: RunFolder) -> Section:
    section = Section("Effects")
    if run.effects is None or not len(run.effects):
        return section.add(_skipped("the run folder has no effects.csv"))
    needed = {"estimand", "scale", "mean", "hdi_low", "hdi_high"}
    if needed <= set(run.effects.columns):
        section.add(FigureBlock("effects_forest", plots.to_png(plots.forest(run.effects)),
                                "Posterior mean and 90% interval of each estimand, each on its own scale."))
    return section.add(Table(run.effects, "effects.csv (prob_positive = posterior probability the estimand is above zero)"))


def attendance_section(data, params: Mapping | None, ref) -> Section:
    section = Section("Attendance over the programme")
    if data is None:
        return section.add(_skipped("the dataset is not available"))
    observed = observed_attendance_by_week(data)
    if not len(observed):
        return section.add(_skipped(f"no optional sessions with at least {MIN_SCHOLARS} scholars recorded"))
    band = None
    p = (params or {}).get(ref.kind) if ref is not None else None
    if p is not None and "attendance_intercept" in p:
        weeks = np.arange(1, ref.n_weeks + 1)
        draws = np.column_stack([estimands.attendance_probability(_draws(p), w, ref.volume) for w in weeks])
        low, high = decisions.hdi(draws)
        band = pd.DataFrame({"week": weeks, "mean": draws.mean(0), "low": low, "high": high})
    else:
        section.add(Paragraph("No posterior band: the model's parameters are not available."))
    caption = "Share of scholars attending optional sessions, per cohort and week (observed)"
    if band is not None:
        caption += f"; grey band: the model's expectation for a new cohort ({ref.kind}, {ref.volume:.1f} sessions/week)"
    return section.add(FigureBlock("attendance_decay", plots.to_png(plots.attendance_decay(observed, band)), caption + "."))


def ratings_section(data) -> Section:
    section = Section("Ratings by policy and kind")
    if data is None:
        return section.add(_skipped("the dataset is not available"))
    by_kind = observed_ratings(data, ["kind", "policy"])
    if by_kind is None:
        return section.add(_skipped("the dataset has no session ratings"))
    shown = by_kind[by_kind["scholars"] >= MIN_SCHOLARS]
    if len(shown):
        section.add(FigureBlock("ratings_by_policy", plots.to_png(plots.ratings_by_policy(shown)),
                                "Observed mean session rating, scale mapped to 0–1 (raw, not adjusted for cohort or selection)."))
    by_cohort = observed_ratings(data, ["cohort", "kind", "policy"])
    return section.add(
        Table(suppress_small_groups(by_kind), "Observed ratings by kind and policy (value: rating mapped to 0–1)"),
        Table(suppress_small_groups(by_cohort), "Observed ratings by cohort, kind and policy"),
    )


def volume_section(params: Mapping | None, ref) -> Section:
    section = Section("Returns to volume")
    p = (params or {}).get(ref.kind) if ref is not None else None
    if p is None or "rating_mandatory" not in p or "attendance_intercept" not in p:
        return section.add(_skipped("needs both attendance and rating parameters from the posterior"))
    p = estimands.thinned(_draws(p), estimands.CURVE_DRAWS)  # as effects.volume_curve
    grid = np.asarray(ref.volume_grid, dtype=float)
    curve = estimands.valued_attendance_curve(p, ref, grid)
    low, high = decisions.hdi(curve)
    optimum = grid[np.argmax(curve, axis=1)]
    # V* is skewed: its equal-tailed interval covers the truth as claimed, its HDI does not (effects.interval_note)
    opt_low, opt_high = equal_tailed(optimum)
    fig = plots.volume_curve(grid, curve.mean(0), low, high, (float(np.median(optimum)), float(opt_low), float(opt_high)))
    section.add(
        Paragraph(f"Expected valued attendance per scholar-week of optional {ref.kind.replace('_', ' ')}s, "
                  f"U(V) = V · P(attend | V) · value(E[rating | V]), averaged over a {ref.n_weeks}-week programme. "
                  f"It peaks at V* ≈ {np.median(optimum):.1f} sessions a week (90% equal-tailed interval "
                  f"{opt_low:.1f} to {opt_high:.1f}; V* is skewed, and in simulations this interval held the true "
                  "optimum about as often as it claims, the narrowest one only ~80% of the time). "
                  "U(V) does not charge for the research time sessions take; the plan comparison does."),
        FigureBlock("volume_curve", plots.to_png(fig), "U(V) with its 90% band and the optimum V*."),
    )
    if np.mean(optimum >= grid[-1]) > 0.05:
        section.add(Paragraph(f"In {np.mean(optimum >= grid[-1]):.0%} of draws the optimum is at the largest volume "
                              f"considered ({grid[-1]:g}/week): the data do not show where returns turn down."))
    return section


def plans_section(params: Mapping | None, ref, plans_path: Path | None) -> Section | None:
    if plans_path is None:
        return None
    section = Section("Plans for the next cohort")
    if params is None or ref is None:
        return section.add(_skipped("the model's parameters (posterior and dataset) are not available"))
    try:
        plans, utility = decisions.load_plans(plans_path)
        comparison = decisions.evaluate_plans(params, plans, ref, utility)
    except Exception as exc:  # noqa: BLE001 - report the problem, keep the report
        return section.add(_skipped(f"the plans could not be evaluated: {exc}"))
    best = comparison.table.iloc[0]
    return section.add(
        Paragraph(f"Utility per scholar = {utility.value_per_attended_hour:g} × valued hours − "
                  f"{utility.research_hour_cost:g} × attended hours (an hour's value is its expected rating mapped "
                  "to 0–1). P(best) is the posterior probability that a plan has the highest utility; expected "
                  "loss is the utility given up, on average, by choosing it instead of the best plan in each draw."),
        Paragraph(f"Highest expected utility: {best['plan']} (P(best) {_prob(best['prob_best'])}, expected loss {best['expected_loss']:.2f})."),
        Table(comparison.table, "Plan comparison (per scholar over the programme; 90% intervals)"),
        FigureBlock("plan_utility", plots.to_png(plots.plan_utility(comparison.table)), "Utility of each plan."),
        FigureBlock("plan_attendance", plots.to_png(plots.plan_attendance(comparison.by_week)), "Expected attendance by week."),
    )


def crosscheck_section(run: RunFolder) -> Section | None:
    if run.crosscheck is None:
        return None
    section = Section("Naive comparison versus the model")
    frame = run.crosscheck
    if {"estimand", "method", "estimate"} <= set(frame.columns):
        value_cols = [c for c in ("estimate", "se") if c in frame]
        frame = frame.pivot_table(index="estimand", columns="method", values=value_cols, aggfunc="first")
        frame.columns = [f"{method} {stat}" for stat, method in frame.columns]
        frame = frame.reset_index()
    return section.add(
        Paragraph("Naive estimates ignore cohort differences and self-selection; where they disagree with the "
                  "model, the model's adjustment is doing work (and relies on its assumptions)."),
        Table(frame, "crosscheck.csv"),
    )


def checks_section(run: RunFolder) -> Section | None:
    if not run.check_figures:
        return None
    section = Section("Predictive checks")
    for path in run.check_figures:
        stem = "check_" + "_".join(path.relative_to(run.path / "checks").with_suffix("").parts)
        section.add(FigureBlock(stem, path.read_bytes(), path.stem.replace("_", " ")))
    return section


def groups_section(data) -> Section:
    section = Section("Groups (archetype, stream, speaker)")
    if data is None:
        return section.add(_skipped("the dataset is not available"))
    section.add(Paragraph(f"Observed, unadjusted. Groups drawn from fewer than {MIN_SCHOLARS} distinct scholars are suppressed."))
    for group in ("archetype", "stream", "speaker"):
        summary = group_summary(data, group)
        if summary is not None and len(summary):
            section.add(Table(suppress_small_groups(summary), f"By {group}"))
    return section


def _draws(p: Mapping) -> dict[str, np.ndarray]:
    return {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in p.items()}


def report_sections(run: RunFolder, data, params: Mapping | None, ref, plans_path: Path | None, notes: list[str]) -> list[Section]:
    """The report, in reading order (the verdict first)."""
    intro = Section("Run").add(run_info(run))
    if notes:
        intro.add(Bullets(notes))
    sections = [
        verdict_section(run),
        intro,
        headline_section(run),
        caveats_section(run, data),
        effects_section(run),
        attendance_section(data, params, ref),
        ratings_section(data),
        volume_section(params, ref),
        plans_section(params, ref, plans_path),
        crosscheck_section(run),
        checks_section(run),
        groups_section(data),
    ]
    return [s for s in sections if s is not None]


# --- rendering ----------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}caption{text-align:left;font-weight:600;padding:.3rem 0}
.callout{border:2px solid;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
.fail{background:#fde8e8;border-color:#c62828}.fail strong{color:#b71c1c;font-size:1.15rem}
.warn{background:#fff7e0;border-color:#e0a800}.pass{background:#e8f5e9;border-color:#2e7d32}
figure{margin:1rem 0}figure img{max-width:100%}figcaption{font-size:.85rem;color:#555}
"""


def _formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Floats to 3 significant figures, NaN as blank; the same for both renderers."""
    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.3g}"
        return "" if v is None else str(v)
    return frame.apply(lambda col: col.map(cell))


def render_html(title: str, sections: list[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body.extend(_html_block(b) for b in section.blocks)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _html_block(block) -> str:
    match block:
        case Paragraph(text=text):
            return f"<p>{html.escape(text)}</p>"
        case Callout(title=t, text=text, level=level):
            return f'<div class="callout {level}"><strong>{html.escape(t)}</strong><p>{html.escape(text)}</p></div>'
        case Bullets(items=items):
            return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"
        case Table(frame=frame, caption=caption):
            table = _formatted(frame).to_html(index=False, escape=True, border=0)
            return table.replace("<thead>", f"<caption>{html.escape(caption)}</caption><thead>", 1)
        case FigureBlock(name=name, png=png, caption=caption):
            data = base64.b64encode(png).decode("ascii")
            return (f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    raise TypeError(f"unknown block {block!r}")


def render_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += [_md_block(block), ""]
    return "\n".join(lines)


def _md_block(block) -> str:
    match block:
        case Paragraph(text=text):
            return text
        case Callout(title=t, text=text, level=level):
            mark = {"fail": "⛔", "warn": "⚠️", "pass": "✅"}.get(level, "")
            return f"> {mark} **{t}**\n>\n> {text}"
        case Bullets(items=items):
            return "\n".join(f"- {i}" for i in items)
        case Table(frame=frame, caption=caption):
            return (f"*{caption}*\n\n" if caption else "") + markdown_table(_formatted(frame))
        case FigureBlock(name=name, caption=caption):
            return f"![{caption or name}](figures/{name}.png)"
    raise TypeError(f"unknown block {block!r}")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of string cells (pipes escaped)."""
    def row(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
    return "\n".join([row(frame.columns), row(["---"] * frame.shape[1])] + [row(r) for r in frame.itertuples(index=False)])


# --- entry point --------------------------------------------------------------


def _plan_kinds(plans_path: Path | None) -> set[str]:
    """Session kinds the plans file uses (empty if none or unreadable: plans_section reports why)."""
    if plans_path is None:
        return set()
    try:
        plans, _ = decisions.load_plans(plans_path)
    except Exception:  # noqa: BLE001
        return set()
    return {kind for plan in plans for kind in plan.kinds}


def build_report(
    run_dir: Path,
    out_dir: Path,
    data=None,
    plans_path: Path | None = None,
    *,
    params_by_kind: Mapping[str, Mapping] | None = None,
    force: bool = False,
) -> Path:
    """Write report.html, report.md and figures/ into `out_dir` atomically; return the HTML path.

    data: the run's ProgramData (else loaded from manifest['dataset'] when it
    exists). params_by_kind: canonical parameter draws per session kind (else
    derived from posterior.nc with effects.canonical_parameters). An existing
    `out_dir` is replaced only with `force`.
    """
    from mats_eval.data.io import atomic_folder

    run = read_run(Path(run_dir))
    notes = []
    if data is None:
        data, note = load_run_data(run)
        if note:
            notes.append(f"Observed-data sections are skipped: {note}.")
    ref = reference_for(data, run.manifest)
    if params_by_kind is None:
        kinds = sorted(set(data.sessions["kind"]) | _plan_kinds(plans_path)) if data is not None else []
        params_by_kind, note = load_canonical_parameters(run.path, data, kinds, manifest_model(run.manifest))
        if note:
            notes.append(f"Model-based curves and plans are skipped: {note}.")
    sections = report_sections(run, data, params_by_kind, ref, plans_path, notes)
    title = f"Programme evaluation report — {manifest_model(run.manifest)} model"
    with atomic_folder(out_dir, force=force) as tmp:
        (tmp / "report.html").write_text(render_html(title, sections), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(title, sections), encoding="utf-8")
        figures = [b for s in sections for b in s.blocks if isinstance(b, FigureBlock)]
        if figures:
            (tmp / "figures").mkdir()
            for fig in figures:
                (tmp / "figures" / f"{fig.name}.png").write_bytes(fig.png)
    return Path(out_dir) / "report.html"
