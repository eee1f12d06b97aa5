"""Simulated datasets with known truth, in the shape of the data contract (data/README.md).

The generative model is exactly the canonical parametrisation of
`mats_eval.estimands.kernels` (so truth and estimate are the same quantity):

attendance  logit P(attend) = attendance_intercept + attendance_kind[k]
            + attendance_mandatory·m + attendance_volume·V
            + (attendance_week_slope + d_c)·(w−1)·(1−m)
            + attendance_week_slope_mandatory·(w−1)·m + a_c + u_i + e_s
ratings     η = rating_kind[k] + rating_mandatory·m + rating_volume·V
            + rating_week·(w−1) + b_c + r_i + g_speaker + e′_s;
            rating = scale_min + #{cutpoints < η + Logistic(0, 1)}
retro       η = retro_element[e] + retro_mandatory·m + c_c + t_i, ordered
            logistic on the cohort's retro scale.

V is the number of sessions (every kind and policy) the cohort offered that
week. Scenarios with topics (`relevance`, `relevance-penalty`) add to both
latents a match term β_k·rel and γ_k·rel for a session relevant to the scholar
(its topic general or the scholar's stream k), per stream around
attendance_relevance and rating_relevance (models/relevance.py). (u_i, r_i) are bivariate normal with sds attendance_scholar_sd,
rating_scholar_sd and correlation scholar_corr. The retrospective scholar
effect is the same standardised scholar trait rescaled:
t_i = retro_scholar_sd · r_i / rating_scholar_sd (corr(t_i, r_i) = 1).

Kind and element effects are zero-sum over the levels a scenario uses (as in
the models); their mean is absorbed by the attendance intercept or the
cutpoints. Speaker effects g ~ N(0, rating_speaker_sd) for a shared pool of
speakers; a cohort with `speakers="top"` invites only the better half.
Session effects on ratings e′_s ~ N(0, rating_session_sd) are independent of
the attendance session effects e_s, and come from a random stream of their own,
so that every other draw of a dataset is what it was without them.

Observation process: a share `obs_missing_rate` of (session, scholar) pairs is not
recorded (their ratings, if any, stay and imply attendance); an attendee
rates the session with probability `obs_rating_response`; a scholar answers the
retrospective with probability `obs_retro_response` and rates every element her
cohort offered. An element's retro policy is the majority policy of its
sessions in that cohort (a tie counts as mandatory: it was required half the
time). A `ratings_only` scenario records nothing but the ratings: attendance.csv
holds one attended row per rated pair and there is no retrospective.

`simulate(scenario, seed)` returns tables, parameters and truth;
`write_scenario(...)` writes the folder plus truth.json atomically.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from mats_eval.estimands import kernels as estimands
from mats_eval.estimands import registry
from mats_eval.data.design import is_relevant, scale_label, session_volume
from mats_eval.errors import UsageError
from mats_eval.data.programdata import GENERAL_TOPIC, ProgramData

KIND_TO_ELEMENT = {
    "seminar": "seminars",
    "workshop": "workshops",
    "discussion_group": "discussion_groups",
    "reading_group": "readings",
    "social": "socials",
    "other": "other",
}
STREAMS = ("interpretability", "evals", "control", "governance", "agent foundations")
ARCHETYPE_SHARES = {"connector": 0.3, "iterator": 0.35, "amplifier": 0.25, "unknown": 0.1}
N_SPEAKERS = 40
_FOLDER_MODE = 0o755

# --- the design of a scenario ------------------------------------------------


@dataclass(frozen=True)
class Programme:
    """One kind of session in one cohort: how many each week and under which policy."""

    kind: str
    per_week: tuple[int, ...]
    policy: tuple[str, ...]
    hours: float = 1.0
    has_speaker: bool = False


@dataclass(frozen=True)
class CohortPlan:
    """A cohort's size, calendar, rating scales and programme."""

    name: str
    code: str  # short id tag: code "3" gives scholars "s3-017" and sessions "m3-w01-seminar-1"
    n_scholars: int
    n_weeks: int
    programme: tuple[Programme, ...]
    start_date: str | None = None
    session_scale: tuple[int, int] = (1, 10)
    retro_scale: tuple[int, int] | None = (1, 10)
    speakers: str = "all"  # "all" or "top": the pool it invites speakers from


@dataclass(frozen=True)
class Scenario:
    """A design plus true parameters (scalars; kind/element effects as dicts).

    `pinned` sets realised group effects (e.g. {"rating_cohort": {...}}) instead
    of drawing them, where a scenario wants a story not left to chance.
    `general_share` gives sessions a topic: 'general' with that probability, else one
    of STREAMS at random (None: no topic column, as data without topics).
    """

    cohorts: tuple[CohortPlan, ...]
    params: dict
    pinned: dict = field(default_factory=dict)
    general_share: float | None = None  # with topics: the share of sessions on 'general'; None: no topics
    n_speakers: int = N_SPEAKERS  # size of the shared speaker pool
    ratings_only: bool = False  # record only ratings: attendance rows for the rated pairs, no retrospective


