"""Build the programme lead's report from a run folder, and from nothing else.

`build_report(run_dir, out_dir)` writes `report.html` (self-contained: figures as
base64 PNG, inline CSS, no network) and `report.md` (the same content, figures as
PNG files in `figures/`) into `out_dir`, atomically.

The report is decision-first:
1. what to do next cohort, how sure, and what would change the answer (plans.csv,
   recommendation.json, plan_sensitivity.csv), the diagnostics verdict in one line
   and where the data come from (manifest.json);
2. the evidence, question by question, in the programme's own units (effects.csv
   rows told by the estimand registry's sentences, volume_curve.csv,
   attendance_curve.csv, observed/), each question's caveats said once, there;
3. an appendix: data and method, diagnostics, every estimate, prior sensitivity,
   the naive comparison, predictive checks, the plans in full, per-group tables
   and a glossary.

Every number comes from the run folder as the fit and the decisions wrote it; files
are read by name and a missing one is said in words. The report never reloads the
dataset, never opens posterior.nc and imports no PyMC.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mats_eval.checks.sensitivity import prior_influence
from mats_eval.constants import ESS_MIN, INTERVAL_PROB, MIN_SCHOLARS, RHAT_MAX
from mats_eval.data.observed import GROUPS, SUPPRESSED
from mats_eval.data.privacy import SCHOLAR_PREFIX, SPEAKER_PREFIX
from mats_eval.decisions import plans as decisions
from mats_eval.decisions import recommend
from mats_eval.errors import UsageError
from mats_eval.estimands.registry import ESTIMANDS, INTERVAL_LABELS, interval_words, probability_words
from mats_eval.report import plots
from mats_eval.report.render import (Bullets, Callout, FigureBlock, Paragraph, Section, Table, render_html,
                                     render_markdown)
from mats_eval.runfolder import CHECKS_DIR, FitResult, load_run

_PSEUDONYM = re.compile(rf"\b({re.escape(SCHOLAR_PREFIX)}|{re.escape(SPEAKER_PREFIX)})[0-9a-fA-F]{{6,}}\b")
GATE_WORDS = f"R-hat ≤ {RHAT_MAX}, bulk and tail ESS ≥ {ESS_MIN}, no divergences"
SELECTION_CAVEAT = ("Who attends optional sessions is self-selected; raw ratings of optional sessions flatter them. "
                    "Model estimates adjust for this only as far as the model includes selection.")
UTILITY_UNIT = "research hours per scholar"  # decisions: utility per scholar over the programme
QUESTIONS = {  # the programme's questions, in reading order, with the estimand registry's `question`
    "policy": "Mandatory or optional sessions?",
    "decay": "Does attendance fall over the programme?",
    "volume": "How many sessions a week?",
    "cohorts": "How much do cohorts differ?",
}
PLAN_FILES = ("plans.csv", "plans_by_week.csv", "recommendation.json", "plan_sensitivity.csv")


def scrub_ids(text: str) -> str:
    """Free text from run files (e.g. 'R-hat 1.1 (u[sch_ab12cd34ef56])') with pseudonyms masked."""
    return _PSEUDONYM.sub(lambda m: m.group(1) + "…", str(text))


# --- run folder -----------------------------------------------------------------


def read_run(run_dir: Path) -> FitResult:
    """The run folder without its posterior (the report never needs posterior.nc)."""
    return load_run(run_dir, posterior=False)


def optional_csv(run: FitResult, name: str) -> pd.DataFrame | None:
    """`name` from the run folder, or None when absent (files other helpers may add later)."""
    path = run.path / name
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None


def optional_json(run: FitResult, name: str) -> dict | None:
    path = run.path / name
    return json.loads(path.read_text()) if path.is_file() else None


def run_failed(run: FitResult) -> bool:
    return not run.reliable


def dataset_name(manifest: dict) -> str:
    """The dataset folder's name (never its full path) from manifest['input']['source']."""
    source = manifest.get("input", {}).get("source")
    return Path(source).name if source else "unknown"


def model_name(manifest: dict) -> str:
    return str(manifest.get("model", {}).get("name", "unknown"))


def effect_row(run: FitResult, name: str):
    """The effects.csv row of `name`, or None."""
    rows = run.effects[run.effects["estimand"] == name]
    return rows.iloc[0] if len(rows) else None


def words(name: str) -> str:
    return str(name).replace("_", " ")


# --- sentences --------------------------------------------------------------------


def note_of(row) -> str:
    """effects.csv's note of a row, pseudonyms masked ('' for none)."""
    note = row.get("note", "")
    return scrub_ids(note.strip()) if isinstance(note, str) else ""


def sentence(row) -> str:
    """The registry's plain-words sentence for an effects.csv row."""
    entry = ESTIMANDS.get(row["estimand"])
    if entry is None:  # an estimand this version does not know: its numbers, plainly
        return f"{words(row['estimand'])}: {row['mean']:.3g} ({row['hdi_low']:.3g} to {row['hdi_high']:.3g})."
    return entry.sentence(row)


def provenance(manifest: dict) -> str:
    """Where the data come from: a synthetic scenario and seed when the manifest says so, else the
    dataset folder's name and the date its input hashes were taken."""
    source = manifest.get("input", {})
    synthetic = source.get("synthetic")
    if isinstance(synthetic, dict):
        scale = f", scale {synthetic['scale']:g}" if isinstance(synthetic.get("scale"), (int, float)) else ""
        return (f"Synthetic data: simulated by mats-eval (scenario “{synthetic.get('scenario', '?')}”, seed "
                f"{synthetic.get('seed', '?')}{scale}), not records of a real programme.")
    taken = str(manifest.get("created", ""))[:10] or "an unrecorded date"
    return (f"Data: the dataset folder “{dataset_name(manifest)}”, read on {taken} (its files' SHA-256 hashes are "
            "in the appendix). The run folder does not say whether these data are real or simulated.")


def method_line(manifest: dict) -> str:
    settings = manifest.get("settings", {})
    draws, chains = settings.get("draws"), settings.get("chains")
    size = f"{draws * chains} posterior draws ({chains} chains)" if draws and chains else "posterior draws"
    return (f"Model: {model_name(manifest)}, fitted with {manifest.get('sampler', 'an unrecorded sampler')}, "
            f"{size}, seed {manifest.get('seed', 'unrecorded')}. Ranges are {INTERVAL_PROB:.0%} intervals "
            "(see the glossary).")


