"""The estimand registry: one entry per estimand, the only list of them in the package.

An entry says what the estimand is called, its unit, which canonical parameters
its kernel needs, the kernel itself (a plain array function of the canonical
parameter dict and the Reference: `kernels.py`), which 90% interval it reports
(HDI or equal-tailed, chosen here as data) and the sentence the report uses.
effects.csv, truth.json, the report, the analyses, calibration, power and the
docs all iterate over `ESTIMANDS`; adding an estimand is one `Estimand(...)`
below, its kernel and its test (ARCHITECTURE.md).

Canonical parameters are the names of kernels.py's module docstring; a model
maps its posterior onto them (`ModelSpec.canonical`), the simulator writes them
directly, so truth and estimate go through the same kernel.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mats_eval.data.reference import Reference
from mats_eval.estimands import kernels as k

HDI = "hdi"
EQUAL_TAILED = "eti"
INTERVAL_LABELS = {HDI: "90% HDI", EQUAL_TAILED: "90% equal-tailed"}

# Canonical parameters each family of kernels reads (see kernels.py).
ATTENDANCE = ("attendance_intercept", "attendance_kind_ref", "attendance_volume", "attendance_week_slope",
              "attendance_cohort_sd", "attendance_scholar_sd", "attendance_session_sd")
RATING = ("rating_kind_ref", "rating_mandatory", "rating_volume", "rating_week", "rating_cutpoints_ref",
          "rating_cohort_sd", "rating_scholar_sd")
RELEVANCE = ("relevant_share", "attendance_relevance", "rating_relevance")
RETRO = ("retro_element_ref", "retro_mandatory", "retro_cutpoints_ref", "retro_cohort_sd", "retro_scholar_sd")


@dataclass(frozen=True)
class Estimand:
    """One decision-relevant quantity (a row of effects.csv).

    meaning: one line for the docs (`mats-eval estimands`) and the report's glossary.
    kernel(p, ref) -> draws: p maps canonical names to arrays over draws.
    sentence(row) -> plain words for the report, from the effects.csv row (a mapping).
    note(draws, ref) -> '' or a caveat for effects.csv's `note` (e.g. extrapolation).
    applies(ref) -> whether the data define the estimand at all (e.g. a retro scale exists).
    costly: skipped where only the cheap estimands are wanted (studies ranking many fits).
    twin_of: the reference-point estimand this one averages over the data's sessions; its caveats are
    that one's (up to rounding), so the report states them once, under the twin.
    """

    name: str
    scale: str
    meaning: str
    needs: tuple[str, ...]
    kernel: Callable[[Mapping, Reference], np.ndarray]
    sentence: Callable[[Mapping], str]
    question: str
    interval: str = HDI
    note: Callable[[np.ndarray, Reference], str] | None = None
    applies: Callable[[Reference], bool] | None = None
    costly: bool = False
    twin_of: str | None = None

    def defined_by(self, p: Mapping, ref: Reference) -> bool:
        """True when `p` holds every parameter the kernel needs and the data define the estimand."""
        return all(n in p for n in self.needs) and (self.applies is None or self.applies(ref))


# --- plain words -------------------------------------------------------------

def probability_words(p: float) -> str:
    """'>99%', '<1%' or a whole percentage."""
    if p > 0.995:
        return ">99%"
    if p < 0.005:
        return "<1%"
    return f"{100 * p:.0f}%"


def interval_words(row: Mapping, fmt: str = "+.2f") -> str:
    """'90% HDI −0.8 to −0.2' with the estimand's own interval kind."""
    label = INTERVAL_LABELS.get(row.get("interval", HDI), row.get("interval", "90% interval"))
    if not str(label).startswith("90%"):
        label = f"90% {label}"
    return f"{label} {row['hdi_low']:{fmt}} to {row['hdi_high']:{fmt}}"


def _direction(row: Mapping, down: str, up: str) -> tuple[str, str]:
    """(word, probability of that direction) for the sign of the posterior mean."""
    if row["mean"] < 0:
        return down, probability_words(1 - row["prob_positive"])
    return up, probability_words(row["prob_positive"])


def _rating_gap(subject: str) -> Callable[[Mapping], str]:
    def sentence(row: Mapping) -> str:
        word, p = _direction(row, "lower", "higher")
        return (f"{subject} are rated {abs(row['mean']):.1f} points {word} than optional ones "
                f"({interval_words(row, '+.1f')}; probability {p}).")
    return sentence


