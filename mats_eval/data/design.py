"""ProgramData -> model inputs: integer index arrays, covariates and named coords.

Everything a model needs is derived here once, so every model reads the same
numbers:

- volume V of a session = the programming load of its week: the number of
  sessions of every kind and policy its cohort offered that week (a workshop
  crowds out seminar attendance as much as another seminar does); derived
  from sessions.csv, never read from input;
- week enters as (w − 1), so week 1 is the reference;
- mandatory = 1 for policy "mandatory", 0 for "optional";
- sessions without a speaker get speaker index 0 and has_speaker = 0, so they
  receive no speaker effect;
- each cohort's session scale (min, max) becomes a level of the
  "session_scale" dim; a rating is coded 0..K−1 within its scale
  (code = rating − scale_min).

Dims: cohort, scholar, session, speaker, kind, week, session_scale, plus the
observation dims attendance_obs and rating_obs; with a retrospective survey
also element and retro_obs (`Design.retro`, a RetroDesign: ratings coded
0..K−1 within the cohort's retro scale); with session topics also stream
(`Design.relevance`, a RelevanceDesign: whether each observation pairs a
scholar with a session relevant to them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mats_eval.errors import UsageError
from mats_eval.data.reference import Reference, reference_from
from mats_eval.data.programdata import GENERAL_TOPIC, ProgramData


def scale_label(scale: tuple[int, int]) -> str:
    """'1_10' for the scale (1, 10): usable both as a coord and inside a variable name."""
    return f"{int(scale[0])}_{int(scale[1])}"


@dataclass(frozen=True)
class Design:
    """Index arrays and covariates of one dataset (numpy arrays, 0-based indices).

    Session level (length n_session): session_cohort, session_kind, session_week0
    (w − 1), session_mandatory (0/1), session_volume (V), session_speaker,
    session_has_speaker (0/1), session_scale (index into session_scale dim).
    Scholar level: scholar_cohort. Cohort level: cohort_scale, cohort_n_weeks.
    Attendance observations: att_session, att_scholar, att_y (0/1).
    Rating observations: rating_session, rating_scholar, rating_code (0..K−1),
    rating_scale. `scales` lists the (min, max) of each session_scale level.
    """

    coords: dict[str, list]
    session_cohort: np.ndarray
    session_kind: np.ndarray
    session_week0: np.ndarray
    session_mandatory: np.ndarray
    session_volume: np.ndarray
    session_speaker: np.ndarray
    session_has_speaker: np.ndarray
    session_scale: np.ndarray
    scholar_cohort: np.ndarray
    cohort_scale: np.ndarray
    cohort_n_weeks: np.ndarray
    att_session: np.ndarray
    att_scholar: np.ndarray
    att_y: np.ndarray
    rating_session: np.ndarray
    rating_scholar: np.ndarray
    rating_code: np.ndarray
    rating_scale: np.ndarray
    scales: tuple[tuple[int, int], ...]
    reference: Reference
    meta: dict = field(default_factory=dict)
    retro: RetroDesign | None = None  # retrospective survey rows (None without retrospective.csv)
    relevance: RelevanceDesign | None = None  # who each session is relevant to (None without topics)

    @property
    def n_categories(self) -> list[int]:
        """K = max − min + 1 for each session scale."""
        return [hi - lo + 1 for lo, hi in self.scales]

    @property
    def has_speakers(self) -> bool:
        return len(self.coords["speaker"]) > 0

    def coords_for(self, *dims: str) -> dict[str, list]:
        """The subset of coords a model uses (PyMC wants every dim it sees to have coords)."""
        return {d: self.coords[d] for d in dims}


@dataclass(frozen=True)
class RetroDesign:
    """Retrospective survey rows as model inputs (0-based indices, numpy arrays).

    Per row: scholar (index into the scholar dim), cohort (the scholar's
    cohort), element (index into `elements`, the "element" dim), mandatory
    (0/1), code = rating − retro_scale_min (0..K−1) and scale (index into
    `scales`, the distinct (min, max) retro scales of the cohorts that answered).
    """

    scholar: np.ndarray
    cohort: np.ndarray
    element: np.ndarray
    mandatory: np.ndarray
    code: np.ndarray
    scale: np.ndarray
    scales: tuple[tuple[int, int], ...]
    elements: tuple[str, ...]

    @property
    def n_categories(self) -> list[int]:
        return [hi - lo + 1 for lo, hi in self.scales]


@dataclass(frozen=True)
class RelevanceDesign:
    """Which observations pair a scholar with a session relevant to them (data with topics only).

    A session is relevant to a scholar when its topic is blank, 'general', or the scholar's stream
    (`is_relevant`). scholar_stream indexes the "stream" dim (`streams`; scholars without a stream
    form the level NO_STREAM); att_relevant and rating_relevant are 0/1 per observation.
    """

    streams: tuple[str, ...]
    scholar_stream: np.ndarray
    att_relevant: np.ndarray
    rating_relevant: np.ndarray


NO_STREAM = "(no stream)"


def is_relevant(topic: pd.Series, stream: pd.Series) -> np.ndarray:
    """1.0 where a session of `topic` concerns a scholar of `stream` (topic blank, general, or = stream)."""
    topic, stream = topic.astype("string").reset_index(drop=True), stream.astype("string").reset_index(drop=True)
    general = topic.isna() | (topic == GENERAL_TOPIC)
    return (general | (topic == stream).fillna(False)).to_numpy(float)


def build_relevance_design(data: ProgramData, att, ratings, att_scholar, rating_scholar) -> RelevanceDesign | None:
    """Relevance of every attendance and rating row (None when no session has a stream's topic)."""
    if not data.has_topics:
        return None
    scholars = data.scholars.reset_index(drop=True)
    stream = scholars["stream"].astype("string") if "stream" in scholars else pd.Series(pd.NA, index=scholars.index,
                                                                                          dtype="string")
    levels = sorted(str(x) for x in stream.dropna().unique()) + ([NO_STREAM] if stream.isna().any() else [])
    topic_of = data.sessions.set_index("session_id")["topic"]
    relevant = lambda rows, scholar: is_relevant(rows["session_id"].map(topic_of),  # noqa: E731
                                                 stream.iloc[scholar].reset_index(drop=True))
    return RelevanceDesign(
        streams=tuple(levels),
        scholar_stream=_codes(stream.fillna(NO_STREAM), levels),
        att_relevant=relevant(att, att_scholar),
        rating_relevant=relevant(ratings, rating_scholar) if len(ratings) else np.zeros(0),
    )


def build_retro_design(data: ProgramData, scholar_levels: list[str], scholar_cohort: np.ndarray) -> RetroDesign | None:
    """The retrospective rows of `data` coded for the models (None when there are none)."""
    retro = data.retrospective
    if retro is None or not len(retro):
        return None
    retro = retro.reset_index(drop=True)
    scholar = _codes(retro["scholar_id"].astype(str), scholar_levels)
    if (scholar < 0).any():
        raise UsageError(f"retrospective scholar ids not found in scholars ({int((scholar < 0).sum())} rows)")
    cohort = scholar_cohort[scholar]
    cohorts = data.cohorts.reset_index(drop=True)
    lo = pd.to_numeric(cohorts["retro_scale_min"], errors="coerce").to_numpy(float)[cohort]
    hi = pd.to_numeric(cohorts["retro_scale_max"], errors="coerce").to_numpy(float)[cohort]
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise UsageError("retrospective ratings from a cohort without a retro scale (retro_scale_min/max)")
    row_scales = list(zip(lo.astype(int).tolist(), hi.astype(int).tolist()))
    scales = tuple(sorted(set(row_scales)))
    elements = tuple(sorted(str(e) for e in retro["element"].unique()))
    return RetroDesign(
        scholar=scholar,
        cohort=cohort,
        element=_codes(retro["element"].astype(str), list(elements)),
        mandatory=(retro["policy"] == "mandatory").to_numpy(float),
        code=retro["rating"].to_numpy(np.int64) - lo.astype(np.int64),
        scale=np.array([scales.index(s) for s in row_scales], dtype=np.int64),
        scales=scales,
        elements=elements,
    )

def _codes(values: pd.Series, levels: list) -> np.ndarray:
    """Position of each value in `levels` (−1 if absent)."""
    return pd.Categorical(values, categories=levels).codes.astype(np.int64)


def session_volume(sessions: pd.DataFrame) -> np.ndarray:
    """V_s = #{sessions s' : cohort and week of s' equal those of s} (every kind and policy)."""
    return sessions.groupby(["cohort", "week"])["session_id"].transform("size").to_numpy(float)


def build_design(data: ProgramData) -> Design:
    """Derive the model inputs of `data` (see the module docstring for the coding)."""
    cohorts = data.cohorts.reset_index(drop=True)
    scholars = data.scholars.reset_index(drop=True)
    sessions = data.sessions.reset_index(drop=True)

    cohort_levels = [str(c) for c in cohorts["cohort"]]
    scholar_levels = [str(s) for s in scholars["scholar_id"]]
    session_levels = [str(s) for s in sessions["session_id"]]
    kind_levels = sorted(str(k) for k in sessions["kind"].unique())
    speaker_col = sessions["speaker"] if "speaker" in sessions else pd.Series([pd.NA] * len(sessions))
    has_speaker = speaker_col.notna() & (speaker_col.astype("string").str.len() > 0)
    speaker_levels = sorted(str(s) for s in speaker_col[has_speaker].unique())
    n_weeks = cohorts["n_weeks"].astype(int).to_numpy()
    week_levels = list(range(1, int(n_weeks.max()) + 1))

    cohort_scales = list(zip(cohorts["session_scale_min"].astype(int), cohorts["session_scale_max"].astype(int)))
    scales = tuple(sorted(set(cohort_scales)))
    cohort_scale = np.array([scales.index(s) for s in cohort_scales], dtype=np.int64)

    session_cohort = _codes(sessions["cohort"].astype(str), cohort_levels)
    speaker_idx = _codes(speaker_col.astype("string").where(has_speaker, None), speaker_levels)
    att = data.attendance
    att_session = _codes(att["session_id"].astype(str), session_levels)
    att_scholar = _codes(att["scholar_id"].astype(str), scholar_levels)

    ratings = data.ratings if data.ratings is not None else pd.DataFrame(columns=["session_id", "scholar_id", "rating"])
    rating_session = _codes(ratings["session_id"].astype(str), session_levels)
    rating_scholar = _codes(ratings["scholar_id"].astype(str), scholar_levels)
    rating_scale = cohort_scale[session_cohort[rating_session]] if len(ratings) else np.zeros(0, np.int64)
    scale_min = np.array([lo for lo, _ in scales])
    rating_code = ratings["rating"].to_numpy(np.int64) - scale_min[rating_scale] if len(ratings) else np.zeros(0, np.int64)

    for name, arr in [("attendance session", att_session), ("attendance scholar", att_scholar),
                      ("rating session", rating_session), ("rating scholar", rating_scholar)]:
        if (arr < 0).any():
            raise UsageError(f"{name} ids not found in the dataset's tables ({int((arr < 0).sum())} rows)")

    scholar_cohort = _codes(scholars["cohort"].astype(str), cohort_levels)
    retro = build_retro_design(data, scholar_levels, scholar_cohort)
    relevance = build_relevance_design(data, att, ratings, att_scholar, rating_scholar)
    coords = {
        "cohort": cohort_levels,
        "scholar": scholar_levels,
        "session": session_levels,
        "speaker": speaker_levels,
        "kind": kind_levels,
        "week": week_levels,
        "session_scale": [scale_label(s) for s in scales],
        "attendance_obs": list(range(len(att))),
        "rating_obs": list(range(len(ratings))),
    }
    if retro is not None:
        coords["element"] = list(retro.elements)
        coords["retro_obs"] = list(range(len(retro.code)))
    if relevance is not None:
        coords["stream"] = list(relevance.streams)
    return Design(
        coords=coords,
        session_cohort=session_cohort,
        session_kind=_codes(sessions["kind"].astype(str), kind_levels),
        session_week0=sessions["week"].to_numpy(float) - 1.0,
        session_mandatory=(sessions["policy"] == "mandatory").to_numpy(float),
        session_volume=session_volume(sessions),
        session_speaker=np.where(speaker_idx < 0, 0, speaker_idx).astype(np.int64),
        session_has_speaker=(speaker_idx >= 0).astype(float),
        session_scale=cohort_scale[session_cohort],
        scholar_cohort=scholar_cohort,
        cohort_scale=cohort_scale,
        cohort_n_weeks=n_weeks,
        att_session=att_session,
        att_scholar=att_scholar,
        att_y=att["attended"].to_numpy(np.int64),
        rating_session=rating_session,
        rating_scholar=rating_scholar,
        rating_code=rating_code,
        rating_scale=rating_scale,
        scales=scales,
        reference=reference_from(data),
        retro=retro,
        relevance=relevance,
    )