# --- the decision -------------------------------------------------------------------


def plan_comparison(run: FitResult, plans_path: Path | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str]:
    """(plans table, weekly table, why missing). Given a plans file: evaluated on the run's decision draws;
    otherwise plans.csv and plans_by_week.csv as the decisions wrote them."""
    if plans_path is not None:
        try:
            comparison = decisions.plans_from_run(run.path, plans_path)
        except UsageError as exc:
            return None, None, f"the plans in {Path(plans_path).name} could not be evaluated: {scrub_ids(exc)}"
        return comparison.table, comparison.by_week, ""
    table = optional_csv(run, "plans.csv")
    if table is None or not len(table):
        return None, None, "the run folder has no plans.csv (no plans were compared)"
    return table.sort_values("expected_loss", kind="stable").reset_index(drop=True), \
        optional_csv(run, "plans_by_week.csv"), ""


def plan_definition(row) -> str:
    """A plan in words from its plans.csv row: a `definition`/`description` column, or the columns
    sessions_per_week_<kind>, policy_<kind>, hours_<kind>, schedule, weeks; '' when plans.csv has none."""
    for column in ("definition", "description"):
        if isinstance(row.get(column), str) and row[column].strip():
            return row[column].strip()
    kinds = [c.removeprefix("sessions_per_week_") for c in row.index if c.startswith("sessions_per_week_")]
    parts = []
    for kind in kinds:
        n = row[f"sessions_per_week_{kind}"]
        if not isinstance(n, (int, float)) or not np.isfinite(n) or n <= 0:
            continue
        policy = row.get(f"policy_{kind}", "")
        hours = row.get(f"hours_{kind}")
        hours = f", {hours:g} h each" if isinstance(hours, (int, float)) and np.isfinite(hours) else ""
        parts.append(f"{n:g} {policy + ' ' if isinstance(policy, str) else ''}{words(kind)}"
                     f"{'s' if n != 1 else ''} a week{hours}")
    if not parts:
        return ""
    schedule = row.get("schedule")
    weeks = row.get("weeks")
    tail = [f"for {weeks:g} weeks" if isinstance(weeks, (int, float)) and np.isfinite(weeks) else "",
            {"even": "the same every week", "front-loaded": "more in the first weeks, fewer later"}.get(
                schedule, f"schedule: {schedule}" if isinstance(schedule, str) and schedule else "")]
    return "; ".join(parts) + "".join(f", {t}" for t in tail if t)


def tied_plans(table: pd.DataFrame, recommendation: dict | None) -> list[str]:
    """The plans the decisions call practically tied with the best (plans.csv `tied_with_best`,
    or recommendation.json's list); [] when neither says."""
    if "tied_with_best" in table:
        flags = table["tied_with_best"].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
        return list(table.loc[flags, "plan"])
    for key in ("tied_plans", "tied", "practically_tied"):
        if isinstance((recommendation or {}).get(key), list):
            return [str(p) for p in recommendation[key]]
    return []


def tie_threshold(table: pd.DataFrame, recommendation: dict | None) -> float | None:
    for key in ("tie_threshold", "tie_threshold_hours", "threshold"):
        for source in ((recommendation or {}), table.iloc[0] if len(table) else {}):
            value = source.get(key) if hasattr(source, "get") else None
            if isinstance(value, (int, float)) and np.isfinite(value):
                return float(value)
    return None


def sensitivity_words(frame: pd.DataFrame | None, best: str) -> str:
    """What would change the answer, from plan_sensitivity.csv: one row per utility setting tried, the
    setting columns and the plan that is best there (`best_plan`, `best` or `winner`); a `sentence` or
    `summary` column is used as written."""
    if frame is None or not len(frame):
        return ("What would change the answer was not computed: the run folder has no plan_sensitivity.csv "
                "(the ranking under other utility settings).")
    for column in ("sentence", "summary"):
        if column in frame:
            return " ".join(str(s) for s in frame[column].dropna().unique())
    plan_column = next((c for c in ("best_plan", "best", "winner") if c in frame), None)
    if plan_column is None:
        return "plan_sensitivity.csv does not name the best plan of each setting, so it cannot be summarised."
    settings = [c for c in frame.columns if c != plan_column and pd.api.types.is_numeric_dtype(frame[c])
                and frame[c].nunique() > 1 and not c.startswith(("prob", "expected", "utility"))]
    ranges = "; ".join(f"{words(c)} {frame[c].min():g} to {frame[c].max():g}" for c in settings)
    others = frame[frame[plan_column] != best]
    if not len(others):
        return f"The recommendation holds at every utility setting tried ({ranges})."
    changes = []
    for plan, rows in others.groupby(plan_column, sort=False):
        where = ", ".join(f"{words(c)} {rows[c].min():g}–{rows[c].max():g}" for c in settings)
        changes.append(f"“{plan}” is best instead when {where}")
    return (f"The answer changes with the utility's settings (tried: {ranges}): " + "; ".join(changes) + ".")


def utility_words(table: pd.DataFrame, recommendation: dict | None) -> str:
    """The utility's settings in words: recommendation.json's own words, else plans.csv's setting columns."""
    if (recommendation or {}).get("utility_words"):
        return f"Utility per scholar over the programme, in research hours: {recommendation['utility_words']}."
    value = table["value_per_attended_hour"].iloc[0] if "value_per_attended_hour" in table else None
    cost = table["research_hour_cost"].iloc[0] if "research_hour_cost" in table else None
    if value is None or cost is None:
        return "Utility: as the decisions computed it (plans.csv does not record its settings)."
    return (f"Utility per scholar over the programme, in research hours: {value:g} × (attended hours, each "
            f"weighted by its expected rating mapped to 0–1) − {cost:g} × (attended hours).")


