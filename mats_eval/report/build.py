"""Build the programme lead's report from a run folder, and from nothing else.

`build_report(run_dir, out_dir)` writes `report.html` (self-contained: figures
as base64 PNG, inline CSS, no network) and `report.md` (the same content, with
figures as PNG files in `figures/`) into `out_dir`, atomically.

Every number comes from the run folder as the fit wrote it (runfolder.py lists
the files): effects.csv (one value and one interval per estimand, the sentences
from the estimand registry), volume_curve.csv, attendance_curve.csv, observed/
(aggregated data, small groups already suppressed), plans.csv or, given a plans
file, decision_draws.nc with reference.json. The report never reloads the
dataset, never opens posterior.nc and imports no PyMC.

The report is assembled once as a list of Sections made of Blocks (paragraph,
callout, bullets, table, figure) and rendered twice, so HTML and Markdown
cannot drift apart. A section whose input the run folder lacks says so.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mats_eval.constants import ESS_MIN, INTERVAL_PROB, MIN_SCHOLARS, RHAT_MAX
from mats_eval.data.observed import GROUPS, SUPPRESSED
from mats_eval.data.privacy import SCHOLAR_PREFIX, SPEAKER_PREFIX
from mats_eval.decisions import plans as decisions
from mats_eval.errors import UsageError
from mats_eval.estimands.registry import ESTIMANDS, probability_words
from mats_eval.report import plots
from mats_eval.runfolder import CHECKS_DIR, FitResult, load_run

_PSEUDONYM = re.compile(rf"\b({re.escape(SCHOLAR_PREFIX)}|{re.escape(SPEAKER_PREFIX)})[0-9a-fA-F]{{6,}}\b")
GATE_WORDS = f"R-hat ≤ {RHAT_MAX}, bulk and tail ESS ≥ {ESS_MIN}, no divergences"
SELECTION_CAVEAT = ("Who attends optional sessions is self-selected; raw ratings of optional sessions flatter them. "
                    "Model estimates adjust for this only as far as the model includes selection.")


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


def read_run(run_dir: Path) -> FitResult:
    """The run folder without its posterior (the report never needs posterior.nc)."""
    return load_run(run_dir, posterior=False)


def run_failed(run: FitResult) -> bool:
    return not run.reliable


def dataset_name(manifest: dict) -> str:
    """The dataset folder's name (never its full path) from manifest['input']['source']."""
    source = manifest.get("input", {}).get("source")
    return Path(source).name if source else "unknown"


def model_name(manifest: dict) -> str:
    return str(manifest.get("model", {}).get("name", "unknown"))


# --- sentences ------------------------------------------------------------------


def note_of(row) -> str:
    """effects.csv's note of a row, pseudonyms masked ('' for none)."""
    note = row.get("note", "")
    return scrub_ids(note.strip()) if isinstance(note, str) else ""


def sentence(row) -> str:
    """The registry's plain-words sentence for an effects.csv row, pointing to its caveat if it has one."""
    text = ESTIMANDS[row["estimand"]].sentence(row)
    return text + (" (See the caveats below.)" if note_of(row) else "")


def effect_row(run: FitResult, name: str):
    """The effects.csv row of `name`, or None."""
    rows = run.effects[run.effects["estimand"] == name]
    return rows.iloc[0] if len(rows) else None


# --- sections -----------------------------------------------------------------


def verdict_section(run: FitResult) -> Section:
    """The diagnostics gate, first and boxed: red if failed, green if passed."""
    section = Section("Diagnostics verdict")
    diag = run.diagnostics
    facts = _scalar_facts(diag)
    if run_failed(run):
        section.add(Callout("FAILED the diagnostics gate — results are unreliable",
                            f"The sampler did not meet the gate ({GATE_WORDS}). Every number below is shown for "
                            f"diagnosis only; do not base decisions on it. {facts}", "fail"))
    else:
        section.add(Callout("Passed the diagnostics gate", f"{GATE_WORDS}. {facts}", "pass"))
    if diag.get("failures"):
        section.add(Bullets([scrub_ids(p) for p in diag["failures"]]))
    if diag.get("advice"):
        section.add(Paragraph(scrub_ids(f"Advice: {diag['advice']}")))
    return section


def _scalar_facts(diag: dict) -> str:
    facts = [f"{k}: {_fmt_value(v)}" for k, v in diag.items()
             if k not in ("passed", "advice", "confounded") and isinstance(v, (int, float, str, bool))]
    return scrub_ids("Details — " + "; ".join(facts) + ".") if facts else ""


def _fmt_value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run_info(run: FitResult) -> Paragraph:
    m = run.manifest
    return Paragraph(f"Model: {model_name(m)} · sampler: {m.get('sampler', 'unknown')} · "
                     f"seed: {m.get('seed', 'unknown')} · dataset: {dataset_name(m)}. Intervals are "
                     f"{INTERVAL_PROB:.0%} intervals: highest-density unless the effects table's `interval` "
                     "column says equal-tailed.")


