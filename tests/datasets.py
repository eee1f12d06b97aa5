"""A small, valid, hand-checkable dataset folder for tests (DATA_CONTRACT.md §1).

`write_valid_dataset(folder)` writes two cohorts with different session scales
(1..10 and 1..7), six scholars each, a few weeks of mixed kinds and policies,
attendance (a few pairs deliberately unrecorded), ratings and a retrospective
survey. Everything is deterministic, so a test can break one known cell:
`edit_cell(folder, "sessions", line=2, column="week", value="99")`.

Raw ids look like real ones (`scholar-A01`, `Dr Ada Lovelace`) so privacy
tests can search outputs for them.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

COHORTS = (
    # cohort, n_weeks, start_date, session scale, retro scale
    ("MATS 4.0", 4, "2023-06-05", (1, 10), (1, 5)),
    ("MATS 5.0", 3, "2024-01-08", (1, 7), (1, 5)),
)
OPTIONAL_KINDS = ("workshop", "discussion_group", "reading_group", "social")
SPEAKERS = ("Dr Ada Lovelace", "Prof Alan Turing", "Grace Hopper")
ARCHETYPES = ("connector", "iterator", "amplifier", "unknown", "")
TABLE_STEMS = ("cohorts", "scholars", "sessions", "attendance", "ratings", "retrospective")


def write_valid_dataset(
    folder: Path | str,
    *,
    scholars_per_cohort: int = 6,
    ratings: bool = True,
    retrospective: bool = True,
    parquet: tuple[str, ...] = (),
) -> dict[str, pd.DataFrame]:
    """Write the dataset into `folder` (created if needed); return the tables as written (text cells).

    `parquet` names the tables to write as `STEM.parquet` instead of CSV.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = build_valid_tables(scholars_per_cohort)
    if not ratings:
        del tables["ratings"]
    if not retrospective:
        del tables["retrospective"]
    for stem, frame in tables.items():
        write_table(folder, stem, frame, parquet=stem in parquet)
    return tables


def build_valid_tables(scholars_per_cohort: int = 6) -> dict[str, pd.DataFrame]:
    """The valid tables as frames of text cells ("" = blank), in contract column order."""
    cohorts = pd.DataFrame(
        [
            {
                "cohort": name,
                "n_weeks": str(weeks),
                "start_date": start,
                "session_scale_min": str(scale[0]),
                "session_scale_max": str(scale[1]),
                "retro_scale_min": str(retro[0]),
                "retro_scale_max": str(retro[1]),
            }
            for name, weeks, start, scale, retro in COHORTS
        ]
    )
    scholars, sessions, attendance, ratings, retro = [], [], [], [], []
    for c, (cohort, weeks, _start, (low, high), (retro_low, retro_high)) in enumerate(COHORTS):
        letter = "AB"[c]
        ids = [f"scholar-{letter}{i + 1:02d}" for i in range(scholars_per_cohort)]
        scholars += [
            {"scholar_id": sid, "cohort": cohort, "archetype": ARCHETYPES[i % len(ARCHETYPES)], "stream": "interp" if i % 2 else "evals"}
            for i, sid in enumerate(ids)
        ]
        for week in range(1, weeks + 1):
            for slot, (kind, policy) in enumerate((("seminar", "mandatory"), (OPTIONAL_KINDS[(week + c) % 4], "optional"))):
                session_id = f"{letter}-w{week}-{slot}"
                sessions.append(
                    {
                        "session_id": session_id,
                        "cohort": cohort,
                        "week": str(week),
                        "kind": kind,
                        "policy": policy,
                        "speaker": SPEAKERS[(week + slot) % len(SPEAKERS)] if kind != "social" else "",
                        "hours": ("1.5", "", "2")[(week + slot) % 3],
                    }
                )
                for i, sid in enumerate(ids):
                    if (i + week + slot) % 7 == 6:
                        continue  # unrecorded pair: missing, not "did not attend"
                    attended = 1 if policy == "mandatory" or (i + week) % 3 else 0
                    attendance.append({"session_id": session_id, "scholar_id": sid, "attended": str(attended)})
                    if attended and (i + slot) % 2 == 0:
                        ratings.append({"session_id": session_id, "scholar_id": sid, "rating": str(low + (i + week) % (high - low + 1))})
        for i, sid in enumerate(ids):
            for e, (element, policy) in enumerate((("seminars", "mandatory"), ("workshops", "optional"), ("mentorship", "mandatory"))):
                retro.append({"scholar_id": sid, "element": element, "policy": policy, "rating": str(retro_low + (i + e) % (retro_high - retro_low + 1))})
    return {
        "cohorts": cohorts,
        "scholars": pd.DataFrame(scholars),
        "sessions": pd.DataFrame(sessions),
        "attendance": pd.DataFrame(attendance),
        "ratings": pd.DataFrame(ratings),
        "retrospective": pd.DataFrame(retro),
    }


def write_table(folder: Path, stem: str, frame: pd.DataFrame, parquet: bool = False) -> Path:
    """Write one table of text cells as CSV (minimal quoting) or as typed-enough parquet (all text)."""
    if parquet:
        path = Path(folder) / f"{stem}.parquet"
        frame.astype(str).to_parquet(path, index=False)
        return path
    path = Path(folder) / f"{stem}.csv"
    frame.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return path


def read_table(folder: Path | str, stem: str) -> pd.DataFrame:
    """A CSV table back as text cells ("" = blank), row i being file line i + 2."""
    return pd.read_csv(Path(folder) / f"{stem}.csv", dtype=str, keep_default_na=False)


def edit_cell(folder: Path | str, stem: str, line: int, column: str, value: str) -> None:
    """Set one cell, addressed the way violations are reported (header = line 1)."""
    frame = read_table(folder, stem)
    if column not in frame.columns:
        frame[column] = ""
    frame.loc[line - 2, column] = value
    write_table(Path(folder), stem, frame)


def snapshot(folder: Path | str) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), to prove nothing was written or changed."""
    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
