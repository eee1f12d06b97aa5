"""The data contract as code: per-table column rules and cross-table rules.

Input arrives here as tables of *text* cells (one row per data line, the frame
index holding the line number in the file), so that every problem can be
reported as `FILE:LINE:COLUMN: message` (the contract: data/README.md). The steps are:

1. `parse_table`: check required columns and blank cells, parse each cell to its
   type (int, float, ISO date, 0/1), then run pandera schemas for the static
   value rules (enums, fixed ranges) and the unique keys. Every failure becomes
   a `Violation`.
2. `check_cross_table`: references between tables, cohort-dependent ranges
   (week within n_weeks, ratings within the cohort's scale) and ratings from
   pairs recorded as not attended, in plain pandas.

Nothing here reads or writes files; `mats_eval.data.io` does that.
"""
from __future__ import annotations

import difflib

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

import pandas as pd
import pandera.pandas as pa

from mats_eval.data.programdata import ARCHETYPES, GENERAL_TOPIC, POLICIES, RETRO_ELEMENTS, SESSION_KINDS

FILE_LEVEL = "*"  # the COLUMN of a violation about a whole file or row
_MAX_VALUE_SHOWN = 40


# --------------------------------------------------------------------------- violations


@dataclass(frozen=True)
class Violation:
    """One broken rule at one place in one input file."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


def shown(value: object) -> str:
    """A cell value quoted for a message, cut short so one bad cell can't flood the report."""
    text = str(value)
    if len(text) > _MAX_VALUE_SHOWN:
        text = text[:_MAX_VALUE_SHOWN] + "..."
    return repr(text)


# --------------------------------------------------------------------------- cell parsers
# Each takes a non-blank, stripped cell and returns the typed value or raises
# ValueError with the message to report.

_INT_TEXT = re.compile(r"[+-]?\d+(\.0*)?")
_TRUE_WORDS = {"1", "true", "yes"}
_FALSE_WORDS = {"0", "false", "no"}


def parse_int(text: str) -> int:
    """Integers, also in the `3.0` form spreadsheets and pandas write for int columns with gaps."""
    if not _INT_TEXT.fullmatch(text):
        raise ValueError(f"not an integer: {shown(text)}")
    return int(text.split(".")[0])


def parse_float(text: str) -> float:
    """Finite decimal numbers; `nan`/`inf` are rejected because they are never a real duration."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {shown(text)}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {shown(text)}")
    return value


def parse_date(text: str) -> date:
    """ISO dates (`2024-06-03`); an ISO datetime is accepted and cut to its date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {shown(text)}") from None


def parse_flag(text: str) -> int:
    """0/1, also true/false and yes/no in any case (the contract's `attended`)."""
    word = text.lower()
    if word in _TRUE_WORDS:
        return 1
    if word in _FALSE_WORDS:
        return 0
    raise ValueError(f"not 0/1, true/false or yes/no: {shown(text)}")


def parse_text(text: str) -> str:
    return text


def parse_enum(text: str) -> str:
    """Enum cells are compared in lower case: `Mandatory` from a spreadsheet means `mandatory`."""
    return text.lower()


# --------------------------------------------------------------------------- table specs


@dataclass(frozen=True)
class ColumnSpec:
    """One contract column: how to parse a cell, whether it must be present and filled,
    the pandera dtype of the parsed column while validating, and static value checks."""

    parse: Callable[[str], object]
    check_dtype: str
    required: bool = True
    checks: tuple[pa.Check, ...] = ()


def _text(required: bool = True) -> ColumnSpec:
    return ColumnSpec(parse_text, "str", required)


def _int(required: bool = True, *checks: pa.Check) -> ColumnSpec:
    return ColumnSpec(parse_int, "Int64", required, checks)


def _enum(values: tuple[str, ...], required: bool = True) -> ColumnSpec:
    check = pa.Check.isin(list(values), error=f"must be one of {', '.join(values)}")
    return ColumnSpec(parse_enum, "str", required, (check,))