@dataclass
class SimulatedDataset:
    """Contract tables plus the truth they were drawn from.

    tables: cohorts, scholars, sessions, attendance, ratings, retrospective.
    parameters: true canonical parameters (scalars, and per-level dicts such as
    attendance_kind, rating_cohort, rating_cutpoints keyed by scale label).
    truth: estimand name → true value (registry.estimand_draws on the truth).
    latent: per-scholar and per-session effects (not written to truth.json).
    """

    scenario: str
    seed: int
    scale: float
    tables: dict[str, pd.DataFrame]
    parameters: dict
    truth: dict[str, float]
    reference: estimands.Reference
    latent: dict[str, pd.DataFrame | pd.Series] = field(default_factory=dict)

    def program_data(self) -> ProgramData:
        """The tables as a ProgramData (ids not pseudonymised), bypassing the loader."""
        return program_data_from_tables(self.tables)

    def truth_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "scale": self.scale,
            "estimands": self.truth,
            "parameters": self.parameters,
            "reference": self.reference.to_dict(),
        }


def constant(n_weeks: int, value):
    """The same value every week."""
    return tuple([value] * n_weeks)


def alternating(n_weeks: int, first: str = "mandatory") -> tuple[str, ...]:
    """Policy alternating week by week, starting with `first`."""
    other = "optional" if first == "mandatory" else "mandatory"
    return tuple(first if w % 2 == 0 else other for w in range(n_weeks))


def programme(kind: str, per_week, policy, hours: float = 1.0, has_speaker: bool = False) -> Programme:
    """A Programme; `policy` may be one string for every week."""
    per_week = tuple(int(x) for x in per_week)
    if isinstance(policy, str):
        policy = constant(len(per_week), policy)
    return Programme(kind, per_week, tuple(policy), hours, has_speaker)


# --- true parameters ---------------------------------------------------------

BASE_PARAMS: dict = {
    # attendance (logit scale)
    "attendance_intercept": 1.2,
    "attendance_kind": {"seminar": 0.0, "workshop": -0.2, "discussion_group": 0.1, "reading_group": -0.3, "social": 0.4},
    "attendance_mandatory": 2.3,
    # per extra session of any kind in the week: a 5-session week attends ~1.2 log-odds better than an
    # 11-session one (MATS 3.0/5.0 against 4.0), so that, as the seed report says, optional programming
    # pays up to a ceiling (true optimum ~4.5 sessions a week under the default utility) and 4.0's
    # eight seminars a week are past it
    "attendance_volume": -0.2,
    "attendance_week_slope": -0.13,
    "attendance_week_slope_mandatory": -0.03,
    "attendance_week_slope_cohort_sd": 0.03,
    "attendance_cohort_sd": 0.3,
    "attendance_scholar_sd": 0.9,
    "attendance_session_sd": 0.35,
    # session ratings (latent logit scale)
    "rating_kind": {"seminar": 0.0, "workshop": 0.2, "discussion_group": -0.2, "reading_group": -0.1, "social": 0.3},
    "rating_mandatory": -0.5,
    "rating_volume": -0.2,
    "rating_week": -0.02,
    "rating_cohort_sd": 0.3,
    "rating_scholar_sd": 0.8,
    "rating_speaker_sd": 0.5,
    "rating_session_sd": 0.3,
    "scholar_corr": 0.4,
    "rating_cutpoint_range": (-4.5, 1.5),  # first and last cutpoint; evenly spaced between
    # retrospective
    "retro_element": {"seminars": 0.0, "workshops": 0.2, "discussion_groups": -0.2, "readings": -0.1, "socials": 0.3},
    "retro_mandatory": -0.6,
    "retro_cohort_sd": 0.3,
    "retro_scholar_sd": 0.7,
    "retro_cutpoint_range": (-4.2, 1.6),
    # observation process
    "obs_missing_rate": 0.01,
    "obs_rating_response": 0.65,
    "obs_retro_response": 0.85,
}

POLICY_FREE = {  # every policy, volume and week parameter of the canonical model
    "attendance_mandatory": 0.0,
    "attendance_volume": 0.0,
    "attendance_week_slope": 0.0,
    "attendance_week_slope_mandatory": 0.0,
    "attendance_week_slope_cohort_sd": 0.0,
    "rating_mandatory": 0.0,
    "rating_volume": 0.0,
    "rating_week": 0.0,
    "retro_mandatory": 0.0,
}


def cutpoints(n_categories: int, first: float, last: float) -> np.ndarray:
    """K−1 evenly spaced cutpoints from `first` to `last` (η = 0 puts the mean near 7.5/10)."""
    return np.linspace(first, last, n_categories - 1)


# --- scenarios -----------------------------------------------------------------