def headline_section(run: FitResult) -> Section:
    section = Section("Headline findings")
    if not len(run.effects):
        return section.add(_skipped("effects.csv has no rows"))
    if run_failed(run):
        section.add(Paragraph("These findings come from a run that failed the diagnostics gate."))
    return section.add(Bullets([sentence(row) for _, row in run.effects.iterrows()]))


def caveats_section(run: FitResult) -> Section:
    """Each caveat once: the effects rows' notes (identification, extrapolation), the kinds whose
    policy changes only between cohorts (diagnostics' identification), and self-selection."""
    items = [f"{row['estimand']}: {note}" for _, row in run.effects.iterrows() if (note := note_of(row))]
    by_kind = run.diagnostics.get("identification", {}).get("sessions", {}).get("by_kind", {})
    between = sorted(kind for kind, how in by_kind.items() if how == "between_cohorts")
    if between:
        items.append("Policy changes only between cohorts for " + ", ".join(k.replace("_", " ") for k in between)
                     + ": for these kinds the policy effect is confounded with cohort differences "
                       "(speakers, scholars, season).")
    items.append(SELECTION_CAVEAT)
    return Section("Identification caveats").add(Bullets(items))


def effects_section(run: FitResult) -> Section:
    section = Section("Effects")
    if not len(run.effects):
        return section.add(_skipped("effects.csv has no rows"))
    return section.add(
        FigureBlock("effects_forest", plots.to_png(plots.forest(run.effects)),
                    f"Posterior mean and {INTERVAL_PROB:.0%} interval of each estimand, each on its own scale."),
        Table(run.effects.drop(columns="note"),
              "effects.csv (prob_positive = posterior probability the estimand is above zero; interval = which "
              "90% interval hdi_low and hdi_high hold; the notes are the caveats above)"),
    )