def decision_blocks(run: FitResult, table: pd.DataFrame | None, recommendation: dict | None,
                    missing: str) -> list:
    """The first screen: the recommendation, how sure, what would change it.

    recommendation.json's sentences when the decisions wrote them (the stored comparison), else
    composed here from the plans table."""
    if table is None:
        return [Callout("No recommendation", f"No plan can be recommended: {missing}. The evidence below still "
                        "answers the programme's questions.", "warn")]
    best = table.iloc[0]
    tied = [p for p in tied_plans(table, recommendation) if p != best["plan"]]
    title = ("Next cohort: the best plans are practically tied" if tied else f"Next cohort: {best['plan']}")
    # the answer in one paragraph, then one short item per plan and per qualifier, so that a lead reading on
    # a phone sees the answer first and can skim the rest (it was one paragraph of ~200 words)
    if recommendation and recommendation.get("sentence"):
        text = recommendation["sentence"]
    else:
        text = composed_recommendation(table, best, tied, recommendation)
    items = [f"“{p}” is {d}." for p in [best["plan"], *tied]
             if (d := plan_definition(table.loc[table["plan"] == p].iloc[0]))]
    items.append(f"Expected loss of choosing “{best['plan']}”: {best['expected_loss']:.2f} {UTILITY_UNIT}, the "
                 "utility given up on average against the plan that is best in each posterior draw.")
    plan_sensitivity = optional_csv(run, "plan_sensitivity.csv") if missing == "" else None
    if (recommendation or {}).get("what_would_change"):
        items.append("What would change the answer: " + recommendation["what_would_change"])
    else:
        items.append(sensitivity_words(plan_sensitivity, str(best["plan"])))
    if run_failed(run):
        return [Callout("Do not act on this yet — " + title[0].lower() + title[1:], text, "fail", items)]
    return [Callout(title, text, "decision", items)]


def composed_recommendation(table: pd.DataFrame, best, tied: list[str], recommendation: dict | None) -> str:
    """The recommendation in words from the plans table alone."""
    sure = f"it is the best plan in {probability_words(best['prob_best'])} of posterior draws"
    if tied:
        threshold = tie_threshold(table, recommendation)
        within = f" within {threshold:g} {UTILITY_UNIT} of one another" if threshold is not None else ""
        return (f"“{best['plan']}” and " + ", ".join(f"“{p}”" for p in tied) + f" have expected utilities{within}: "
                f"the data do not tell them apart, so choose among them on other grounds ({sure.replace('it is', '“' + str(best['plan']) + '” is')}).")
    text = f"Run “{best['plan']}”: {sure}"
    if len(table) > 1:
        runner = table.iloc[1]
        text += (f", and its expected utility is {best['utility_mean'] - runner['utility_mean']:.2f} {UTILITY_UNIT} "
                 f"above the next plan, “{runner['plan']}”")
    return text + "." + recommend.beyond_words(table)


def verdict_block(run: FitResult) -> Callout:
    """The diagnostics gate in one line: passed or failed, in words (the failed checks are listed in the appendix)."""
    if run_failed(run):
        n = len(run.diagnostics.get("failures", []))
        advice = scrub_ids(run.diagnostics.get("advice", "")).strip()
        return Callout("FAILED the diagnostics gate — results are unreliable",
                       f"The sampler missed {n or 'some'} of its checks ({GATE_WORDS}; details in the appendix, “Sampler diagnostics”): every "
                       "number below is shown for diagnosis only." + (f" To fix: {advice}." if advice else ""), "fail")
    return Callout("Passed the diagnostics gate",
                   f"The sampler met every check ({GATE_WORDS}; details in the appendix, “Sampler diagnostics”).", "pass")


def prior_moved(run: FitResult) -> tuple[list[str], list[str]]:
    """(clearly, slightly): estimands whose posterior the prior noticeably moves, by sensitivity.csv's
    diagnosis (the prior dominates, or prior and data conflict: checks/sensitivity.py
    `prior_influential` says why both), split by whether that holds beyond chance (`prior_influence`)."""
    return prior_influence(optional_csv(run, "sensitivity.csv"))


SLIGHTLY_WORDS = "by little more than chance, so another run of the sampler may read them either way"


def few_cohorts_words(run: FitResult) -> str:
    """Why estimates for a new cohort lean on the prior when the data have few cohorts ('' otherwise)."""
    cohorts = {row[0] for row in (run.reference.observed_volumes if run.reference is not None else ())}
    if not 0 < len(cohorts) <= 4:
        return ""
    return (f" With {len(cohorts)} cohorts, how much a new cohort can differ from them is set mostly by the prior, "
            "and every estimate for a new cohort carries that spread.")


def summary_section(run: FitResult, plans_path: Path | None) -> tuple[Section, tuple]:
    """The first screen; returns the section and the plan comparison it used (for the plans section)."""
    table, by_week, missing = plan_comparison(run, plans_path)
    # recommendation.json describes the stored comparison, not plans given to the report
    recommendation = optional_json(run, "recommendation.json") if plans_path is None else None
    section = Section("What to do next cohort")
    section.add(*decision_blocks(run, table, recommendation, missing), verdict_block(run),
                Paragraph(provenance(run.manifest) + " " + method_line(run.manifest)))
    clearly, slightly = prior_moved(run)
    where = " (appendix, “Sensitivity to the priors”)"
    sentences = []
    if clearly:
        sentences.append("The prior noticeably moves these estimates: " + ", ".join(words(n) for n in clearly) + where + ".")
    if slightly:
        sentences.append(("It also moves these" if clearly else "The prior moves these estimates") + ", " + SLIGHTLY_WORDS
                         + ": " + ", ".join(words(n) for n in slightly) + ("" if clearly else where) + ".")
    if sentences:
        section.add(Paragraph(" ".join(sentences) + few_cohorts_words(run)))
    return section, (table, by_week, missing, recommendation)


# --- the evidence, question by question ----------------------------------------------


def question_rows(run: FitResult, question: str) -> list:
    return [row for _, row in run.effects.iterrows()
            if getattr(ESTIMANDS.get(row["estimand"]), "question", None) == question]