def _mats_history(rng: np.random.Generator) -> Scenario:
    """Three cohorts echoing the published MATS 3.0, 4.0 and 5.0 (data/README.md: "What follows published facts")."""
    m3 = CohortPlan(
        "MATS 3.0", "3", 55, 10, start_date="2023-01-09", speakers="all",
        programme=(
            programme("seminar", (3, 3, 3, 2, 2, 2, 2, 2, 2, 2), "mandatory", 1.0, True),
            programme("discussion_group", constant(10, 1), "mandatory", 1.5),  # AISF curriculum
            programme("workshop", (1, 1, 0, 1, 0, 1, 0, 1, 0, 0), "optional", 2.0, True),
            programme("social", (2, 1, 1, 1, 0, 1, 0, 1, 0, 1), "optional", 2.0),
        ),
    )
    m4 = CohortPlan(
        "MATS 4.0", "4", 60, 8, start_date="2023-07-10", speakers="all",
        programme=(
            programme("seminar", (8, 8, 8, 7, 7, 6, 6, 6), "optional", 1.0, True),
            programme("reading_group", constant(8, 1), "optional", 1.0),  # Alignment 201 readings
            programme("workshop", (1, 0, 1, 0, 1, 0, 1, 0), "optional", 2.0, True),
            programme("social", (2, 1, 1, 1, 1, 0, 1, 1), "optional", 2.0),
        ),
    )
    m5 = CohortPlan(
        "MATS 5.0", "5", 63, 10, start_date="2024-01-08", speakers="top", retro_scale=(0, 10),
        programme=(
            programme("seminar", (3, 3, 3, 2, 3, 2, 2, 3, 2, 2), "optional", 1.0, True),
            programme("discussion_group", constant(10, 1), "optional", 1.5),  # AI strategy discussions
            programme("workshop", (1, 1, 0, 1, 0, 1, 0, 1, 0, 1), "optional", 2.0, True),
            programme("social", (2, 1, 1, 1, 1, 0, 1, 0, 1, 1), "optional", 2.0),
        ),
    )
    # Realised cohort effects are pinned to modest values (plausible draws from
    # their N(0, sd)) so that the example's cohort differences come from the
    # published design (policy, volume, speakers), not from one lucky draw.
    # Seminars and workshops are on a research stream's topic (a quarter concern everyone); the
    # curriculum's discussion and reading groups and the socials are general. A relevant session is
    # attended and rated more, so part of MATS 3.0's lower seminar ratings is which seminars
    # scholars sat through (truth.json: relevance_part_of_rating_gap), as the seed report suspects.
    relevance = {"attendance_intercept": 0.3, "attendance_relevance": 1.5, "attendance_relevance_stream_sd": 0.2,
                 "rating_relevance": 1.2, "rating_relevance_stream_sd": 0.2}
    pinned = {
        "attendance_cohort": {"MATS 3.0": 0.1, "MATS 4.0": -0.15, "MATS 5.0": 0.05},
        "attendance_week_slope_cohort": {"MATS 3.0": 0.02, "MATS 4.0": -0.02, "MATS 5.0": 0.0},
        "rating_cohort": {"MATS 3.0": -0.1, "MATS 4.0": -0.2, "MATS 5.0": 0.3},
        "retro_cohort": {"MATS 3.0": -0.1, "MATS 4.0": -0.15, "MATS 5.0": 0.25},
    }
    return Scenario((m3, m4, m5), {**BASE_PARAMS, **relevance}, pinned, general_share=0.25)