def _observed(run: FitResult, name: str) -> pd.DataFrame | None:
    return (run.observed or {}).get(name)


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of an observed table that are not suppressed."""
    return table[table["note"] != SUPPRESSED]


def attendance_section(run: FitResult) -> Section:
    section = Section("Attendance over the programme")
    observed = _observed(run, "attendance_by_week")
    if observed is None or not len(observed):
        return section.add(_skipped(f"no optional sessions with at least {MIN_SCHOLARS} scholars recorded"))
    band, ref = run.attendance_curve, run.reference
    caption = "Share of scholars attending optional sessions, per cohort and week (observed)"
    if band is not None and ref is not None:
        caption += (f"; grey band: the model's expectation for a new cohort ({ref.kind}, {ref.volume:.1f} "
                    f"sessions/week) with its {band['interval'].iloc[0]}")
    else:
        section.add(Paragraph("No model band: the run folder has no attendance_curve.csv (the model has no "
                              "attendance part)."))
    figure = plots.attendance_decay(observed, band)
    return section.add(FigureBlock("attendance_decay", plots.to_png(figure), caption + "."))


def ratings_section(run: FitResult) -> Section:
    section = Section("Ratings by policy and kind")
    by_kind = _observed(run, "ratings_by_kind_policy")
    if by_kind is None:
        return section.add(_skipped("the dataset has no session ratings"))
    shown = _shown(by_kind)
    if len(shown):
        section.add(FigureBlock("ratings_by_policy", plots.to_png(plots.ratings_by_policy(shown)),
                                "Observed mean session rating, scale mapped to 0–1 (raw, not adjusted for cohort or selection)."))
    section.add(Table(by_kind, "Observed ratings by kind and policy (value: rating mapped to 0–1)"))
    by_cohort = _observed(run, "ratings_by_cohort_kind_policy")
    if by_cohort is not None:
        section.add(Table(by_cohort, "Observed ratings by cohort, kind and policy"))
    return section


def volume_section(run: FitResult) -> Section:
    """U(V) from volume_curve.csv; V* is the effects.csv row, marked on the curve as it stands there."""
    section = Section("Returns to volume")
    curve, optimum, ref = run.volume_curve, effect_row(run, "optimal_sessions_per_week"), run.reference
    if curve is None or not len(curve) or optimum is None or ref is None:
        return section.add(_skipped("the model has no attendance and rating parts (no volume_curve.csv)"))
    fig = plots.volume_curve(curve["volume"], curve["mean"], curve["hdi_low"], curve["hdi_high"],
                             (optimum["mean"], optimum["hdi_low"], optimum["hdi_high"]))
    return section.add(
        Paragraph(f"U(V) = V · P(attend | V) · value(E[rating | V]) is the valued attendance of optional "
                  f"{ref.kind.replace('_', ' ')}s, averaged over a {ref.n_weeks}-week programme. "
                  + ESTIMANDS["optimal_sessions_per_week"].sentence(optimum)
                  + " U(V) does not charge for the research time sessions take; the plan comparison does."),
        FigureBlock("volume_curve", plots.to_png(fig),
                    f"U(V) with its {INTERVAL_PROB:.0%} band, and the optimum V* with its {optimum['interval']} "
                    "interval (the effects.csv row)."),
    )


def plans_section(run: FitResult, plans_path: Path | None) -> Section | None:
    """The plan comparison: the given plans file on the run's decision draws, else the run's plans.csv."""
    section = Section("Plans for the next cohort")
    try:
        comparison = decisions.plans_from_run(run.path, plans_path)
    except UsageError as exc:
        return section.add(_skipped(f"the plans could not be evaluated: {exc}"))
    if comparison is None:
        return None
    utility, best = comparison.settings, comparison.table.iloc[0]
    return section.add(
        Paragraph(f"Utility per scholar = {utility.value_per_attended_hour:g} × valued hours − "
                  f"{utility.research_hour_cost:g} × attended hours (an hour's value is its expected rating mapped "
                  "to 0–1). P(best) is the posterior probability that a plan has the highest utility; expected "
                  "loss is the utility given up, on average, by choosing it instead of the best plan in each draw."),
        Paragraph(f"Highest expected utility: {best['plan']} (P(best) {probability_words(best['prob_best'])}, "
                  f"expected loss {best['expected_loss']:.2f})."),
        Table(comparison.table, f"Plan comparison (per scholar over the programme; {INTERVAL_PROB:.0%} HDIs)"),
        FigureBlock("plan_utility", plots.to_png(plots.plan_utility(comparison.table)), "Utility of each plan."),
        FigureBlock("plan_attendance", plots.to_png(plots.plan_attendance(comparison.by_week)), "Expected attendance by week."),
    )


def crosscheck_section(run: FitResult) -> Section | None:
    if run.crosscheck is None:
        return None
    frame = run.crosscheck.pivot_table(index="estimand", columns="method", values=["estimate", "se"],
                                       aggfunc="first")
    frame.columns = [f"{method} {stat}" for stat, method in frame.columns]
    return Section("Naive comparison versus the model").add(
        Paragraph("Naive estimates ignore cohort differences and self-selection; where they disagree with the "
                  "model, the model's adjustment is doing work (and relies on its assumptions)."),
        Table(frame.reset_index(), "crosscheck.csv"),
    )


def checks_section(run: FitResult) -> Section | None:
    folder = run.path / CHECKS_DIR
    figures = sorted(folder.rglob("*.png")) if folder.is_dir() else []
    if not figures:
        return None
    section = Section("Predictive checks")
    for path in figures:
        stem = "check_" + "_".join(path.relative_to(folder).with_suffix("").parts)
        section.add(FigureBlock(stem, path.read_bytes(), path.stem.replace("_", " ")))
    return section


def groups_section(run: FitResult) -> Section:
    section = Section("Groups (archetype, stream, speaker)")
    tables = [(g, t) for g in GROUPS if (t := _observed(run, f"groups_{g}")) is not None and len(t)]
    if not tables:
        return section.add(_skipped("the dataset records no archetypes, streams or speakers"))
    section.add(Paragraph(f"Observed, unadjusted. Groups drawn from fewer than {MIN_SCHOLARS} distinct scholars "
                          "are suppressed."))
    return section.add(*[Table(table, f"By {group}") for group, table in tables])


def report_sections(run: FitResult, plans_path: Path | None) -> list[Section]:
    """The report, in reading order (the verdict first)."""
    sections = [
        verdict_section(run),
        Section("Run").add(run_info(run)),
        headline_section(run),
        caveats_section(run),
        effects_section(run),
        attendance_section(run),
        ratings_section(run),
        volume_section(run),
        plans_section(run, plans_path),
        crosscheck_section(run),
        checks_section(run),
        groups_section(run),
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


def build_report(run_dir: Path | str, out_dir: Path | str, plans_path: Path | str | None = None,
                 force: bool = False) -> Path:
    """Write report.html, report.md and figures/ into `out_dir` atomically; return the HTML path.

    Reads only the run folder `run_dir`. `plans_path`: a plans YAML to compare on the run's
    decision draws (default: the comparison stored at fit time, if any). An existing
    `out_dir` is replaced only with `force`.
    """
    from mats_eval.data.io import atomic_folder

    run = read_run(Path(run_dir))
    sections = report_sections(run, Path(plans_path) if plans_path is not None else None)
    title = f"Programme evaluation report — {model_name(run.manifest)} model"
    with atomic_folder(Path(out_dir), force=force) as tmp:
        (tmp / "report.html").write_text(render_html(title, sections), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(title, sections), encoding="utf-8")
        figures = [b for s in sections for b in s.blocks if isinstance(b, FigureBlock)]
        if figures:
            (tmp / "figures").mkdir()
            for fig in figures:
                (tmp / "figures" / f"{fig.name}.png").write_bytes(fig.png)
    return Path(out_dir) / "report.html"