@dataclass(frozen=True)
class TableSpec:
    """One contract table: its columns in contract order and its unique keys."""

    stem: str
    columns: dict[str, ColumnSpec]
    unique: tuple[tuple[str, ...], ...] = ()
    required_file: bool = True

    def pandera_schema(self) -> pa.DataFrameSchema:
        """Static per-column rules. Nullable everywhere: blanks are reported by `parse_table`
        with a clearer message, and a cell that failed to parse must not be reported twice."""
        return pa.DataFrameSchema(
            {
                name: pa.Column(spec.check_dtype, list(spec.checks), nullable=True, required=False)
                for name, spec in self.columns.items()
            }
        )


TABLES: dict[str, TableSpec] = {
    spec.stem: spec
    for spec in (
        TableSpec(
            "cohorts",
            {
                "cohort": _text(),
                "n_weeks": _int(True, pa.Check.in_range(1, 52, error="must be between 1 and 52")),
                "start_date": ColumnSpec(parse_date, "object", required=False),
                "session_scale_min": _int(),
                "session_scale_max": _int(),
                "retro_scale_min": _int(False),
                "retro_scale_max": _int(False),
            },
            unique=(("cohort",),),
        ),
        TableSpec(
            "scholars",
            {
                "scholar_id": _text(),
                "cohort": _text(),
                "archetype": _enum(ARCHETYPES, required=False),
                "stream": _text(False),
            },
            unique=(("scholar_id",),),
        ),
        TableSpec(
            "sessions",
            {
                "session_id": _text(),
                "cohort": _text(),
                "week": _int(True, pa.Check.ge(1, error="must be at least 1")),
                "kind": _enum(SESSION_KINDS),
                "policy": _enum(POLICIES),
                "speaker": _text(False),
                "hours": ColumnSpec(
                    parse_float, "Float64", False, (pa.Check.gt(0, error="must be greater than 0"),)
                ),
                "topic": _text(False),
            },
            unique=(("session_id",),),
        ),
        TableSpec(
            "attendance",
            {
                "session_id": _text(),
                "scholar_id": _text(),
                "attended": ColumnSpec(parse_flag, "Int64"),
            },
            unique=(("session_id", "scholar_id"),),
        ),
        TableSpec(
            "ratings",
            {"session_id": _text(), "scholar_id": _text(), "rating": _int()},
            unique=(("session_id", "scholar_id"),),
            required_file=False,
        ),
        TableSpec(
            "retrospective",
            {
                "scholar_id": _text(),
                "element": _enum(RETRO_ELEMENTS),
                "policy": _enum(POLICIES),
                "rating": _int(),
            },
            unique=(("scholar_id", "element"),),
            required_file=False,
        ),
    )
}

# Ids whose values never go into a message (data/README.md "Privacy"): the line number locates them.
PRIVATE_COLUMNS = frozenset({"scholar_id", "speaker"})


# --------------------------------------------------------------------------- one table


@dataclass
class Table:
    """A parsed table: `frame` has typed contract columns (NA where blank or unparseable),
    the extra columns as text, and the file line number as its index."""

    spec: TableSpec
    file: str
    frame: pd.DataFrame
    violations: list[Violation] = field(default_factory=list)

    def violation(self, line: int, column: str, message: str) -> None:
        self.violations.append(Violation(self.file, int(line), column, message))


def parse_table(spec: TableSpec, file: str, cells: pd.DataFrame) -> Table:
    """Type a table of stripped text cells ("" = blank) and report every per-table problem.

    Returns the table even when it has violations, so cross-table rules can still
    run on the rows that did parse; a missing required column leaves the column
    all-NA (and is reported once, on the header line).
    """
    table = Table(spec, file, pd.DataFrame(index=cells.index))
    for name, col in spec.columns.items():
        if name not in cells.columns:
            if col.required:
                table.violation(1, name, "required column is missing" + missing_column_hint(name, cells.columns,
                                                                                           spec.columns))
            values = [pd.NA] * len(cells)
        else:
            values = [_parse_cell(table, line, name, col, text) for line, text in cells[name].items()]
        table.frame[name] = pd.Series(values, index=cells.index, dtype=col.check_dtype, name=name)
    _check_static_rules(table)
    _check_unique_keys(table)
    for extra in cells.columns.difference(list(spec.columns), sort=False):
        table.frame[extra] = cells[extra].where(cells[extra] != "", None)
    return table