def _varied_counts(rng: np.random.Generator, n_weeks: int, low: int, high: int, front: int = 0) -> tuple[int, ...]:
    """Random weekly counts in [low, high], the first weeks raised by `front` (front-loading)."""
    counts = rng.integers(low, high + 1, n_weeks)
    counts[: n_weeks // 3] += front
    return tuple(int(c) for c in counts)


def _standard_cohort(rng, name: str, code: str, n_weeks: int, seminar_policy, dg_policy, workshop_policy="optional",
                     n_scholars: int = 58, **kw) -> CohortPlan:
    """A cohort with seminars, workshops, discussion groups and socials; weekly volume varies."""
    return CohortPlan(
        name, code, n_scholars, n_weeks, start_date=None, **kw,
        programme=(
            programme("seminar", _varied_counts(rng, n_weeks, 1, 5, front=1), seminar_policy, 1.0, True),
            programme("workshop", _varied_counts(rng, n_weeks, 0, 2), workshop_policy, 2.0, True),
            programme("discussion_group", _varied_counts(rng, n_weeks, 1, 2), dg_policy, 1.5),
            programme("social", _varied_counts(rng, n_weeks, 0, 1, front=1), "optional", 2.0),
        ),
    )


def _null(rng: np.random.Generator) -> Scenario:
    """No policy, volume or week effects; policy and volume still vary within cohorts."""
    cohorts = (
        _standard_cohort(rng, "Cohort A", "a", 9, alternating(9, "mandatory"), "mandatory"),
        _standard_cohort(rng, "Cohort B", "b", 9, alternating(9, "optional"), "optional"),
        _standard_cohort(rng, "Cohort C", "c", 9, "optional", alternating(9, "mandatory")),
    )
    return Scenario(cohorts, {**BASE_PARAMS, **POLICY_FREE})


def _selection(rng: np.random.Generator) -> Scenario:
    """Keen scholars attend optional sessions and rate higher; no true rating policy effect.

    Every kind alternates mandatory/optional week by week (offset per kind),
    and seminar volume changes only between pairs of weeks, so kind, week and
    volume are (nearly) balanced between policies: the raw difference in mean
    rating is selection.
    """
    def cohort(name, code, first, second):
        n = 9
        return CohortPlan(
            name, code, 60, n,
            programme=(
                programme("seminar", (4, 4, 3, 3, 5, 5, 4, 4, 3), alternating(n, first), 1.0, True),
                programme("workshop", constant(n, 1), alternating(n, second), 2.0, True),
                programme("discussion_group", constant(n, 1), alternating(n, first), 1.5),
            ),
        )
    params = {
        **BASE_PARAMS,
        "scholar_corr": 0.7,
        "attendance_intercept": 0.0,
        "attendance_scholar_sd": 1.8,
        "attendance_mandatory": 3.5,
        "rating_scholar_sd": 1.2,
        "rating_mandatory": 0.0,
        "rating_week": 0.0,
        "retro_mandatory": 0.0,
    }
    return Scenario((cohort("Cohort A", "a", "mandatory", "optional"),
                     cohort("Cohort B", "b", "optional", "mandatory"),
                     cohort("Cohort C", "c", "mandatory", "mandatory")), params)


def _identified(rng: np.random.Generator) -> Scenario:
    """Four cohorts; policy alternates within cohort for the same kind, volume varies by week."""
    cohorts = (
        _standard_cohort(rng, "Cohort A", "a", 9, alternating(9, "mandatory"), "mandatory", n_scholars=55),
        _standard_cohort(rng, "Cohort B", "b", 9, alternating(9, "optional"), "optional", n_scholars=55),
        _standard_cohort(rng, "Cohort C", "c", 9, "optional", alternating(9, "mandatory"), n_scholars=55,
                         retro_scale=(0, 10)),
        _standard_cohort(rng, "Cohort D", "d", 9, alternating(9, "mandatory"), "optional",
                         workshop_policy="mandatory", n_scholars=55),
    )
    return Scenario(cohorts, dict(BASE_PARAMS))


def _confounded(rng: np.random.Generator) -> Scenario:
    """Policy changes only between cohorts: A has everything mandatory, B everything optional."""
    def cohort(name, code, policy):
        n = 9
        return CohortPlan(
            name, code, 62, n,
            programme=(
                programme("seminar", _varied_counts(rng, n, 2, 5), policy, 1.0, True),
                programme("discussion_group", constant(n, 1), policy, 1.5),
                programme("workshop", _varied_counts(rng, n, 0, 2), policy, 2.0, True),
                programme("social", _varied_counts(rng, n, 0, 1, front=1), policy, 2.0),
            ),
        )
    return Scenario((cohort("Cohort A", "a", "mandatory"), cohort("Cohort B", "b", "optional")), dict(BASE_PARAMS))


# Selection by session (relevance scenarios): a session on the scholar's own stream is attended
# and rated more; the match terms of the relevance model (models/relevance.py), per stream
# N(mean, stream sd). With five streams and a fifth of sessions general, a scholar finds about
# 36% of sessions relevant; optional attendees sit in on relevant ones far more often.
RELEVANCE_PARAMS = {
    # an irrelevant optional session draws about a third of the cohort, a relevant one 80%: the
    # composition of who rates what differs by policy by ~0.35 rating points (truth.json)
    "attendance_intercept": -0.5,
    "attendance_relevance": 2.5,
    "attendance_relevance_stream_sd": 0.2,
    "rating_relevance": 1.5,
    "rating_relevance_stream_sd": 0.2,
}


def _relevance(rng: np.random.Generator, rating_mandatory: float = 0.0) -> Scenario:
    """Three cohorts whose sessions have topics; policy alternates within cohorts (identified).
    Mandatory sessions carry no penalty of their own (rating_mandatory = 0): their lower ratings
    come only from including sessions off the scholar's stream."""
    cohorts = (
        _standard_cohort(rng, "Cohort A", "a", 9, alternating(9, "mandatory"), "mandatory"),
        _standard_cohort(rng, "Cohort B", "b", 9, alternating(9, "optional"), "optional"),
        _standard_cohort(rng, "Cohort C", "c", 9, "optional", alternating(9, "mandatory")),
    )
    params = {**BASE_PARAMS, **RELEVANCE_PARAMS, "rating_mandatory": rating_mandatory}
    return Scenario(cohorts, params, general_share=0.2)


def _relevance_penalty(rng: np.random.Generator) -> Scenario:
    """`relevance` where mandating also costs by itself: rating_mandatory = −0.5."""
    return _relevance(rng, rating_mandatory=-0.5)


# Real-world size (issue 19): about 3,000 scholars, 1,100 speakers and 75,000 ratings, and nothing
# recorded but the ratings. 40 cohorts of 75 scholars, each with ~85 talks in 10 weeks by speakers
# drawn from a pool of 1,200 (so ~1,130 of them speak at least once, most two to four times).
LARGE_COHORTS = 40
LARGE_SCHOLARS_PER_COHORT = 75
LARGE_SPEAKER_POOL = 1200
# who rates: an attendee answers the feedback form a bit over half the time (~75k ratings)
LARGE_RATING_RESPONSE = 0.55


def _large_ratings(rng: np.random.Generator) -> Scenario:
    """Ratings-only data at real-world size: many cohorts and speakers, no attendance records.

    Each cohort: 5–10 seminars a week with a speaker (policy alternating week by week, which
    week starts mandatory varying by cohort), 0–2 optional workshops with a speaker, a weekly
    discussion group, an occasional social. Only ratings are recorded (`ratings_only`):
    attendance.csv holds one attended row per rated pair, so every attendance parameter is
    unidentified and the ratings model is the one to fit.
    """
    n_weeks = 10
    cohorts = tuple(
        CohortPlan(
            f"Cohort {j:02d}", f"L{j:02d}", LARGE_SCHOLARS_PER_COHORT, n_weeks, retro_scale=None,
            programme=(
                programme("seminar", _varied_counts(rng, n_weeks, 5, 10), alternating(n_weeks, first), 1.0, True),
                programme("workshop", _varied_counts(rng, n_weeks, 0, 2), "optional", 2.0, True),
                programme("discussion_group", constant(n_weeks, 1), alternating(n_weeks, first), 1.5),
                programme("social", _varied_counts(rng, n_weeks, 0, 1), "optional", 2.0),
            ),
        )
        for j, first in zip(range(1, LARGE_COHORTS + 1), ("mandatory", "optional") * LARGE_COHORTS)
    )
    params = {**BASE_PARAMS, "obs_rating_response": LARGE_RATING_RESPONSE}
    return Scenario(cohorts, params, n_speakers=LARGE_SPEAKER_POOL, ratings_only=True)


SCENARIOS: dict[str, Callable[[np.random.Generator], Scenario]] = {
    "mats-history": _mats_history,
    "null": _null,
    "selection": _selection,
    "identified": _identified,
    "confounded": _confounded,
    "relevance": _relevance,
    "relevance-penalty": _relevance_penalty,
    "large-ratings": _large_ratings,
}


def scenario_names() -> list[str]:
    return list(SCENARIOS)


# --- drawing the world -------------------------------------------------------


def _streams(scenario: str, seed: int) -> dict[str, np.random.Generator]:
    """Independent generators per purpose, so that `scale` changes only the scholar draws."""
    root = np.random.SeedSequence([int(seed), zlib.crc32(scenario.encode())])
    names = ("design", "groups", "sessions", "scholars", "outcomes", "rating_sessions",
             "topics")  # append only: keeps the others
    return dict(zip(names, (np.random.default_rng(s) for s in root.spawn(len(names)))))


def _zero_sum(effects: dict, levels) -> tuple[dict, float]:
    """Restrict `effects` to `levels` and centre them; return (centred, removed mean)."""
    vals = {lvl: float(effects.get(lvl, 0.0)) for lvl in levels}
    mean = float(np.mean(list(vals.values()))) if vals else 0.0
    return {k: v - mean for k, v in vals.items()}, mean


def _scaled(plan: CohortPlan, scale: float) -> CohortPlan:
    return replace(plan, n_scholars=max(5, int(round(plan.n_scholars * scale))))


def _group_effects(levels, sd: float, rng) -> dict:
    """level → N(0, sd) draw."""
    return dict(zip(levels, (sd * rng.standard_normal(len(levels))).tolist()))


def draw_parameters(scn: Scenario, rng: np.random.Generator) -> dict:
    """True parameters of the world: scalars, zero-sum kind/element effects, cohort,
    speaker and slope-deviation draws, and cutpoints per distinct scale."""
    p = {k: v for k, v in scn.params.items() if not isinstance(v, (dict, tuple))}
    kinds = sorted({pr.kind for c in scn.cohorts for pr in c.programme})
    elements = sorted({KIND_TO_ELEMENT[k] for k in kinds})
    cohorts = [c.name for c in scn.cohorts]

    p["attendance_kind"], att_mean = _zero_sum(scn.params["attendance_kind"], kinds)
    p["attendance_intercept"] += att_mean
    p["rating_kind"], rating_mean = _zero_sum(scn.params["rating_kind"], kinds)
    p["retro_element"], retro_mean = _zero_sum(scn.params["retro_element"], elements)

    session_scales = sorted({c.session_scale for c in scn.cohorts})
    retro_scales = sorted({c.retro_scale for c in scn.cohorts if c.retro_scale is not None})
    # η + mean > c  ⇔  η > c − mean: the removed kind mean moves into the cutpoints
    p["rating_cutpoints"] = {
        scale_label(s): (cutpoints(s[1] - s[0] + 1, *scn.params["rating_cutpoint_range"]) - rating_mean).tolist()
        for s in session_scales
    }
    p["retro_cutpoints"] = {
        scale_label(s): (cutpoints(s[1] - s[0] + 1, *scn.params["retro_cutpoint_range"]) - retro_mean).tolist()
        for s in retro_scales
    }
    p["attendance_cohort"] = _group_effects(cohorts, p["attendance_cohort_sd"], rng)
    p["attendance_week_slope_cohort"] = _group_effects(cohorts, p["attendance_week_slope_cohort_sd"], rng)
    p["rating_cohort"] = _group_effects(cohorts, p["rating_cohort_sd"], rng)
    p["retro_cohort"] = _group_effects(cohorts, p["retro_cohort_sd"], rng)
    p["rating_speaker"] = _group_effects([f"Speaker {j:02d}" for j in range(1, scn.n_speakers + 1)],
                                         p["rating_speaker_sd"], rng)
    for outcome in ("attendance", "rating"):  # last: the draws above stay as they were without relevance
        if f"{outcome}_relevance" in p:
            deviations = _group_effects(STREAMS, p[f"{outcome}_relevance_stream_sd"], rng)
            p[f"{outcome}_relevance_stream"] = {k: p[f"{outcome}_relevance"] + v for k, v in deviations.items()}
    p.update({name: dict(values) for name, values in scn.pinned.items()})
    return p


# Kinds whose sessions concern everyone (a shared curriculum, socials): their topic is always 'general'.
GENERAL_KINDS = ("social", "discussion_group", "reading_group")


def assign_topics(sessions: pd.DataFrame, general_share: float | None, rng) -> pd.DataFrame:
    """sessions with a `topic`: 'general' for GENERAL_KINDS and, for the others, with probability
    general_share, else a stream (module docstring); unchanged when general_share is None."""
    if general_share is None:
        return sessions
    general = (rng.random(len(sessions)) < general_share) | sessions["kind"].isin(GENERAL_KINDS).to_numpy()
    streams = rng.choice(STREAMS, size=len(sessions))
    return sessions.assign(topic=np.where(general, GENERAL_TOPIC, streams))


def match_effect(pairs: pd.DataFrame, p: dict, outcome: str) -> np.ndarray:
    """β_stream·rel per (session, scholar) pair: the relevance model's match term (0 without topics)."""
    by_stream = p.get(f"{outcome}_relevance_stream")
    if by_stream is None or "topic" not in pairs:
        return np.zeros(len(pairs))
    return pairs["stream"].map(by_stream).to_numpy(float) * is_relevant(pairs["topic"], pairs["stream"])


def _speaker_pools(speaker_effects: dict) -> dict[str, list[str]]:
    """'all' speakers, and the 'top' half by true effect (a cohort that invites the best)."""
    ranked = sorted(speaker_effects, key=speaker_effects.get, reverse=True)
    return {"all": sorted(speaker_effects), "top": sorted(ranked[: len(ranked) // 2])}


def build_sessions(plans, speaker_pools: dict, rng: np.random.Generator) -> pd.DataFrame:
    """sessions.csv: one row per event, ids like 'm4-w03-seminar-2'."""
    rows = []
    for plan in plans:
        for prog in plan.programme:
            for week, (count, policy) in enumerate(zip(prog.per_week, prog.policy), start=1):
                for j in range(1, count + 1):
                    speaker = str(rng.choice(speaker_pools[plan.speakers])) if prog.has_speaker else None
                    rows.append({
                        "session_id": f"m{plan.code}-w{week:02d}-{prog.kind}-{j}",
                        "cohort": plan.name, "week": week, "kind": prog.kind, "policy": policy,
                        "speaker": speaker, "hours": prog.hours,
                    })
    sessions = pd.DataFrame(rows).sort_values(["cohort", "week", "kind", "session_id"], kind="stable")
    return sessions.reset_index(drop=True)


def build_scholars(plans, p: dict, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scholars.csv and the latent scholar traits (u_i, r_i) ~ bivariate normal."""
    rows = []
    for plan in plans:
        for j in range(1, plan.n_scholars + 1):
            rows.append({"scholar_id": f"s{plan.code}-{j:03d}", "cohort": plan.name})
    scholars = pd.DataFrame(rows)
    n = len(scholars)
    archetypes = list(ARCHETYPE_SHARES)
    scholars["archetype"] = rng.choice(archetypes, size=n, p=list(ARCHETYPE_SHARES.values()))
    scholars["stream"] = rng.choice(STREAMS, size=n)
    rho = p["scholar_corr"]
    z = rng.standard_normal((n, 2))
    z_rating = rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]
    latent = pd.DataFrame({
        "scholar_id": scholars["scholar_id"],
        "scholar_attendance": p["attendance_scholar_sd"] * z[:, 0],
        "scholar_rating": p["rating_scholar_sd"] * z_rating,
        "scholar_retro": p["retro_scholar_sd"] * z_rating,
    })
    return scholars, latent


def ordered_logistic(eta: np.ndarray, cuts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Category 0..K−1 = #{c_k < η + ε}, ε ~ Logistic(0, 1): P(Y ≤ k) = logit⁻¹(c_k − η)."""
    noisy = eta + rng.logistic(size=len(eta))
    return (noisy[:, None] > np.asarray(cuts)[None, :]).sum(axis=1)


def _ordinal_ratings(eta, scale_of_row, cut_table: dict, rng) -> np.ndarray:
    """Ratings in points, each row on its own scale ((min, max) tuples)."""
    out = np.zeros(len(eta), dtype=np.int64)
    labels = np.array([scale_label(s) for s in scale_of_row])
    mins = np.array([s[0] for s in scale_of_row], dtype=np.int64)
    for label in np.unique(labels):
        rows = labels == label
        out[rows] = mins[rows] + ordered_logistic(eta[rows], cut_table[label], rng)
    return out


def draw_attendance(sessions, scholars, latent, p, rng) -> tuple[pd.DataFrame, pd.Series]:
    """All (session, scholar) pairs of a cohort with attended ~ Bernoulli(logit⁻¹ of the canonical logit).

    Returns (pairs with covariates and `attended`, session effects e_s by session_id).
    """
    pairs = sessions.merge(scholars[["scholar_id", "cohort", "stream"]], on="cohort")
    pairs = pairs.merge(latent, on="scholar_id")
    e_s = p["attendance_session_sd"] * rng.standard_normal(len(sessions))
    session_effect = pd.Series(e_s, index=sessions["session_id"])
    m = (pairs["policy"] == "mandatory").to_numpy(float)
    w0 = pairs["week"].to_numpy(float) - 1
    cohort = pairs["cohort"]
    logit = (
        p["attendance_intercept"]
        + pairs["kind"].map(p["attendance_kind"]).to_numpy()
        + p["attendance_mandatory"] * m
        + p["attendance_volume"] * pairs["volume"].to_numpy()
        + (p["attendance_week_slope"] + cohort.map(p["attendance_week_slope_cohort"]).to_numpy()) * w0 * (1 - m)
        + p["attendance_week_slope_mandatory"] * w0 * m
        + cohort.map(p["attendance_cohort"]).to_numpy()
        + pairs["scholar_attendance"].to_numpy()
        + pairs["session_id"].map(session_effect).to_numpy()
        + match_effect(pairs, p, "attendance")
    )
    pairs["attended"] = (rng.random(len(pairs)) < expit(logit)).astype(int)
    return pairs, session_effect


def draw_rating_session_effects(session_ids, p: dict, rng) -> pd.Series:
    """e′_s ~ N(0, rating_session_sd) by session_id: what a session adds to every rating of it."""
    session_ids = pd.Index(pd.unique(np.asarray(session_ids)), name="session_id")
    return pd.Series(p.get("rating_session_sd", 0.0) * rng.standard_normal(len(session_ids)), index=session_ids)


def draw_ratings(pairs: pd.DataFrame, cohort_scale: dict, p: dict, rng,
                 session_effect: pd.Series | None = None) -> pd.DataFrame:
    """ratings.csv: a share `obs_rating_response` of attended pairs, ordered logistic on the cohort's scale.

    `session_effect` (by session_id, draw_rating_session_effects) defaults to a draw from `rng`.
    """
    if session_effect is None:
        session_effect = draw_rating_session_effects(pairs["session_id"], p, rng)
    rated = pairs[(pairs["attended"] == 1) & (rng.random(len(pairs)) < p["obs_rating_response"])]
    speaker_effect = rated["speaker"].map(p["rating_speaker"]).fillna(0.0).to_numpy(float)
    eta = (
        rated["kind"].map(p["rating_kind"]).to_numpy()
        + p["rating_mandatory"] * (rated["policy"] == "mandatory").to_numpy(float)
        + p["rating_volume"] * rated["volume"].to_numpy()
        + p["rating_week"] * (rated["week"].to_numpy(float) - 1)
        + rated["cohort"].map(p["rating_cohort"]).to_numpy()
        + rated["scholar_rating"].to_numpy()
        + speaker_effect
        + rated["session_id"].map(session_effect).to_numpy(float)
        + match_effect(rated, p, "rating")
    )
    scales = [cohort_scale[c] for c in rated["cohort"]]
    points = _ordinal_ratings(eta, scales, p["rating_cutpoints"], rng)
    return pd.DataFrame({"session_id": rated["session_id"].to_numpy(), "scholar_id": rated["scholar_id"].to_numpy(),
                         "rating": points})


def retro_policies(sessions: pd.DataFrame) -> pd.DataFrame:
    """(cohort, element, policy): the majority policy of the element's sessions, ties → mandatory."""
    share = (sessions.assign(m=sessions["policy"] == "mandatory", element=sessions["kind"].map(KIND_TO_ELEMENT))
             .groupby(["cohort", "element"])["m"].mean().reset_index())
    share["policy"] = np.where(share["m"] >= 0.5, "mandatory", "optional")
    return share[["cohort", "element", "policy"]]


def draw_retrospective(plans, sessions, scholars, latent, p, rng) -> pd.DataFrame:
    """retrospective.csv: respondents rate every element their cohort offered."""
    with_scale = {c.name: c.retro_scale for c in plans if c.retro_scale is not None}
    respondents = scholars[scholars["cohort"].isin(with_scale)]
    respondents = respondents[rng.random(len(respondents)) < p["obs_retro_response"]]
    rows = respondents[["scholar_id", "cohort"]].merge(retro_policies(sessions), on="cohort")
    rows = rows.merge(latent[["scholar_id", "scholar_retro"]], on="scholar_id")
    eta = (
        rows["element"].map(p["retro_element"]).to_numpy()
        + p["retro_mandatory"] * (rows["policy"] == "mandatory").to_numpy(float)
        + rows["cohort"].map(p["retro_cohort"]).to_numpy()
        + rows["scholar_retro"].to_numpy()
    )
    rows["rating"] = _ordinal_ratings(eta, [with_scale[c] for c in rows["cohort"]], p["retro_cutpoints"], rng)
    return rows[["scholar_id", "element", "policy", "rating"]].reset_index(drop=True)


def cohorts_table(plans) -> pd.DataFrame:
    """cohorts.csv."""
    def scale_part(scale, i):
        return pd.NA if scale is None else int(scale[i])
    table = pd.DataFrame([{
        "cohort": c.name, "n_weeks": c.n_weeks, "start_date": c.start_date,
        "session_scale_min": c.session_scale[0], "session_scale_max": c.session_scale[1],
        "retro_scale_min": scale_part(c.retro_scale, 0), "retro_scale_max": scale_part(c.retro_scale, 1),
    } for c in plans])
    return table.astype({"retro_scale_min": "Int64", "retro_scale_max": "Int64"})


def program_data_from_tables(tables: dict[str, pd.DataFrame]) -> ProgramData:
    """ProgramData straight from simulated tables, counting ratings with no attendance row."""
    att_keys = set(zip(tables["attendance"]["session_id"], tables["attendance"]["scholar_id"]))
    ratings = tables.get("ratings")
    implied = 0 if ratings is None else sum(k not in att_keys for k in zip(ratings["session_id"], ratings["scholar_id"]))
    return ProgramData(
        cohorts=tables["cohorts"], scholars=tables["scholars"], sessions=tables["sessions"],
        attendance=tables["attendance"], ratings=ratings, retrospective=tables.get("retrospective"),
        implied_attendance=implied,
    )


def canonical_parameters(p: dict, ref: estimands.Reference) -> dict:
    """The scalar parameter dict estimands.py expects, at the reference kind, scale and element."""
    scalars = {k: v for k, v in p.items() if isinstance(v, (int, float)) and k.startswith(("attendance_", "rating_", "retro_", "scholar_"))}
    canon = dict(scalars)
    canon["attendance_kind_ref"] = p["attendance_kind"][ref.kind]
    canon["rating_kind_ref"] = p["rating_kind"][ref.kind]
    canon["rating_cutpoints_ref"] = np.asarray(p["rating_cutpoints"][scale_label(ref.session_scale)])[None, :]
    if ref.retro_scale is not None and ref.element is not None:
        canon["retro_element_ref"] = p["retro_element"][ref.element]
        canon["retro_cutpoints_ref"] = np.asarray(p["retro_cutpoints"][scale_label(ref.retro_scale)])[None, :]
    else:
        canon.pop("retro_mandatory", None)
    if ref.relevant_share_of(ref.kind) is not None and "rating_relevance" in canon:
        canon["relevant_share"] = ref.relevant_share_of(ref.kind)
    return canon


def true_estimands(p: dict, ref: estimands.Reference) -> dict[str, float]:
    """estimand → true value: registry.estimand_draws applied to the true parameters (one draw)."""
    return {k: float(v[0]) for k, v in registry.estimand_draws(canonical_parameters(p, ref), ref).items()}


def get_scenario(name: str) -> Callable[[np.random.Generator], Scenario]:
    if name not in SCENARIOS:
        raise UsageError(f"unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def simulate(scenario: str, seed: int, scale: float = 1.0) -> SimulatedDataset:
    """Draw a dataset of `scenario` (see SCENARIOS); deterministic in (scenario, seed, scale).

    `scale` multiplies the number of scholars per cohort (at least 5 each).
    """
    make = get_scenario(scenario)
    if not scale > 0:
        raise UsageError(f"scale must be > 0, got {scale}")
    rng = _streams(scenario, seed)
    scn = make(rng["design"])
    plans = [_scaled(c, scale) for c in scn.cohorts]
    p = draw_parameters(scn, rng["groups"])

    sessions = assign_topics(build_sessions(plans, _speaker_pools(p["rating_speaker"]), rng["sessions"]),
                             scn.general_share, rng["topics"])
    scholars, latent = build_scholars(plans, p, rng["scholars"])
    out = rng["outcomes"]
    pairs, session_effect = draw_attendance(sessions.assign(volume=session_volume(sessions)), scholars,
                                            latent, p, out)
    rating_session = draw_rating_session_effects(sessions["session_id"], p, rng["rating_sessions"])
    ratings = draw_ratings(pairs, {c.name: c.session_scale for c in plans}, p, out, rating_session)
    recorded = pairs[out.random(len(pairs)) >= p["obs_missing_rate"]]
    attendance = recorded[["session_id", "scholar_id", "attended"]].reset_index(drop=True)
    retrospective = draw_retrospective(plans, sessions, scholars, latent, p, out)
    if scn.ratings_only:  # what a feedback form alone records: who rated what, and the rating
        attendance = ratings[["session_id", "scholar_id"]].assign(attended=1)
        retrospective = None

    tables = {
        "cohorts": cohorts_table(plans),
        "scholars": scholars,
        "sessions": sessions,
        "attendance": attendance,
        "ratings": ratings,
    }
    if retrospective is not None:
        tables["retrospective"] = retrospective
    ref = estimands.reference_from(program_data_from_tables(tables))
    p_json = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.items()}
    return SimulatedDataset(
        scenario=scenario, seed=int(seed), scale=float(scale), tables=tables, parameters=p_json,
        truth=true_estimands(p, ref), reference=ref,
        latent={"scholar": latent.set_index("scholar_id"), "session_attendance": session_effect,
                "session_rating": rating_session},
    )


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """One CSV per table (blank cells for missing values)."""
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)


def write_scenario(name: str, seed: int, out: Path | str, force: bool = False, scale: float = 1.0) -> Path:
    """Write the scenario's CSVs and truth.json into `out`, whole or not at all.

    Raises UsageError for an unknown scenario or an existing `out` without `force`.
    """
    from mats_eval.data.io import atomic_folder

    get_scenario(name)
    out = Path(out)
    with atomic_folder(out, force=force) as tmp:
        tmp.chmod(_FOLDER_MODE)  # mkdtemp makes it 0700; a dataset folder is ordinary
        data = simulate(name, seed=seed, scale=scale)
        write_tables(data.tables, tmp)
        (tmp / "truth.json").write_text(json.dumps(data.truth_json(), indent=2, sort_keys=False) + "\n")
    return out
