"""Records from every source -> the six contract tables, checked across sources at the source cells.

The checks `mats_eval.data.io.load` would make on the written tables (a session
that is not in the calendar, a rating outside the cohort's scale, a scholar
rating a session they were marked absent from, a pair given twice) are made
here first, so that each problem names the spreadsheet cell to fix rather than
a line of a file the user never wrote. `load` still validates the written
folder afterwards, as a safety net.

Who the scholars of a cohort are: those in its `scholars` sources (a roster);
without one, those in its attendance sources; without either, everyone who
appears in its feedback or survey. A rating or survey answer from someone who
is not a scholar of the cohort is an error (usually a mistyped email).

Ids written:
- scholar_id = the keyed pseudonym of the normalised identity (privacy.py), so
  the same person gets the same id in every import made with the same key;
- speaker = its keyed pseudonym too;
- session_id = "COHORT / SESSION NAME" (names repeat across cohorts: "Week 1
  seminar").
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from mats_eval.data.importer.mapping import Cohort, Mapping
from mats_eval.data.importer.records import MISSING, Record
from mats_eval.data.importer.sheets import Problem, normalise
from mats_eval.data.privacy import SCHOLAR_PREFIX, SPEAKER_PREFIX, pseudonymise
from mats_eval.data.schema import TABLES, shown

_MAX_SUGGESTIONS = 3


@dataclass
class Assembly:
    """The mapping being imported and every problem found across sources, at its source cell."""

    mapping: Mapping
    problems: list[Problem] = field(default_factory=list)

    def fail(self, record: Record, name: str, message: str) -> None:
        self.problems.append(Problem(record.at(name), message))


def session_id(cohort: str, name: str) -> str:
    return f"{cohort} / {name}"


def build_tables(mapping: Mapping, records: dict[str, list[Record]], failed: dict[str, list[Record]],
                 key: bytes) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """(table stem -> frame in contract column order, problems). Tables with no source are left out,
    except cohorts (from the mapping) and scholars (from every source that names people).

    `failed` are rows that already have a problem: they are not written, but the
    session or scholar they name still counts as known, so that one bad calendar
    row is reported once and not again at every rating of that session.
    """
    work = Assembly(mapping)
    _check_cohorts(work, records)
    _check_cohorts(Assembly(mapping), failed)  # their problem is reported already
    aliases = _aliases(records.get("scholars", []) + failed.get("scholars", []))
    for rows in (*records.values(), *failed.values()):
        for record in rows:
            if "scholar" in record.values:
                record.values["scholar"] = aliases.get(record.values["scholar"], record.values["scholar"])
    scholars = _scholars(work, records, failed)
    sessions = _sessions(work, records.get("sessions", []), failed.get("sessions", []))
    attendance = _pairs(work, records.get("attendance", []), scholars, sessions, "attended")
    ratings = _pairs(work, records.get("ratings", []), scholars, sessions, "rating")
    _rated_but_absent(work, ratings, attendance)
    retrospective = _retrospective(work, records.get("retrospective", []), scholars)
    if work.problems or any(failed.values()):
        return {}, list(dict.fromkeys(work.problems))  # a wide column's header problem is found once per row

    cohorts = pd.DataFrame([c.row() for c in mapping.cohorts.values()], columns=list(TABLES["cohorts"].columns))
    tables = {"cohorts": _whole_numbers("cohorts", cohorts)}
    tables["scholars"] = _frame("scholars", scholars.values(), _scholar_row)
    for stem, kept, make in (
        ("sessions", sessions, _session_row),
        ("attendance", attendance, lambda r: _pair_row(r, "attended")),
        ("ratings", ratings, lambda r: _pair_row(r, "rating")),
        ("retrospective", retrospective, _retro_row),
    ):
        if stem in records:
            tables[stem] = _frame(stem, kept.values(), make)
    _pseudonymise(tables, key)
    return tables, []


# --------------------------------------------------------------------------- per table


def _check_cohorts(work: Assembly, records: dict[str, list[Record]]) -> None:
    """A cohort read from a column must be one of the mapping's; rows of unknown cohorts go no further."""
    for stem, rows in records.items():
        kept = []
        for record in rows:
            cohort = record.values.get("cohort") or record.source.cohort
            if cohort not in work.mapping.cohorts:
                work.fail(record, "cohort", f"{shown(cohort)} is not one of the mapping's cohorts "
                                            f"({', '.join(work.mapping.cohorts)})")
                continue
            record.values["cohort"] = cohort
            kept.append(record)
        records[stem] = kept


def _aliases(roster: list[Record]) -> dict[str, str]:
    """Other names or emails of a scholar (a roster's `also` columns) -> the identity used as the id."""
    return {other: r.values["scholar"] for r in roster for other in r.values.get("also", []) if other != r.values["scholar"]}