def _slope(subject: str, outcome: str) -> Callable[[Mapping], str]:
    def sentence(row: Mapping) -> str:
        word, p = _direction(row, "lowers", "raises")
        return (f"{subject} {word} {outcome} by {abs(row['mean']):.2f} on the log-odds scale "
                f"({interval_words(row)}; probability {p}).")
    return sentence


def _week_slope(row: Mapping) -> str:
    word, p = _direction(row, "falls", "rises")
    return (f"Attendance of optional sessions {word} by {abs(row['mean']):.2f} log-odds per programme week "
            f"({interval_words(row)}; probability it {word} {p}).")


def _attendance_in(week_words: str) -> Callable[[Mapping], str]:
    def sentence(row: Mapping) -> str:
        return (f"A new cohort would attend {row['mean']:.0%} of optional sessions in the {week_words} "
                f"({interval_words(row, '.0%')}).")
    return sentence


def _optimum(row: Mapping) -> str:
    return (f"Valued attendance net of the research time it takes (the plans' default utility) peaks at about "
            f"{row['mean']:.1f} sessions a week of all kinds together, valued as optional sessions of the main "
            f"kind ({interval_words(row, '.1f')}), searched within the weekly loads the data cover.")


def _cohort_sd(row: Mapping) -> str:
    return (f"Cohorts differ in how they rate sessions: the spread (sd) of cohort effects is {row['mean']:.2f} "
            f"on the log-odds scale ({interval_words(row, '.2f')}).")


def _cohort_spread_points(row: Mapping) -> str:
    return (f"In rating points: a cohort one sd above the typical one rates an optional session about "
            f"{row['mean']:.1f} points higher than a cohort one sd below ({interval_words(row, '.1f')}).")


def _half_life(row: Mapping) -> str:
    return (f"Optional attendance of a new cohort halves after about {row['mean']:.1f} weeks "
            f"({interval_words(row, '.1f')}).")


def _relevance_part(row: Mapping) -> str:
    word = "lower" if row["mean"] < 0 else "higher"
    return (f"Because scholars pick the optional sessions that concern them, and sit through every mandatory "
            f"one, mandatory sessions' ratings come out {abs(row['mean']):.1f} points {word} for that reason alone "
            f"({interval_words(row, '+.1f')}).")


def _averaged(sentence: Callable[[Mapping], str]) -> Callable[[Mapping], str]:
    """The reference-point sentence, said of the sessions the programme actually ran."""
    def averaged(row: Mapping) -> str:
        text = sentence(row)
        return "Averaged over the sessions this programme ran, " + text[0].lower() + text[1:]
    return averaged


def _has_session_cells(ref: Reference) -> bool:
    return bool(ref.session_cells)


def _attendance_gap(row: Mapping) -> str:
    word, p = _direction(row, "lower", "higher")
    return (f"Attendance of a mandatory session is {abs(row['mean']):.0f} percentage points {word} than of an "
            f"optional one of the same kind and week ({interval_words(row, '+.0f')}; probability {p}).")


# --- notes ---------------------------------------------------------------------

def _optimum_note(draws: np.ndarray, ref: Reference) -> str:
    """V* is searched within the weekly volumes the data cover (ref.volume_grid); a draw at the edge of
    that range says returns had not turned there, and a value beyond the range is extrapolated."""
    draws = np.asarray(draws)
    lo, hi = ref.volume_range
    notes = []
    beyond = float(np.mean(ref.is_extrapolated(draws)))
    if beyond > 0:
        notes.append(f"extrapolated: in {beyond:.0%} of draws the optimum lies outside the {lo:g}–{hi:g} "
                     "sessions a week the data cover")
    for edge, words in ((hi, "more"), (lo, "fewer")):
        share = float(np.mean(np.isclose(draws, edge)))
        if share > 0.05 and lo < hi:
            notes.append(f"in {share:.0%} of draws the optimum is at the edge of the data ({edge:g}/week): "
                         f"{words} sessions might pay more, but beyond the data is extrapolation")
    if lo == hi:
        notes.append(f"the data show one weekly volume only ({lo:g}): no optimum can be learnt from them")
    return "; ".join(notes)