def caveats(run: FitResult, question: str, extra: list[str] = ()) -> Callout | None:
    """The caveats of one question, each once: its effects rows' notes, then `extra`, then the
    estimands the prior dominates."""
    said: set[str] = set()
    items = []
    rows = question_rows(run, question)
    present = {row["estimand"] for row in rows}
    # an averaged twin's caveats are its reference-point estimand's, up to rounding: said once, there
    rows = [row for row in rows if getattr(ESTIMANDS.get(row["estimand"]), "twin_of", None) not in present]
    for note in [note_of(row) for row in rows] + list(extra):
        # notes are '; '-joined clauses and several estimands share one (e.g. a confounded volume)
        fresh = [c for c in note.split("; ") if c and c.lower() not in said]
        said |= {c.lower() for c in fresh}
        for bullet in labelled_bullets(fresh):
            items.append(bullet)
    clearly, slightly = ([n for n in names if getattr(ESTIMANDS.get(n), "question", None) == question]
                         for names in prior_moved(run))
    if clearly:
        items.append("the prior noticeably moves " + ", ".join(words(n) for n in clearly))
    if slightly:
        items.append("the prior moves " + ", ".join(words(n) for n in slightly) + " " + SLIGHTLY_WORDS)
    if not items:
        return None
    return Callout("Caveats", "", "warn", [item[0].upper() + item[1:] + ("" if item.endswith(".") else ".")
                                           for item in items])


_LABEL = re.compile(r"^[a-z][a-z ]*: ")  # "tipping point: ...", "unobserved selection: ...", "censored: ..."


def labelled_bullets(clauses: list[str]) -> list[str]:
    """Clauses grouped into bullets: a clause that opens with a label ('tipping point: …') starts a new
    bullet, any other continues the one before (one note's clauses about one thing stay together)."""
    bullets: list[list[str]] = []
    for clause in clauses:
        if not bullets or _LABEL.match(clause):
            bullets.append([clause])
        else:
            bullets[-1].append(clause)
    return ["; ".join(b) for b in bullets]