def _scholars(work: Assembly, records: dict[str, list[Record]], failed: dict[str, list[Record]]) -> dict[str, Record]:
    """identity -> the record that makes the person a scholar (roster, else attendance, else any)."""
    order = ("scholars", "attendance", "ratings", "retrospective")
    listing: dict[str, Record] = {}  # cohort -> a record of the table whose people are its scholars
    for stem in order:
        for record in records.get(stem, []) + failed.get(stem, []):
            listing.setdefault(record.values["cohort"], record)
    scholars: dict[str, Record] = {}
    for stem in order:
        for record in records.get(stem, []):
            who, cohort = record.values["scholar"], record.values["cohort"]
            first = scholars.get(who)
            if first is not None and first.values["cohort"] != cohort:
                work.fail(record, "scholar", f"this scholar is already in cohort {shown(first.values['cohort'])} "
                                             f"({first.at('scholar')}); a scholar belongs to one cohort")
            elif first is not None and stem == "scholars":
                work.fail(record, "scholar", f"this scholar is listed twice (first at {first.at('scholar')})")
            elif first is None and listing[cohort].source.table == stem:
                scholars[who] = record
    for stem in order:  # a listing row with a problem elsewhere still names a scholar
        for record in failed.get(stem, []):
            if "scholar" in record.values and listing[record.values["cohort"]].source.table == stem:
                scholars.setdefault(record.values["scholar"], record)
    for stem in order[1:]:
        for record in records.get(stem, []):
            lister = listing[record.values["cohort"]]
            if record.values["scholar"] not in scholars and lister.source.table != stem:
                work.fail(record, "scholar", f"not a scholar of {record.values['cohort']} (the scholars are those "
                                             f"in {lister.row.file}); check the spelling of this name or email")
    return scholars


def _is_scholar_of(scholars: dict[str, Record], record: Record) -> bool:
    listed = scholars.get(record.values["scholar"])
    return listed is not None and listed.values["cohort"] == record.values["cohort"]


def _sessions(work: Assembly, rows: list[Record], failed: list[Record]) -> dict[tuple[str, str], Record]:
    """(cohort, session name) -> record, with `week` worked out from a date and checked against n_weeks.

    A session with a problem stays listed (nothing is written anyway), so its ratings are not reported too.
    """
    sessions = {}
    for record in rows:
        cohort: Cohort = work.mapping.cohorts[record.values["cohort"]]
        name = _session_name(record)
        if (cohort.name, name) in sessions:
            work.fail(record, "session", f"session {shown(name)} is listed twice "
                                         f"(first at {sessions[cohort.name, name].at('session')})")
            continue
        if "date" in record.values:
            when = record.values["date"]
            record.values["week"] = (when - cohort.start_date).days // 7 + 1
            where, what = "date", f"{when.isoformat()} is week {record.values['week']} of {cohort.name} " \
                                  f"(start {cohort.start_date.isoformat()})"
        else:
            where, what = "week", f"week {record.values['week']}"
        if not 1 <= record.values["week"] <= cohort.n_weeks:
            work.fail(record, where, f"{what}, outside weeks 1..{cohort.n_weeks} of the programme")
        sessions[cohort.name, name] = record
    for record in failed:
        if "session" in record.values:
            sessions.setdefault((record.values["cohort"], _session_name(record)), record)
    return sessions


def _session_name(record: Record) -> str:
    """The session's name after the mapping's `session_names` (compared without case or extra spaces)."""
    name = record.values["session"]
    renames = {normalise(k): " ".join(v.split()) for k, v in record.source.session_names.items()}
    return renames.get(normalise(name), name)


def _pairs(work: Assembly, rows: list[Record], scholars: dict, sessions: dict, value: str) -> dict[tuple, Record]:
    """(session, scholar) -> attendance or rating record: the session must exist, the rating be on the scale."""
    pairs: dict[tuple, Record] = {}
    for record in rows:
        cohort: Cohort = work.mapping.cohorts[record.values["cohort"]]
        name = _session_name(record)
        if (cohort.name, name) not in sessions:
            work.fail(record, "session", _unknown_session(name, cohort.name, sessions, bool(record.source.session_names)))
            continue
        if not _is_scholar_of(scholars, record):
            continue  # reported by _scholars
        if value == "rating" and not _on_scale(work, record, cohort.session_scale, "session"):
            continue
        record.values["session_id"] = session_id(cohort.name, name)
        _keep_once(work, pairs, (record.values["session_id"], record.values["scholar"]), record,
                   f"{'an attendance mark' if value == 'attended' else 'a rating'} of this scholar for this session")
    return pairs


def _unknown_session(name: str, cohort: str, sessions: dict, renamed: bool) -> str:
    known = [n for c, n in sessions if c == cohort]
    close = difflib.get_close_matches(name, known, n=_MAX_SUGGESTIONS, cutoff=0.5)
    hint = f"; did you mean {' or '.join(map(shown, close))}?" if close else ""
    fix = "add it to the mapping's session_names" if not renamed else "check the mapping's session_names"
    return f"{shown(name)} is not a session of {cohort} in the calendar{hint} ({fix} if the calendar calls it otherwise)"


