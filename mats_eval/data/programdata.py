"""The validated dataset: typed tables with pseudonymised ids.

`mats_eval.load(path)` returns a ProgramData; every later step reads only this.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SESSION_KINDS = ("seminar", "workshop", "discussion_group", "reading_group", "social", "other")
RETRO_ELEMENTS = ("seminars", "workshops", "discussion_groups", "readings", "socials", "mentorship", "other")
POLICIES = ("mandatory", "optional")
ARCHETYPES = ("connector", "iterator", "amplifier", "unknown")
# A session of this topic (or of none) concerns every scholar; any other topic is a stream of scholars.csv.
GENERAL_TOPIC = "general"


@dataclass
class ProgramData:
    """Typed tables of one dataset folder (the contract: data/README.md).

    - cohorts: cohort, n_weeks, start_date, session_scale_min/max, retro_scale_min/max
    - scholars: scholar_id (pseudonym), cohort, archetype, stream
    - sessions: session_id, cohort, week, kind, policy, speaker (pseudonym or NA), hours,
      topic (a scholars' stream, GENERAL_TOPIC or NA)
    - attendance: session_id, scholar_id (pseudonym), attended (int 0/1)
    - ratings: session_id, scholar_id, rating (int) — or None
    - retrospective: scholar_id, element, policy, rating (int) — or None

    Ids are pseudonymised at load time, so nothing downstream can leak them.
    `input_hashes` maps each table file name to its sha256 (for the manifest).
    """

    cohorts: pd.DataFrame
    scholars: pd.DataFrame
    sessions: pd.DataFrame
    attendance: pd.DataFrame
    ratings: pd.DataFrame | None = None
    retrospective: pd.DataFrame | None = None
    source: Path | None = None
    input_hashes: dict[str, str] = field(default_factory=dict)
    implied_attendance: int = 0  # ratings rows with no attendance row (they imply attendance)

    @property
    def has_topics(self) -> bool:
        """True when some session is on a stream's topic (not only 'general' or blank): the relevance model's data."""
        topic = self.sessions["topic"] if "topic" in self.sessions else pd.Series(dtype="string")
        return bool((topic.notna() & (topic != GENERAL_TOPIC)).any())

    def summary(self) -> pd.DataFrame:
        """One row per cohort: scholars, sessions by policy, attendance and rating counts."""
        sess = self.sessions
        att = self.attendance.merge(sess[["session_id", "cohort"]], on="session_id")
        rows = []
        for cohort in self.cohorts["cohort"]:
            s = sess[sess["cohort"] == cohort]
            n_sch = int((self.scholars["cohort"] == cohort).sum())
            a = att[att["cohort"] == cohort]
            row = {
                "cohort": cohort,
                "scholars": n_sch,
                "sessions": len(s),
                "mandatory_sessions": int((s["policy"] == "mandatory").sum()),
                "optional_sessions": int((s["policy"] == "optional").sum()),
                "attendance_rows": len(a),
                "attendance_rate": float(a["attended"].mean()) if len(a) else float("nan"),
                "missing_pairs": len(s) * n_sch - len(a),
            }
            if self.ratings is not None:
                r = self.ratings.merge(sess[["session_id", "cohort"]], on="session_id")
                row["ratings"] = int((r["cohort"] == cohort).sum())
            if self.retrospective is not None:
                rr = self.retrospective.merge(self.scholars[["scholar_id", "cohort"]], on="scholar_id")
                row["retro_ratings"] = int((rr["cohort"] == cohort).sum())
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return "<b>ProgramData</b>" + self.summary().to_html(index=False)
