"""What the report shows of the raw data, aggregated once at fit time into the run folder's observed/.

Privacy (data/README.md "Privacy") is applied here, where the data leave the dataset:
no table has a row per scholar or any scholar id, and every group summary drawn
from fewer than MIN_SCHOLARS distinct scholars is suppressed (its values blank,
its `note` says why). Group labels are cohorts, kinds, policies, archetypes,
streams and speaker pseudonyms.

    observed_tables(data) -> {table name: DataFrame}, the files of observed/ (OBSERVED_TABLES)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mats_eval.constants import MIN_SCHOLARS

SUPPRESSED = f"suppressed: fewer than {MIN_SCHOLARS} scholars"
GROUPS = ("archetype", "stream", "speaker")
_SESSION_COLUMNS = ("session_id", "cohort", "week", "kind", "policy", "speaker")


def suppress_small_groups(frame: pd.DataFrame, labels: Sequence[str], n_col: str = "scholars") -> pd.DataFrame:
    """Blank every value (count included) of rows drawn from < MIN_SCHOLARS distinct scholars; `note` says so."""
    out = frame.copy()
    small = out[n_col] < MIN_SCHOLARS
    values = [c for c in out.columns if c not in labels]
    out[values] = out[values].astype(object)
    out.loc[small, values] = np.nan
    out["note"] = np.where(small, SUPPRESSED, "")
    return out


def _events(data) -> pd.DataFrame:
    """Attendance rows joined with their session (cohort, week, kind, policy, speaker)."""
    cols = [c for c in _SESSION_COLUMNS if c in data.sessions]
    return data.attendance.merge(data.sessions[cols], on="session_id")


def _rated(data) -> pd.DataFrame | None:
    """Ratings joined with session and cohort scale; value = (rating − min)/(max − min) ∈ [0, 1]."""
    if data.ratings is None or not len(data.ratings):
        return None
    cols = [c for c in _SESSION_COLUMNS if c in data.sessions]
    rated = data.ratings.merge(data.sessions[cols], on="session_id").merge(
        data.cohorts[["cohort", "session_scale_min", "session_scale_max"]], on="cohort"
    )
    lo, hi = rated["session_scale_min"].astype(float), rated["session_scale_max"].astype(float)
    scale = rated["session_scale_min"].astype(int).astype(str) + "–" + rated["session_scale_max"].astype(int).astype(str)
    return rated.assign(value=(rated["rating"] - lo) / (hi - lo), scale=scale)


def observed_attendance_by_week(data) -> pd.DataFrame:
    """cohort, week, rate, scholars: share attending optional sessions; cells < MIN_SCHOLARS scholars dropped."""
    events = _events(data)
    optional = events[events["policy"] == "optional"]
    grouped = optional.groupby(["cohort", "week"]).agg(rate=("attended", "mean"), scholars=("scholar_id", "nunique"))
    grouped = grouped.reset_index()
    return grouped[grouped["scholars"] >= MIN_SCHOLARS].reset_index(drop=True)


def observed_ratings(data, by: Sequence[str]) -> pd.DataFrame | None:
    """Per group: distinct scholars, ratings, mean rating (points), scale(s), mean value (0–1); unsuppressed."""
    rated = _rated(data)
    if rated is None:
        return None
    agg = rated.groupby(list(by)).agg(
        scholars=("scholar_id", "nunique"),
        ratings=("rating", "size"),
        mean_rating=("rating", "mean"),
        scale=("scale", lambda s: ", ".join(sorted(set(s)))),
        value=("value", "mean"),
    )
    return agg.reset_index()


def group_summary(data, group: str) -> pd.DataFrame | None:
    """Per archetype, stream or speaker: scholars, sessions, optional attendance, mean rating value; unsuppressed."""
    events = _events(data)
    by_scholar = group in ("archetype", "stream")
    if by_scholar:
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
        if by_scholar:
            rated = rated.merge(data.scholars[["scholar_id", group]], on="scholar_id")
        summary["mean_rating_0_1"] = rated.dropna(subset=[group]).groupby(group)["value"].mean()
    summary = summary.reset_index()
    summary[group] = summary[group].astype(str)
    return summary.sort_values("scholars", ascending=False, kind="stable").reset_index(drop=True)


def observed_tables(data) -> dict[str, pd.DataFrame]:
    """The run folder's observed/ tables of a ProgramData, small groups suppressed (module docstring).

    attendance_by_week (optional sessions, cohort × week), ratings_by_kind_policy,
    ratings_by_cohort_kind_policy, and groups_<archetype|stream|speaker>; a table
    the data cannot give (no ratings, no streams) is left out.
    """
    tables = {"attendance_by_week": observed_attendance_by_week(data)}
    for name, by in (("ratings_by_kind_policy", ["kind", "policy"]),
                     ("ratings_by_cohort_kind_policy", ["cohort", "kind", "policy"])):
        table = observed_ratings(data, by)
        if table is not None:
            tables[name] = suppress_small_groups(table, by)
    for group in GROUPS:
        table = group_summary(data, group)
        if table is not None and len(table):
            tables[f"groups_{group}"] = suppress_small_groups(table, [group])
    return tables