def _on_scale(work: Assembly, record: Record, scale: tuple[int, int] | None, which: str) -> bool:
    rating = record.values["rating"]
    if scale is None:
        work.fail(record, "rating", f"cohort {record.values['cohort']} has no {which} scale in the mapping "
                                    f"({which}_scale_min/max)")
        return False
    if not scale[0] <= rating <= scale[1]:
        work.fail(record, "rating", f"{rating} is outside the {which} scale {scale[0]}..{scale[1]} of "
                                    f"{record.values['cohort']}")
        return False
    return True


def _keep_once(work: Assembly, kept: dict, key: tuple, record: Record, what: str) -> None:
    """Store `record` under `key`; a repeat follows the source's `duplicates` rule (error, keep-first, keep-last)."""
    first = kept.get(key)
    if first is None:
        kept[key] = record
        return
    rule = record.source.duplicates if record.source is first.source else "error"
    if rule == "keep-last":
        kept[key] = record
    elif rule == "error":
        value = "rating" if "rating" in record.values else "attended"
        work.fail(record, value, f"{what} is given twice (first at {first.at(value)}); "
                                 "fix one, or set duplicates: keep-first / keep-last for this source")


def _rated_but_absent(work: Assembly, ratings: dict, attendance: dict) -> None:
    for pair, record in list(ratings.items()):
        mark = attendance.get(pair)
        if mark is not None and mark.values["attended"] == 0:
            work.fail(record, "rating", f"rates a session this scholar is marked absent from ({mark.at('attended')})")
            del ratings[pair]


def _retrospective(work: Assembly, rows: list[Record], scholars: dict) -> dict[tuple, Record]:
    answers: dict[tuple, Record] = {}
    for record in rows:
        cohort: Cohort = work.mapping.cohorts[record.values["cohort"]]
        element = record.values["element"]
        if "policy" not in record.values:
            policy = record.source.policy_by_element.get(element)
            if policy is None:
                work.fail(record, "element", f"no policy for element {element!r} (add it to the mapping's "
                                             "policy_by_element)")
                continue
            record.values["policy"] = policy
        if not _is_scholar_of(scholars, record) or not _on_scale(work, record, cohort.retro_scale, "retro"):
            continue
        _keep_once(work, answers, (record.values["scholar"], element), record,
                   f"an answer of this scholar about {element}")
    return answers


# --------------------------------------------------------------------------- frames


def _session_row(record: Record) -> dict:
    v = record.values
    row = {"session_id": session_id(v["cohort"], _session_name(record)), "cohort": v["cohort"], "week": v["week"],
           "kind": v["kind"], "policy": v["policy"], "speaker": _present(v.get("speaker")),
           "hours": _present(v.get("hours"))}
    if "topic" in v:
        row["topic"] = _present(v["topic"])
    return row


def _pair_row(record: Record, value: str) -> dict:
    return {"session_id": record.values["session_id"], "scholar_id": record.values["scholar"], value: record.values[value]}


def _retro_row(record: Record) -> dict:
    v = record.values
    return {"scholar_id": v["scholar"], "element": v["element"], "policy": v["policy"], "rating": v["rating"]}


def _scholar_row(record: Record) -> dict:
    v = record.values
    return {"scholar_id": v["scholar"], "cohort": v["cohort"], "archetype": _present(v.get("archetype")),
            "stream": _present(v.get("stream"))}


def _present(value):
    """A value, or None for a missing one (written as a blank cell)."""
    return None if value is MISSING else value


def _frame(stem: str, records, make) -> pd.DataFrame:
    """One row per record in the contract's column order; then the free-text columns its source keeps."""
    rows = [{**make(r), **(r.kept if r.source.table == stem else {})} for r in records]
    columns = list(dict.fromkeys([*TABLES[stem].columns, *(name for row in rows for name in row)]))
    return _whole_numbers(stem, pd.DataFrame(rows, columns=columns))


def _whole_numbers(stem: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns as nullable integers, so a gap does not turn `10` into `10.0` in the CSV."""
    for name, spec in TABLES[stem].columns.items():
        if spec.check_dtype == "Int64" and name in frame:
            frame[name] = frame[name].astype("Int64")
    return frame


def _pseudonymise(tables: dict[str, pd.DataFrame], key: bytes) -> None:
    """Identities -> keyed pseudonyms (privacy.py): the only ids that leave the importer."""
    for stem, frame in tables.items():
        if "scholar_id" in frame:
            frame["scholar_id"] = pseudonymise(frame["scholar_id"].astype(object), key, SCHOLAR_PREFIX)
    if "sessions" in tables:
        speakers = tables["sessions"]["speaker"].astype(object).where(tables["sessions"]["speaker"].notna())
        tables["sessions"]["speaker"] = pseudonymise(speakers, key, SPEAKER_PREFIX)
    for stem, frame in tables.items():
        keys = [c for u in TABLES[stem].unique for c in u] if stem != "cohorts" else []
        if keys:
            tables[stem] = frame.sort_values(keys, kind="stable").reset_index(drop=True)