def _unobserved_selection_note(draws: np.ndarray, ref: Reference) -> str:
    """The tipping point of selection the data cannot see. Say a scholar who chose an optional session
    rates it Δ points higher than one who skipped it would have, given everything observed: optional
    ratings then overstate the cohort's by ≈ Δ (mandatory sessions are attended by nearly everyone),
    and the policy contrast is really estimate + Δ. Δ* brings the 90% interval's upper end to zero."""
    from mats_eval.estimands.intervals import hdi

    draws = np.asarray(draws, dtype=float)
    mean, (_, high) = float(draws.mean()), hdi(draws)
    if mean >= 0:
        return ("unobserved selection: if scholars who choose optional sessions would rate them higher for "
                "reasons the data do not show, the true contrast is larger still")
    if high >= 0:
        return (f"unobserved selection: the interval already includes zero; if scholars who choose an optional "
                f"session would rate it {abs(mean):.2f} points higher than those who skip it, for reasons the "
                f"data do not show, the estimate would vanish")
    return (f"unobserved selection: if scholars who choose an optional session would rate it {abs(high):.2f} "
            f"points higher than those who skip it, for reasons the data do not show, the interval would reach "
            f"zero; at {abs(mean):.2f} points the estimate would vanish")


def _half_life_note(draws: np.ndarray, ref: Reference) -> str:
    """Half-lives past the programme's end extrapolate the fitted decay; at the horizon, they are censored."""
    draws = np.asarray(draws)
    horizon = k.half_life_horizon(ref)
    beyond = float(np.mean(draws > ref.n_weeks - 1))
    censored = float(np.mean(draws >= horizon))
    notes = []
    if beyond > 0.05:
        notes.append(f"extrapolated: in {beyond:.0%} of draws attendance does not halve within the "
                     f"{ref.n_weeks}-week programme")
    if censored > 0:  # any censoring biases the mean down, so say it, with enough digits to show
        notes.append(f"censored: in {100 * censored:.2g}% of draws attendance does not halve within {horizon:g} weeks "
                     f"and the half-life is set to {horizon:g} (the mean is then a lower bound)")
    return "; ".join(notes)


def _has_retro(ref: Reference) -> bool:
    return ref.retro_scale is not None and ref.element is not None


# --- the registry ----------------------------------------------------------------