def missing_column_hint(name: str, found, expected) -> str:
    """Why a required column may be missing: a `;`-separated file read as one column, or a near-miss
    header (e.g. 'scholar id' for 'scholar_id'); '' when neither applies."""
    found = [str(c) for c in found]
    if len(found) == 1 and ";" in found[0]:
        return ("; the header reads as one column holding ';' — the file looks semicolon-separated: "
                "save it as comma-separated CSV")
    unclaimed = [c for c in found if c not in expected]
    close = difflib.get_close_matches(name, unclaimed, n=1, cutoff=0.75) or difflib.get_close_matches(
        name.replace("_", " "), [c.lower().replace("_", " ") for c in unclaimed], n=1, cutoff=0.75)
    if close:
        original = next(c for c in unclaimed if c == close[0] or c.lower().replace("_", " ") == close[0])
        return f"; did you mean the column {original!r}? (rename it to {name!r})"
    return ""


def _parse_cell(table: Table, line: int, name: str, col: ColumnSpec, text: str) -> object:
    if text == "":
        if col.required:
            table.violation(line, name, "required value is blank")
        return pd.NA
    try:
        return col.parse(text)
    except ValueError as exc:
        table.violation(line, name, str(exc))
        return pd.NA


def _check_static_rules(table: Table) -> None:
    """Run the pandera schema and turn each failure case into a located violation."""
    try:
        table.spec.pandera_schema().validate(table.frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        for case in exc.failure_cases.itertuples(index=False):
            line = int(case.index) if _is_int_like(case.index) else 1
            value = "" if case.column in PRIVATE_COLUMNS else f" (got {shown(case.failure_case)})"
            table.violation(line, str(case.column), f"{case.check}{value}")


def _is_int_like(value: object) -> bool:
    try:
        return not pd.isna(value) and float(value).is_integer()
    except (TypeError, ValueError):
        return False


def _check_unique_keys(table: Table) -> None:
    """Report every repeat of a key (pandera's uniqueness check); the first occurrence is taken as the real row."""
    for key in table.spec.unique:
        keyed = table.frame[list(key)].dropna()  # a blank or unparseable key cell is reported already
        try:
            pa.DataFrameSchema(unique=list(key), report_duplicates="exclude_first").validate(keyed, lazy=True)
        except pa.errors.SchemaErrors as exc:
            # pandera names the repeated rows (one failure case per key column); not where the key came first
            first_line = keyed.index.to_series().groupby([keyed[c] for c in key]).transform("first")
            label = " and ".join(key)
            for line in sorted(set(exc.failure_cases["index"])):
                row = tuple(keyed.loc[line])
                what = label if set(key) & PRIVATE_COLUMNS else f"{label} {', '.join(map(shown, row))}"
                table.violation(line, key[-1], f"duplicate {what} (first on line {first_line[line]})")


# --------------------------------------------------------------------------- across tables


def check_cross_table(tables: dict[str, Table]) -> list[Violation]:
    """References, cohort-dependent ranges and attendance consistency, for the tables present.

    A rule runs only when the tables it needs were read; rows whose own key
    cells are blank or unparseable were already reported and are skipped here.
    Lookups go through `_trusted` copies, so one bad cohort row (say min >= max)
    is reported once instead of once per rating that uses it.
    """
    cohorts, scholars, sessions = tables.get("cohorts"), tables.get("scholars"), tables.get("sessions")
    attendance, ratings, retro = tables.get("attendance"), tables.get("ratings"), tables.get("retrospective")
    before = {stem: len(t.violations) for stem, t in tables.items()}

    if cohorts is not None:
        _check_scale_order(cohorts, "session_scale_min", "session_scale_max", required=True)
        _check_scale_order(cohorts, "retro_scale_min", "retro_scale_max", required=False)
        for table in (scholars, sessions):
            if table is not None:
                _check_reference(table, "cohort", cohorts, "cohort")
    trusted = _trusted(cohorts, scholars, sessions)

    if sessions is not None and cohorts is not None:
        n_weeks = _lookup(sessions.frame["cohort"], trusted["cohorts"], "cohort", "n_weeks")
        _check_range(sessions, "week", 1, n_weeks, "the cohort's n_weeks")

    for table in (attendance, ratings):
        if table is None:
            continue
        if sessions is not None:
            _check_reference(table, "session_id", sessions, "session_id")
        if scholars is not None:
            _check_reference(table, "scholar_id", scholars, "scholar_id")
        if sessions is not None and scholars is not None:
            _check_same_cohort(table, trusted["sessions"], trusted["scholars"])

    if sessions is not None and scholars is not None:
        _check_topics(sessions, scholars)

    if ratings is not None and sessions is not None and cohorts is not None:
        session_cohort = _lookup(ratings.frame["session_id"], trusted["sessions"], "session_id", "cohort")
        low = _lookup(session_cohort, trusted["cohorts"], "cohort", "session_scale_min")
        high = _lookup(session_cohort, trusted["cohorts"], "cohort", "session_scale_max")
        _check_range(ratings, "rating", low, high, "the cohort's session scale")
    if ratings is not None and attendance is not None:
        _check_rated_but_absent(ratings, attendance)

    if retro is not None and scholars is not None:
        _check_reference(retro, "scholar_id", scholars, "scholar_id")
        if cohorts is not None:
            _check_retro_ratings(retro, trusted["scholars"], cohorts.frame, trusted["cohorts"])

    return [v for stem, t in tables.items() for v in t.violations[before[stem]:]]


def _trusted(cohorts: Table | None, scholars: Table | None, sessions: Table | None) -> dict[str, pd.DataFrame]:
    """Copies of the lookup tables with values that broke their own rules blanked out:
    cohort bounds out of range or in the wrong order, and cohorts of scholars and
    sessions that name no known cohort. Blank lookups skip the dependent checks."""
    trusted = {name: t.frame.copy() for name, t in (("cohorts", cohorts), ("scholars", scholars), ("sessions", sessions)) if t is not None}
    if cohorts is None:
        return trusted
    frame = trusted["cohorts"]
    frame.loc[~frame["n_weeks"].between(1, 52).fillna(False).astype(bool), "n_weeks"] = pd.NA
    for low, high in (("session_scale_min", "session_scale_max"), ("retro_scale_min", "retro_scale_max")):
        frame.loc[(frame[low] >= frame[high]).fillna(False).astype(bool), [low, high]] = pd.NA
    known = set(frame["cohort"].dropna())
    for name in ("scholars", "sessions"):
        if name in trusted:
            other = trusted[name]
            other.loc[~other["cohort"].isin(known), "cohort"] = pd.NA
    return trusted


def _lookup(keys: pd.Series, frame: pd.DataFrame, key: str, value: str) -> pd.Series:
    """`value` of the row of `frame` whose `key` equals each of `keys` (first occurrence; NA if none)."""
    mapping = frame.dropna(subset=[key]).drop_duplicates(key).set_index(key)[value]
    return keys.map(mapping)


def _check_reference(table: Table, column: str, target: Table, target_column: str) -> None:
    known = set(target.frame[target_column].dropna())
    for line, value in table.frame[column].dropna().items():
        if value not in known:
            what = "" if column in PRIVATE_COLUMNS else f" {shown(value)}"
            table.violation(line, column, f"unknown {column}{what} (not in {target.file})")


def _check_range(table: Table, column: str, low: pd.Series | int, high: pd.Series, bound_name: str) -> None:
    """`low <= value <= high` row by row, where the bounds exist (NA bounds were reported elsewhere)."""
    values = table.frame[column]
    low = pd.Series(low, index=values.index) if not isinstance(low, pd.Series) else low
    for line, value in values.dropna().items():
        lo, hi = low.loc[line], high.loc[line]
        if pd.isna(lo) or pd.isna(hi):
            continue
        if not lo <= value <= hi:
            table.violation(line, column, f"{value} is outside {lo}..{hi} ({bound_name})")


def _check_scale_order(cohorts: Table, low: str, high: str, required: bool) -> None:
    """min < max; an optional scale must give both ends or neither."""
    frame = cohorts.frame
    for line, lo, hi in zip(frame.index, frame[low], frame[high]):
        if pd.isna(lo) and pd.isna(hi):
            continue
        if pd.isna(lo) or pd.isna(hi):
            if not required:
                blank = low if pd.isna(lo) else high
                given = high if blank == low else low
                cohorts.violation(line, blank, f"is blank but {given} is given (give both or neither)")
            continue
        if lo >= hi:
            cohorts.violation(line, low, f"{low} ({lo}) must be less than {high} ({hi})")


def _check_same_cohort(table: Table, sessions: pd.DataFrame, scholars: pd.DataFrame) -> None:
    """Attendance and ratings pair a scholar with a session of the scholar's own cohort."""
    session_cohort = _lookup(table.frame["session_id"], sessions, "session_id", "cohort")
    scholar_cohort = _lookup(table.frame["scholar_id"], scholars, "scholar_id", "cohort")
    both = session_cohort.notna() & scholar_cohort.notna()
    for line in table.frame.index[both & (session_cohort != scholar_cohort)]:
        table.violation(
            line,
            "scholar_id",
            f"scholar is in cohort {shown(scholar_cohort.loc[line])} but session "
            f"{shown(table.frame.at[line, 'session_id'])} is in cohort {shown(session_cohort.loc[line])}",
        )


def _check_topics(sessions: Table, scholars: Table) -> None:
    """A session's topic is a stream of scholars.csv (the same vocabulary), 'general', or blank."""
    if "topic" not in sessions.frame:
        return
    streams = set(scholars.frame["stream"].dropna()) if "stream" in scholars.frame else set()
    allowed = sorted(streams) + [GENERAL_TOPIC]
    for line, topic in sessions.frame["topic"].dropna().items():
        if topic not in streams and topic != GENERAL_TOPIC:
            known = ", ".join(shown(t) for t in allowed[:8]) + (", ..." if len(allowed) > 8 else "")
            sessions.violation(line, "topic", f"unknown topic {shown(topic)}: a topic is a stream of "
                               f"{scholars.file} or {GENERAL_TOPIC!r} (known: {known})")


def _check_rated_but_absent(ratings: Table, attendance: Table) -> None:
    """A rating from a pair recorded as attended = 0 contradicts the attendance record."""
    pairs = attendance.frame.dropna(subset=["session_id", "scholar_id"]).drop_duplicates(["session_id", "scholar_id"])
    absent = pairs.loc[pairs["attended"] == 0]
    absent_line = {(s, p): line for line, s, p in zip(absent.index, absent["session_id"], absent["scholar_id"])}
    for line, session, scholar in zip(ratings.frame.index, ratings.frame["session_id"], ratings.frame["scholar_id"]):
        if (session, scholar) in absent_line:
            ratings.violation(
                line,
                "rating",
                f"rating from a pair recorded attended = 0 ({attendance.file} line {absent_line[session, scholar]})",
            )


def _check_retro_ratings(retro: Table, scholars: pd.DataFrame, cohorts: pd.DataFrame, trusted_cohorts: pd.DataFrame) -> None:
    """Retro ratings lie within the scholar's cohort's retro scale, which must exist."""
    cohort = _lookup(retro.frame["scholar_id"], scholars, "scholar_id", "cohort")
    given = _lookup(cohort, cohorts, "cohort", "retro_scale_min").notna() | _lookup(cohort, cohorts, "cohort", "retro_scale_max").notna()
    no_scale = cohort.notna() & ~given & retro.frame["rating"].notna()
    for line in retro.frame.index[no_scale]:
        retro.violation(
            line,
            "rating",
            f"cohort {shown(cohort.loc[line])} has no retro scale (retro_scale_min/max are blank for it in the cohorts table)",
        )
    low = _lookup(cohort, trusted_cohorts, "cohort", "retro_scale_min")
    high = _lookup(cohort, trusted_cohorts, "cohort", "retro_scale_max")
    _check_range(retro, "rating", low, high, "the cohort's retro scale")


# --------------------------------------------------------------------------- typed output


def finalize(table: Table) -> pd.DataFrame:
    """The valid table in the dtypes ProgramData promises, with a plain 0..n-1 index.

    Required ints become int64, optional ints nullable Int64, hours float64 with
    the contract's default 1.0, dates datetime64, text str with NA for blanks.
    """
    frame = table.frame.reset_index(drop=True)
    for name, col in table.spec.columns.items():
        frame[name] = _final_column(name, col, frame[name])
    return frame


def _final_column(name: str, col: ColumnSpec, values: pd.Series) -> pd.Series:
    if name == "hours":
        return values.astype("Float64").fillna(1.0).astype("float64")
    if col.check_dtype == "Int64":
        return values.astype("int64") if col.required else values
    if col.check_dtype == "object":  # dates
        return pd.to_datetime(values)
    return values  # text: already str with NA for blanks