def _observed(run: FitResult, name: str) -> pd.DataFrame | None:
    return (run.observed or {}).get(name)


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of an observed table that are not suppressed."""
    return table[table["note"] != SUPPRESSED] if "note" in table else table


def between_cohort_caveat(run: FitResult, notes: str) -> list[str]:
    """Kinds whose policy changed only between cohorts (diagnostics' identification), unless a note says it."""
    by_kind = run.diagnostics.get("identification", {}).get("sessions", {}).get("by_kind", {})
    between = sorted(words(kind) for kind, how in by_kind.items() if how == "between_cohorts")
    if not between or "between cohorts" in notes:
        return []
    return [f"policy changed only between cohorts for {', '.join(between)}: for these kinds the policy effect is "
            "confounded with cohort differences (speakers, scholars, season)"]


def policy_section(run: FitResult) -> Section:
    section = Section(QUESTIONS["policy"])
    rows = question_rows(run, "policy")
    if rows:
        section.add(Bullets([sentence(r) for r in rows]))
    else:
        section.add(Paragraph("The model fitted has no policy contrast (no mandatory-versus-optional rows in "
                              "effects.csv)."))
    split = relevance_split(run)
    if split is not None:
        section.add(split)
    by_kind = _observed(run, "ratings_by_kind_policy")
    notes = " ".join(note_of(r) for r in rows)
    if by_kind is not None and len(shown := _shown(by_kind)):
        section.add(ratings_figure(shown))
    elif by_kind is None:
        section.add(Paragraph("No observed ratings to show: the run folder has no observed/ratings_by_kind_policy.csv."))
    return section.add(caveats(run, "policy", between_cohort_caveat(run, notes) + [SELECTION_CAVEAT]))


def relevance_split(run: FitResult) -> Callout | None:
    """The mandatory–optional gap split into the policy itself and which sessions people sit through
    (the relevance model's two rows), with what a programme could do about each; None without topics."""
    own, part = (effect_row(run, n) for n in ("mandatory_minus_optional_rating_at_equal_relevance",
                                               "relevance_part_of_rating_gap"))
    if own is None or part is None:
        return None
    total = own["mean"] + part["mean"]
    items = [f"The policy itself: {own['mean']:+.2f} points ({interval_words(own, '+.2f')}), what making a session "
             "mandatory costs for sessions equally relevant to the scholar.",
             f"Which sessions people sit through: {part['mean']:+.2f} points ({interval_words(part, '+.2f')}): under "
             "an optional policy scholars pick sessions on their own research stream; a mandatory one includes "
             "sessions off it."]
    if own["hdi_low"] <= 0 <= own["hdi_high"]:
        advice = ("The data do not show that mandating costs anything by itself: a mandatory core of sessions "
                  "relevant to every stream (general topics) should rate like optional ones, while stream-specific "
                  "sessions are better left optional.")
    else:
        advice = ("Mandating costs ratings by itself, beyond which sessions people sit through; where sessions "
                  "are made mandatory, choosing ones relevant to every stream avoids the second part.")
    return Callout("Why mandatory sessions rate lower", f"Among the sessions scholars attend, the mandatory–optional gap "
                   f"is about {total:+.2f} points, in two parts:", "decision", items + [advice])


def ratings_figure(shown: pd.DataFrame) -> FigureBlock:
    """Observed mean ratings by kind and policy, on the rating scale when every row shares one."""
    scales = shown["scale"].dropna().unique() if "scale" in shown else []
    one_scale = len(scales) == 1 and re.fullmatch(r"(-?\d+)\D+(-?\d+)", str(scales[0]))
    if one_scale:
        low, high = (float(x) for x in one_scale.groups())
        column, label, limits = "mean_rating", f"mean rating ({scales[0]} scale)", (low, high)
        fmt = lambda v: f"{v:.1f}"  # noqa: E731
    else:
        column, label, limits = "value", "mean rating (0 = scale minimum, 1 = maximum)", (0, 1)
        fmt = lambda v: f"{v:.2f}"  # noqa: E731
    gaps = []
    for kind, rows in shown.groupby("kind"):
        by = rows.set_index("policy")[column]
        if {"mandatory", "optional"} <= set(by.index):
            gaps.append(f"{words(kind)}s: mandatory {fmt(by['mandatory'])}, optional {fmt(by['optional'])}")
    alt = ("Observed mean ratings, " + "; ".join(gaps) + f" ({label})." if gaps else
           "Observed mean ratings by kind and policy; no kind was run both ways.")
    return FigureBlock("ratings_by_policy", plots.to_png(plots.ratings_by_policy(shown, column, label, limits)), alt,
                       "Observed mean session rating by kind and policy: raw averages, not adjusted for cohort "
                       "or for who chose to attend.")


def decay_section(run: FitResult) -> Section:
    section = Section(QUESTIONS["decay"])
    rows = question_rows(run, "decay")
    if rows:
        section.add(Bullets([sentence(r) for r in rows]))
    observed = _observed(run, "attendance_by_week")
    if observed is None or not len(observed):
        section.add(Paragraph(f"No attendance figure: no optional sessions with at least {MIN_SCHOLARS} scholars "
                              "are recorded in the run folder (observed/attendance_by_week.csv)."))
    else:
        band, ref = run.attendance_curve, run.reference
        caption = "Lines: observed share of scholars attending optional sessions, per cohort and week."
        if band is not None and len(band) and ref is not None:
            first, last = band.iloc[0], band.iloc[-1]
            alt = (f"A new cohort is expected to attend {first['mean']:.0%} of optional {words(ref.kind)}s in week "
                   f"{first['week']:g} and {last['mean']:.0%} in week {last['week']:g}; observed cohorts shown as lines.")
            caption += (f" Grey band: the model's expectation for a new cohort (optional {words(ref.kind)}s in "
                        f"weeks of {ref.volume:.1f} sessions of all kinds) with its {band['interval'].iloc[0]}.")
        else:
            week_means = observed.groupby("week")["rate"].mean()
            alt = (f"Observed attendance of optional sessions averages {week_means.iloc[0]:.0%} in week "
                   f"{week_means.index[0]} and {week_means.iloc[-1]:.0%} in week {week_means.index[-1]}.")
            caption += " No model band: the run folder has no attendance_curve.csv."
        section.add(FigureBlock("attendance_decay", plots.to_png(plots.attendance_decay(observed, band)), alt, caption))
    return section.add(caveats(run, "decay"))


def volume_section(run: FitResult) -> Section:
    """U(V) from volume_curve.csv; V* is the effects.csv row, marked on the curve as it stands there."""
    section = Section(QUESTIONS["volume"])
    rows = question_rows(run, "volume")
    if rows:
        section.add(Bullets([sentence(r) for r in rows]))
    curve, optimum, ref = run.volume_curve, effect_row(run, "optimal_sessions_per_week"), run.reference
    if curve is None or not len(curve) or optimum is None or ref is None:
        section.add(Paragraph("No volume curve: the run folder has no volume_curve.csv (the model needs both "
                              "attendance and ratings for it)."))
        return section.add(caveats(run, "volume"))
    observed = observed_volumes(optional_json(run, "reference.json") or {})
    extrapolated = (curve["extrapolated"].astype(str).str.lower().isin(("true", "1")).to_numpy()
                    if "extrapolated" in curve else None)
    figure = plots.volume_curve(curve["volume"], curve["mean"], curve["hdi_low"], curve["hdi_high"],
                                (optimum["mean"], optimum["hdi_low"], optimum["hdi_high"]), observed, extrapolated,
                                ylabel=f"utility per scholar-week ({UTILITY_UNIT.split(' per ')[0]})")
    where = ""
    if observed:
        where = (" Dotted lines: the sessions a week (all kinds) past cohorts ran ("
                 + ", ".join(f"{c} {v:g}" for c, v in observed.items()) + ").")
    if extrapolated is not None and extrapolated.any():
        covered = curve.loc[~extrapolated, "volume"]
        where += (f" Outside {covered.min():g} to {covered.max():g} sessions a week (grey) the curve is an "
                  "extrapolation, not data." if len(covered) else " The whole curve is an extrapolation.")
    elif extrapolated is None:
        where += " The run folder does not say which volumes the data cover (volume_curve.csv has no extrapolated column)."
    peak = curve.loc[curve["mean"].idxmax()]
    alt = (f"Expected utility per scholar-week peaks near {optimum['mean']:.1f} sessions a week "
           f"({optimum['hdi_low']:.1f} to {optimum['hdi_high']:.1f}), at about {peak['mean']:.2f} {UTILITY_UNIT} "
           "a week.")
    section.add(FigureBlock("volume_curve", plots.to_png(figure), alt,
                            "Expected utility per scholar-week of a programme of V sessions a week (every kind "
                            f"counts towards the load; each valued as a one-hour optional {words(ref.kind)}; the "
                            "plans' utility, per week), with its "
                            f"{INTERVAL_PROB:.0%} band; orange: the best volume and its {optimum['interval']} "
                            "interval." + where))
    return section.add(caveats(run, "volume"))


def observed_volumes(reference: dict) -> dict[str, float]:
    """{'MATS 3.0': 6.0, ...} from reference.json's observed_volumes ([cohort, sessions a week, weeks] rows),
    each cohort at the volume it ran for the most weeks."""
    rows = reference.get("observed_volumes")
    if isinstance(rows, dict):
        return {str(c): float(v) for c, v in rows.items()}
    best: dict[str, tuple[int, float]] = {}
    for row in rows or []:
        cohort, volume, weeks = (list(row) + [1])[:3]
        if cohort not in best or weeks > best[cohort][0]:
            best[str(cohort)] = (weeks, float(volume))
    return {c: v for c, (_, v) in best.items()}


def cohorts_section(run: FitResult) -> Section:
    section = Section(QUESTIONS["cohorts"])
    rows = question_rows(run, "cohorts")
    if rows:
        section.add(Bullets([sentence(r) for r in rows]))
    table = cohort_table(run)
    if table is not None:
        section.add(Table(table, "Observed, per cohort (raw, unadjusted; blank where fewer than "
                                 f"{MIN_SCHOLARS} scholars)"))
    return section.add(caveats(run, "cohorts"))


def cohort_table(run: FitResult) -> pd.DataFrame | None:
    """Per cohort: mean weekly optional attendance and mean rating (0–1), from observed/."""
    attendance, ratings = _observed(run, "attendance_by_week"), _observed(run, "ratings_by_cohort_kind_policy")
    parts = []
    if attendance is not None and len(attendance):
        parts.append(attendance.groupby("cohort")["rate"].mean().map(lambda v: f"{v:.0%}")
                     .rename("optional attendance (weekly mean)"))
    if ratings is not None and len(ratings):
        shown = _shown(ratings)
        weighted = shown.assign(w=shown["value"] * shown["ratings"]).groupby("cohort")[["w", "ratings"]].sum()
        parts.append((weighted["w"] / weighted["ratings"]).map(lambda v: f"{v:.2f}")
                     .rename("mean rating (0–1)"))
        parts.append(shown.groupby("cohort")["ratings"].sum().astype(int).rename("ratings"))
    if not parts:
        return None
    return pd.concat(parts, axis=1).rename_axis("cohort").reset_index().fillna("")


# --- plans ---------------------------------------------------------------------------


def plans_section(run: FitResult, table: pd.DataFrame | None, by_week: pd.DataFrame | None,
                  recommendation: dict | None, missing: str) -> Section | None:
    """Each plan in words with its expected utility, P(best) and expected loss; figures."""
    if table is None and not missing.startswith("the plans in"):
        return None
    section = Section("The plans compared")
    if table is None:
        return section.add(Paragraph(f"Not shown: {missing}."))
    definitions = [plan_definition(r) for _, r in table.iterrows()]
    section.add(Paragraph(utility_words(table, recommendation) + " P(best): the share of posterior draws in which a plan has the "
                          "highest utility. Expected loss: the utility given up, on average over draws, by choosing "
                          "the plan instead of the best plan of each draw."))
    if not any(definitions):
        section.add(Paragraph("plans.csv does not define the plans (no description or sessions-per-week columns): "
                              "their names are all this report can show; the plans file has the definitions."))
    tied = set(tied_plans(table, recommendation))
    beyond = any(decisions.beyond_reason(row) for _, row in table.iterrows())
    shown = pd.DataFrame({
        "plan": table["plan"],
        **({"what it is": definitions} if any(definitions) else {}),
        f"expected utility ({UTILITY_UNIT})": table["utility_mean"].map(lambda v: f"{v:.2f}"),
        "P(best)": table["prob_best"].map(probability_words),
        **({"tied with the best": ["yes" if p in tied else "no" for p in table["plan"]]} if len(tied) > 1 else {}),
        f"expected loss ({UTILITY_UNIT})": table["expected_loss"].map(lambda v: f"{v:.2f}"),
        **({"within the data": [f"no: {r}" if (r := decisions.beyond_reason(row)) else "yes"
                                for _, row in table.iterrows()]} if beyond else {}),
    })
    section.add(Table(shown, "Plans, best first (full table in the appendix)"))
    best = table.iloc[0]
    section.add(FigureBlock(
        "plan_utility", plots.to_png(plots.plan_utility(table, UTILITY_UNIT)),
        f"“{best['plan']}” has the highest expected utility, {best['utility_mean']:.2f} {UTILITY_UNIT}; "
        f"the lowest is “{table.iloc[-1]['plan']}” at {table.iloc[-1]['utility_mean']:.2f}.",
        f"Expected utility of each plan with its {INTERVAL_PROB:.0%} interval; best at the top."))
    if by_week is not None and len(by_week) and "kind" in by_week:
        overall = by_week[by_week["kind"] == "all"]
        first = overall.groupby("plan", sort=False)["attendance_mean"].first()
        last = overall.groupby("plan", sort=False)["attendance_mean"].last()
        alt = "Expected attendance in the first and last week: " + "; ".join(
            f"{p}: {first[p]:.0%} to {last[p]:.0%}" for p in first.index) + "."
        section.add(FigureBlock("plan_attendance", plots.to_png(plots.plan_attendance(by_week)), alt,
                                "Expected share of offered sessions attended, by week, under each plan "
                                f"(all kinds together), with {INTERVAL_PROB:.0%} bands."))
    return section


# --- appendix ------------------------------------------------------------------------


def appendix_data(run: FitResult) -> Section:
    m = run.manifest
    section = Section("Data and method", level=3).add(
        Paragraph(provenance(m) + " " + method_line(m)),
        Paragraph("Estimates are posterior summaries of a Bayesian model fitted to every session, attendance "
                  "record and rating; each estimand is a function of the model's parameters evaluated for a new "
                  "cohort (the reference below). Observed tables and figures are raw averages."))
    hashes = m.get("input", {}).get("sha256") or {}
    if hashes:
        section.add(Table(pd.DataFrame({"input file": list(hashes), "SHA-256 (first 16 hex digits)":
                                        [str(h)[:16] for h in hashes.values()]}),
                          f"The input files, as read on {str(m.get('created', ''))[:10] or 'an unrecorded date'}"))
    if run.reference is not None:
        ref = run.reference
        section.add(Paragraph(f"Reference for the estimands: a new cohort of {ref.n_weeks} weeks; optional "
                              f"{words(ref.kind)}s in weeks of {ref.volume:.1f} sessions of all kinds; session "
                              "ratings on a "
                              f"{ref.session_scale[0]}–{ref.session_scale[1]} scale."))
    return section


def appendix_diagnostics(run: FitResult) -> Section:
    diag = run.diagnostics
    limits = diag.get("thresholds", {})
    checks = [("largest R-hat", "rhat_max", f"≤ {limits.get('rhat_max', RHAT_MAX)}",
               lambda v: v <= limits.get("rhat_max", RHAT_MAX)),
              ("smallest bulk ESS", "ess_bulk_min", f"≥ {limits.get('ess_min', ESS_MIN)}",
               lambda v: v >= limits.get("ess_min", ESS_MIN)),
              ("smallest tail ESS", "ess_tail_min", f"≥ {limits.get('ess_min', ESS_MIN)}",
               lambda v: v >= limits.get("ess_min", ESS_MIN)),
              ("divergent transitions", "divergences", f"≤ {limits.get('divergences', 0)}",
               lambda v: v <= limits.get("divergences", 0)),
              ("smallest BFMI", "bfmi_min", f"≥ {limits.get('bfmi_min', 0.3)}",
               lambda v: v >= limits.get("bfmi_min", 0.3))]
    rows = [{"check": name, "value": f"{diag[key]:.4g}", "limit": limit, "result": "pass" if ok(diag[key]) else "FAIL"}
            for name, key, limit, ok in checks if isinstance(diag.get(key), (int, float))]
    section = Section("Sampler diagnostics", level=3).add(verdict_block(run))
    extended = diag.get("extended")
    if extended:
        section.add(Paragraph(
            f"The first run of {extended['draws_before']} draws per chain missed the gate narrowly: "
            + "; ".join(scrub_ids(f) for f in extended["failures_before"])
            + f". More draws cure such slow mixing, so the model was sampled again with {extended['draws']} "
              "draws per chain (the same seed); the results and the checks below come from that second run."))
    if diag.get("failures"):
        section.add(Bullets([scrub_ids(p) for p in diag["failures"]]))
    if rows:
        section.add(Table(pd.DataFrame(rows), f"Diagnostics of {diag.get('draws_total', 'all')} posterior draws"))
    identification = identification_words(diag.get("identification", {}))
    if identification:
        section.add(Paragraph("How the data identify the policy effect: " + identification))
    coverage = diag.get("predictive_coverage") or {}
    if coverage:
        section.add(Table(pd.DataFrame({"predictive check": [words(k) for k in coverage],
                                        "observed points inside the 90% predictive band": [
                                            f"{v:.0%}" for v in coverage.values()]}),
                          "Predictive checks (figures under “Predictive checks”)"))
    loo = diag.get("loo") or []
    if loo:
        section.add(Table(pd.DataFrame([{"outcome": words(r.get("variable", "")), "ELPD (LOO)": r.get("elpd_loo"),
                                         "SE": r.get("se"), "largest Pareto k": r.get("pareto_k_max")} for r in loo]),
                          "Leave-one-out fit (Pareto k above 0.7 makes an ELPD unreliable)"))
    return section


HOW_POLICY_VARIES = {"between_cohorts": "changed only between cohorts", "within_cohorts": "changed within cohorts",
                     "constant": "never changed"}


def identification_words(identification: dict) -> str:
    """diagnostics.json's identification as sentences: for sessions and survey elements, where the policy
    changed (the caveats it implies are said once, with the question they qualify)."""
    out = []
    for part, key, label in (("sessions", "by_kind", "Session kinds"), ("retro", "by_element", "Survey elements")):
        by = (identification.get(part) or {}).get(key) or {}
        groups: dict[str, list[str]] = {}
        for name, how in by.items():
            groups.setdefault(HOW_POLICY_VARIES.get(how, words(how)), []).append(words(name))
        if groups:
            out.append(f"{label}: " + "; ".join(f"policy {how} for {', '.join(names)}" for how, names in groups.items())
                       + ".")
    return " ".join(out)


def appendix_estimates(run: FitResult) -> Section:
    effects = run.effects
    section = Section("Every estimate", level=3)
    if not len(effects):
        return section.add(Paragraph("effects.csv has no rows."))
    table = pd.DataFrame({
        "estimand": effects["estimand"],
        "meaning": [getattr(ESTIMANDS.get(n), "meaning", "") for n in effects["estimand"]],
        "unit": effects["scale"],
        "estimate": effects["mean"].map(lambda v: f"{v:.3g}"),
        f"{INTERVAL_PROB:.0%} interval": [f"{lo:.3g} to {hi:.3g}" for lo, hi in zip(effects["hdi_low"],
                                                                                    effects["hdi_high"])],
        "kind of interval": effects["interval"] if "interval" in effects else INTERVAL_LABELS["hdi"],
        "P(above 0)": effects["prob_positive"].map(probability_words),
    })
    return section.add(
        Table(table, "effects.csv (caveats are given with each question above)"),
        FigureBlock("effects_forest", plots.to_png(plots.forest(effects)),
                    "Posterior mean and 90% interval of every estimand, one panel each, on its own scale.",
                    f"Posterior mean and {INTERVAL_PROB:.0%} interval of each estimand, each on its own scale "
                    "(dashed line: zero, where zero means no effect)."))


def how_computed(row: dict) -> str:
    """A prior_sensitivity.csv row's method and whether it can be trusted, in words."""
    trusted = str(row.get("reliable", "")).lower() == "true"
    if row.get("method") == "refitted":
        return "refitted under this prior" + ("" if trusted else ": the refit's gate failed, indicative only")
    if row.get("scale_factor") == 1.0 and row.get("prior") == "default":
        return "the fit itself"
    return "reweighted" + ("" if trusted else ": not reliable (Pareto k > 0.7), refit to be sure")


def appendix_sensitivity(run: FitResult) -> Section:
    section = Section("Sensitivity to the priors", level=3)
    frame = optional_csv(run, "sensitivity.csv")
    if frame is not None and len(frame):
        columns = [c for c in ("estimand", "prior_sensitivity", "likelihood_sensitivity", "diagnosis",
                               "prior_dominated") if c in frame]
        section.add(Table(frame[columns].rename(columns=lambda c: words(c)),
                          "Power-scaling sensitivity (sensitivity.csv): how much each estimate moves when the "
                          "prior or the likelihood is scaled up or down"))
    if run.prior_sensitivity is not None and len(run.prior_sensitivity):
        ps = run.prior_sensitivity
        section.add(Table(pd.DataFrame({
            "estimand": ps["estimand"], "prior": ps["prior"],
            "estimate": ps["mean"].map(lambda v: f"{v:.3g}"),
            f"{INTERVAL_PROB:.0%} interval": [f"{lo:.3g} to {hi:.3g}" for lo, hi in zip(ps["hdi_low"], ps["hdi_high"])],
            "how computed": [how_computed(row) for row in ps.to_dict("records")],
        }), "The policy contrasts under wider and narrower priors (prior_sensitivity.csv: the posterior draws "
            "reweighted to that prior, or a refit under it where the reweighting cannot be trusted)"))
    if not section.blocks:
        section.add(Paragraph("Not computed: the run folder has neither sensitivity.csv nor prior_sensitivity.csv."))
    return section


def appendix_crosscheck(run: FitResult) -> Section | None:
    if run.crosscheck is None or not len(run.crosscheck):
        return None
    frame = run.crosscheck
    table = pd.DataFrame({"estimand": frame["estimand"], "method": frame["method"].map(words),
                          "estimate": frame["estimate"].map(lambda v: f"{v:.3g}"),
                          "standard error": frame["se"].map(lambda v: f"{v:.2g}")})
    model = run.effects.set_index("estimand")["mean"]
    table["model estimate"] = frame["estimand"].map(lambda n: f"{model[n]:.3g}" if n in model else "")
    return Section("Naive and frequentist estimates versus the model", level=3).add(
        Paragraph("Naive estimates ignore cohort differences and self-selection; where they disagree with the "
                  "model, the model's adjustment is doing work (and relies on its assumptions)."),
        Table(table, "crosscheck.csv"))


def appendix_checks(run: FitResult) -> Section | None:
    folder = run.path / CHECKS_DIR
    figures = sorted(folder.rglob("*.png")) if folder.is_dir() else []
    if not figures:
        return None
    section = Section("Predictive checks", level=3).add(Paragraph(
        "Data simulated from the prior (before seeing the data) and from the posterior (after), against the "
        "observed data: the posterior bands should cover the observations."))
    for path in figures:
        stem = "check_" + "_".join(path.relative_to(folder).with_suffix("").parts)
        title = words(path.stem).replace("posterior ", "posterior predictive: ").replace("prior ", "prior predictive: ")
        section.add(FigureBlock(stem, path.read_bytes(), f"Predictive check, {title}.", title))
    return section


def appendix_plans(run: FitResult, table: pd.DataFrame | None, stored: bool) -> Section | None:
    """plans.csv in full, and the best plan over the grid of utility settings (plan_sensitivity.csv)."""
    if table is None:
        return None
    keep = [c for c in table.columns if c not in UTILITY_COLUMNS and c != "plan"]
    full = table.set_index("plan")[keep].T  # one column per plan: as many columns as plans, not as quantities
    full.index = [words(c) for c in full.index]
    section = Section("The plans in full", level=3).add(
        Table(full.rename_axis("quantity").reset_index(), "plans.csv, one column per plan: means per scholar "
                                                          "over the programme; utility interval: 90% HDI"))
    grid = sensitivity_grid(optional_csv(run, "plan_sensitivity.csv") if stored else None)
    if grid is not None:
        section.add(Table(grid, "The best plan under other utility settings (plan_sensitivity.csv): rows, what an "
                                "attended hour costs in research hours; columns, what an attended top-rated hour "
                                "is worth in research hours"))
    return section


UTILITY_COLUMNS = ("value_per_attended_hour", "research_hour_cost", "tie_threshold", "worthless_below")


def sensitivity_grid(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """plan_sensitivity.csv as a cost × value grid of best plans ('A (tied: B)' where tied)."""
    needed = {"value_per_attended_hour", "research_hour_cost", "best_plan"}
    if frame is None or not needed <= set(frame.columns):
        return None
    tied = frame["tied_plans"] if "tied_plans" in frame else pd.Series("", index=frame.index)
    cell = frame["best_plan"].astype(str) + tied.map(lambda t: f" (tied: {t})" if isinstance(t, str) and t else "")
    grid = frame.assign(cell=cell).pivot_table(index="research_hour_cost", columns="value_per_attended_hour",
                                               values="cell", aggfunc="first")
    grid.columns = [f"worth {v:g}" for v in grid.columns]
    return grid.rename_axis("cost").reset_index().assign(cost=lambda g: g["cost"].map(lambda v: f"{v:g}"))


def appendix_groups(run: FitResult) -> Section:
    section = Section("Groups: archetype, stream, speaker", level=3)
    tables = [(g, t) for g in GROUPS if (t := _observed(run, f"groups_{g}")) is not None and len(t)]
    if not tables:
        return section.add(Paragraph("The dataset records no archetypes, streams or speakers."))
    section.add(Paragraph(f"Observed, unadjusted. Groups drawn from fewer than {MIN_SCHOLARS} distinct scholars "
                          f"are suppressed ({SUPPRESSED}). Speakers are pseudonymised."))
    return section.add(*[Table(table.rename(columns=words), f"By {group}") for group, table in tables])


GLOSSARY = [
    f"Interval: a range holding the quantity with {INTERVAL_PROB:.0%} posterior probability, given the model "
    "and the data.",
    "HDI (highest-density interval): the narrowest such range. Equal-tailed interval: the range that leaves 5% "
    "of the posterior below and 5% above; used for skewed quantities (the best volume, the half-life).",
    "Probability (e.g. 'probability 97%'): the posterior probability that the effect has the stated direction.",
    "Log-odds: the scale of the models' linear parts; a change of 0.1 in log-odds moves a 50% probability by "
    "about 2.5 percentage points.",
    f"R-hat: agreement between independent sampler chains; values above {RHAT_MAX} mean the chains have not "
    "converged.",
    f"ESS (effective sample size): how many independent draws the correlated draws are worth; below {ESS_MIN} "
    "the intervals are imprecise.",
    "P(best): the share of posterior draws in which a plan has the highest utility.",
    f"Expected loss: the utility ({UTILITY_UNIT}) given up, on average over posterior draws, by choosing a plan "
    "instead of the plan that is best in each draw; a plan with a small expected loss is a safe choice even "
    "when its P(best) is modest.",
    "Valued attendance: sessions attended, each weighted by its expected rating mapped to 0–1 (scale minimum "
    "0, maximum 1).",
]


def appendix_sections(run: FitResult, table: pd.DataFrame | None, stored: bool) -> list[Section]:
    sections = [Section("Appendix").add(Paragraph("Methods, diagnostics and detail tables.")),
                appendix_data(run), appendix_diagnostics(run), appendix_estimates(run), appendix_sensitivity(run),
                appendix_crosscheck(run), appendix_checks(run), appendix_plans(run, table, stored), appendix_groups(run),
                Section("Glossary", level=3).add(Bullets(GLOSSARY))]
    sections = [s for s in sections if s is not None]
    for letter, section in zip("ABCDEFGHIJKLMNOP", sections[1:]):  # lettered as they appear
        section.title = f"{letter}. {section.title}"
    return sections


def report_sections(run: FitResult, plans_path: Path | None) -> list[Section]:
    """The report in reading order: the decision, the evidence per question, the plans, the appendix."""
    summary, (table, by_week, missing, recommendation) = summary_section(run, plans_path)
    sections = [summary, policy_section(run), decay_section(run), volume_section(run), cohorts_section(run),
                plans_section(run, table, by_week, recommendation, missing)]
    return [s for s in sections if s is not None] + appendix_sections(run, table, plans_path is None)


# --- entry point ----------------------------------------------------------------------


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
    title = "Programme evaluation report"
    with atomic_folder(Path(out_dir), force=force) as tmp:
        (tmp / "report.html").write_text(render_html(title, sections), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(title, sections), encoding="utf-8")
        figures = [b for s in sections for b in s.blocks if isinstance(b, FigureBlock)]
        if figures:
            (tmp / "figures").mkdir()
            for fig in figures:
                (tmp / "figures" / f"{fig.name}.png").write_bytes(fig.png)
    return Path(out_dir) / "report.html"