ESTIMANDS: dict[str, Estimand] = {e.name: e for e in [
    Estimand("mandatory_minus_optional_rating", "rating points",
             "expected session rating, mandatory minus optional, same kind, same week", RATING, k.mandatory_minus_optional_rating,
             _rating_gap("Mandatory sessions"), question="policy", note=_unobserved_selection_note),
    Estimand("mandatory_minus_optional_rating_averaged", "rating points",
             "the same contrast averaged over the data's own sessions of the main kind (their weeks and weekly "
             "loads, weighted by scholars × sessions) instead of at one reference point", RATING,
             k.mandatory_minus_optional_rating_averaged, _averaged(_rating_gap("mandatory sessions")),
             question="policy", note=_unobserved_selection_note, applies=_has_session_cells,
             twin_of="mandatory_minus_optional_rating"),
    Estimand("mandatory_minus_optional_retro", "rating points",
             "the same for end-of-programme ratings of an element", RETRO, k.mandatory_minus_optional_retro,
             _rating_gap("In the end-of-programme survey, elements offered as mandatory"), question="policy",
             applies=_has_retro),
    Estimand("attendance_week_slope", "log-odds per week",
             "change in attendance log-odds per programme week (optional sessions)", ATTENDANCE, k.attendance_week_slope, _week_slope,
             question="decay"),
    Estimand("attendance_first_week", "probability",
             "expected attendance of an optional session in week 1 (new cohort, scholar, session)", ATTENDANCE, k.attendance_first_week,
             _attendance_in("first week"), question="decay"),
    Estimand("attendance_last_week", "probability",
             "expected attendance of an optional session in the last week", ATTENDANCE, k.attendance_last_week,
             _attendance_in("last week"), question="decay"),
    Estimand("volume_slope_rating", "log-odds per session/week",
             "change in the rating latent per extra session in the week (sessions of every kind count)", RATING, k.volume_slope_rating,
             _slope("Each extra session in a week (of any kind)", "ratings"), question="volume"),
    Estimand("volume_slope_attendance", "log-odds per session/week",
             "change in attendance log-odds per extra session in the week (sessions of every kind count)", ATTENDANCE, k.volume_slope_attendance,
             _slope("Each extra session in a week (of any kind)", "attendance"), question="volume"),
    # V* is a skewed function of the volume slopes (~1/|slope|): its HDI held the truth 79–82% of
    # the time in the 2026-11-27 coverage study, the equal-tailed interval 88% (benchmarks/HISTORY.md)
    Estimand("optimal_sessions_per_week", "sessions",
             "the number of sessions a week (every kind counts towards the load; valued as optional sessions "
             "of the reference kind) that maximises the plans' utility (valued attendance net of research "
             "time), within the weekly loads the data cover", ATTENDANCE + RATING, k.optimal_sessions_per_week, _optimum,
             question="volume", interval=EQUAL_TAILED, note=_optimum_note, costly=True),
    Estimand("cohort_sd_rating", "log-odds",
             "spread (sd) of cohort effects on ratings", ("rating_cohort_sd",), k.cohort_sd_rating, _cohort_sd,
             question="cohorts"),
    Estimand("cohort_spread_rating_points", "rating points",
             "cohort_sd_rating in points: expected rating of an optional session in a cohort one sd above the "
             "typical one minus one sd below", RATING, k.cohort_spread_rating_points, _cohort_spread_points,
             question="cohorts"),
    # draws that never halve sit at the search horizon: equal-tailed limits stay exact while fewer than 5%
    # are censored, where an HDI would bend towards that pile (and a half-life ~ 1/slope is skewed, like V*)
    Estimand("attendance_half_life_weeks", "weeks",
             "weeks until a new cohort's optional attendance falls to half its first-week level", ATTENDANCE, k.attendance_half_life_weeks, _half_life,
             question="decay", interval=EQUAL_TAILED, note=_half_life_note),
    Estimand("mandatory_minus_optional_rating_at_equal_relevance", "rating points",
             "the policy's own effect on a session's rating, for sessions equally relevant to the scholar "
             "(data with topics only)", RATING + RELEVANCE, k.mandatory_minus_optional_rating_at_equal_relevance,
             _rating_gap("Sessions equally relevant to the scholar but mandatory"), question="policy",
             note=_unobserved_selection_note),
    Estimand("relevance_part_of_rating_gap", "rating points",
             "the part of the raw mandatory–optional rating gap that comes from which sessions scholars sit "
             "through (data with topics only)", ATTENDANCE + RATING + RELEVANCE + ("attendance_mandatory",),
             k.relevance_part_of_rating_gap, _relevance_part, question="policy"),
    Estimand("mandatory_minus_optional_attendance", "percentage points",
             "attendance of a mandatory minus an optional session, same kind and week", ATTENDANCE + ("attendance_mandatory",),
             k.mandatory_minus_optional_attendance, _attendance_gap, question="policy"),
    Estimand("mandatory_minus_optional_attendance_averaged", "percentage points",
             "the same attendance contrast averaged over the data's own sessions of the main kind (their weeks "
             "and weekly loads, weighted by scholars × sessions)", ATTENDANCE + ("attendance_mandatory",),
             k.mandatory_minus_optional_attendance_averaged, _averaged(_attendance_gap), question="policy",
             applies=_has_session_cells, twin_of="mandatory_minus_optional_attendance"),
]}


def estimand_draws(p: Mapping, ref: Reference, costly: bool = True,
                   names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every registered estimand `p` defines (registry order), as 1-D arrays over draws.

    `costly=False` leaves out the costly ones (the volume optimum); `names` restricts to those.
    """
    p = {n: np.atleast_1d(np.asarray(v, dtype=float)) for n, v in p.items()}
    out = {}
    for name, entry in ESTIMANDS.items():
        if (names is not None and name not in names) or (entry.costly and not costly):
            continue
        if entry.defined_by(p, ref):
            out[name] = np.asarray(entry.kernel(p, ref), dtype=float).ravel()
    return out


def names_for(question: str) -> list[str]:
    """The estimands that answer one of the programme's questions ('policy', 'decay', 'volume', 'cohorts')."""
    return [n for n, e in ESTIMANDS.items() if e.question == question]


def registry_table():
    """The registry as a tidy DataFrame (estimand, scale, interval, question, meaning): the docs' list."""
    import pandas as pd

    return pd.DataFrame([{"estimand": e.name, "scale": e.scale, "interval": INTERVAL_LABELS[e.interval],
                          "question": e.question, "meaning": e.meaning} for e in ESTIMANDS.values()])
