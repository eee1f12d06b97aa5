"""One source's rows as records: each field's value parsed from its cell, and the cell it came from.

A long source gives one record per row. A wide source gives one record per
filled cell of its session (or survey element) columns: the header says which
session, the cell says whether the scholar came (or the rating). Each cell is
read in two steps:

1. the mapping's `values` for that field, if the cell matches one of its
   labels (compared without case or extra spaces): "4 - Good" -> 4,
   "late" -> 1, "N/A" -> missing;
2. the field's own reader (a whole number, 0/1, a session kind, a date ...),
   applied to the mapped value or, when no label matched, to the cell itself.

A value that is missing (a blank mark, "N/A") leaves its record out: an
unrecorded attendance pair is unknown, never "absent" (data/README.md).
Identities (the `scholar` and `also` fields) are normalised (trimmed, single
spaces, lower case), so "Ada.Quill@Example.org " and "ada.quill@example.org"
are one person; they are never quoted in a message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from mats_eval.data.importer.mapping import IDENTITY_FIELDS, WIDE_KEY, WIDE_VALUE, Source
from mats_eval.data.importer.sheets import Grid, Place, Problem, normalise
from mats_eval.data.programdata import ARCHETYPES, POLICIES, RETRO_ELEMENTS, SESSION_KINDS
from mats_eval.data.schema import parse_date, parse_flag, parse_float, parse_int, shown

_MAX_LABELS_SHOWN = 8


@dataclass
class Record:
    """One future table row: parsed field values and the cells they came from."""

    source: Source
    row: Place
    values: dict[str, object] = field(default_factory=dict)
    places: dict[str, Place] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)  # free-text columns the mapping keeps, by header

    def at(self, name: str) -> Place:
        """Where field `name` came from (the row, for a fixed value)."""
        return self.places.get(name, self.row)


# --------------------------------------------------------------------------- cell readers


@dataclass(frozen=True)
class Reader:
    """How a field's cell reads: the parser (raises ValueError), what it expects, and whether blank is allowed."""

    parse: Callable[[str], object]
    expected: str
    blank_is_missing: bool


def identity(text: str) -> str:
    return normalise(text)


def _text(text: str) -> str:
    return " ".join(text.split())


def _enum(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """'Discussion group' -> 'discussion_group' when that is one of `allowed`."""
    def parse(text: str) -> str:
        word = "_".join(text.replace("-", " ").split()).lower()
        if word not in allowed:
            raise ValueError
        return word
    return parse


def _positive(text: str) -> float:
    value = parse_float(text)
    if value <= 0:
        raise ValueError
    return value


def _date_reader(date_format: str | None) -> Callable[[str], date]:
    """ISO dates (what a workbook's date cells read as), or the mapping's `date_format` (strptime codes)."""
    def parse(text: str) -> date:
        if date_format:
            try:
                return datetime.strptime(text, date_format).date()
            except ValueError:
                pass
        return parse_date(text)
    return parse


def readers(source: Source) -> dict[str, Reader]:
    """The reader of every field a source may give."""
    def one_of(values: tuple[str, ...]) -> str:
        return "one of " + ", ".join(values)
    date_shape = f"a date ({source.date_format} or YYYY-MM-DD)" if source.date_format else "a date (YYYY-MM-DD)"
    return {
        "scholar": Reader(identity, "the scholar's name or email", False),
        "also": Reader(identity, "another name or email of the scholar", True),
        "cohort": Reader(_text, "a cohort of the mapping", False),
        "session": Reader(_text, "the session's name", False),
        "week": Reader(parse_int, "a week number", False),
        "date": Reader(_date_reader(source.date_format), date_shape, False),
        "kind": Reader(_enum(SESSION_KINDS), one_of(SESSION_KINDS), False),
        "policy": Reader(_enum(POLICIES), one_of(POLICIES), False),
        "element": Reader(_enum(RETRO_ELEMENTS), one_of(RETRO_ELEMENTS), False),
        "archetype": Reader(_enum(ARCHETYPES), one_of(ARCHETYPES), True),
        "attended": Reader(parse_flag, "an attendance mark (1/0, yes/no, true/false)", True),
        "rating": Reader(parse_int, "a whole-number rating", True),
        "hours": Reader(_positive, "a number of hours above 0", True),
        "speaker": Reader(_text, "a name", True),
        "stream": Reader(_text, "a research track", True),
        "topic": Reader(_text, "a topic", True),
    }


class Missing:
    """The value of a cell that says "no value" (blank, or a label mapped to `missing`)."""


MISSING = Missing()


def read_cell(name: str, text: str, reader: Reader, labels: dict[str, str | None] | None):
    """(value or MISSING, None) or (None, message saying what was found and what was expected)."""
    private = name in IDENTITY_FIELDS
    found = "this cell" if private else shown(text)
    if labels:
        matched = {normalise(label): value for label, value in labels.items()}.get(normalise(text), text)
        if matched is None:
            return MISSING, None
        if matched != text:  # a label: its mapped value must read as the field
            return _parse(reader, matched, f"the mapping turns {found} into {shown(matched)}, which is not")
        text_expected = f"one of the labels {_labels(labels)} or {reader.expected}"
    else:
        text_expected = reader.expected
    if text == "":
        return (MISSING, None) if reader.blank_is_missing else (None, f"is blank (expected {reader.expected})")
    return _parse(reader, text, f"{found} is not", text_expected)


def _parse(reader: Reader, text: str, what: str, expected: str | None = None):
    try:
        return reader.parse(text), None
    except ValueError:
        return None, f"{what} {expected or reader.expected}"


def _labels(labels: dict) -> str:
    shown_labels = [shown(label) for label in list(labels)[:_MAX_LABELS_SHOWN]]
    return "(" + ", ".join(shown_labels) + (", ..." if len(labels) > _MAX_LABELS_SHOWN else "") + ")"


# --------------------------------------------------------------------------- rows -> records


@dataclass
class SourceRecords:
    """What one source produced: its records, its problems, and the bookkeeping the report prints."""

    source: Source
    grid: Grid | None
    records: list[Record] = field(default_factory=list)
    failed: list[Record] = field(default_factory=list)  # rows with a problem: they still vouch for their keys
    problems: list[Problem] = field(default_factory=list)
    unusable: bool = False  # its columns or fixed values are wrong: no row was read
    rows_read: int = 0
    left_out: int = 0  # cells or rows whose value was missing (blank mark, N/A)
    dropped: list[str] = field(default_factory=list)  # headers of columns not used (free text is dropped here)


def source_records(source: Source, grid: Grid) -> SourceRecords:
    """Parse every row of `grid` as the mapping says; problems are collected, never raised."""
    out = SourceRecords(source, grid, rows_read=len(grid.rows))
    parsers = readers(source)
    fixed = _fixed_values(source, grid, parsers, out.problems)
    fields = _field_positions(source, grid, out.problems)
    kept = {h: p for h in source.keep if (p := _position(grid, h, "keep", out.problems)) is not None}
    wide = _wide_positions(source, grid, fields, kept, out.problems) if source.layout == "wide" else []
    if out.problems:  # a missing column or a bad fixed value makes every row wrong: say so once
        out.unusable = True
        return out
    used = set(kept.values()) | {p for p, _ in wide} | {p for ps in fields.values() for p in _as_list(ps)}
    out.dropped = [h for p, h in enumerate(grid.headers) if h and p not in used]
    for row, cells in grid.rows:
        record = Record(source, grid.place(row), dict(fixed), kept={h: cells[p] for h, p in kept.items()})
        if wide:
            if _read_fields(record, fields, cells, parsers, grid, out.problems):
                _spread(record, wide, cells, parsers, grid, out)
            else:
                out.failed.append(record)
        elif _read_fields(record, fields, cells, parsers, grid, out.problems, value_first=True):
            out.records.append(record)
        elif _value_missing(record):
            out.left_out += 1
        else:
            out.failed.append(record)
    return out


def _spread(record: Record, wide: list[tuple[int, str]], cells: list[str], parsers: dict[str, Reader],
            grid: Grid, out: SourceRecords) -> None:
    """One record per filled value cell of a wide row: the header gives the key, the cell the value."""
    key, value = WIDE_KEY[record.source.table], WIDE_VALUE[record.source.table]
    for position, name in wide:
        one = Record(record.source, record.row, {**record.values, key: name},
                     {**record.places, key: grid.place(grid.header_row, position)}, record.kept)
        if _read_one(one, value, cells[position], parsers, grid.place(record.row.row, position), out.problems):
            if _value_missing(one):
                out.left_out += 1
            else:
                out.records.append(one)
        else:
            out.failed.append(one)


def _as_list(position: int | list[int]) -> list[int]:
    return position if isinstance(position, list) else [position]


def _fixed_values(source: Source, grid: Grid, parsers: dict[str, Reader], problems: list[Problem]) -> dict:
    """The mapping's `fixed` values, read once as if they were cells."""
    values = {}
    for name, text in source.fixed.items():
        value, message = read_cell(name, text, parsers[name], source.values.get(name))
        if message:
            problems.append(Problem(grid.place(), f"the mapping's fixed {name}: {message}"))
        values[name] = value
    return values


def _value_missing(record: Record) -> bool:
    """Attendance, rating and survey rows exist only where the value is known."""
    value_field = WIDE_VALUE.get(record.source.table)
    return value_field is not None and record.values.get(value_field) is MISSING


def _position(grid: Grid, header: str, where: str, problems: list[Problem]) -> int | None:
    position = grid.position(header)
    if position is None:
        problems.append(grid.missing_column(header, where))
    return position


def _field_positions(source: Source, grid: Grid, problems: list[Problem]) -> dict[str, int | list[int]]:
    positions = {}
    for name, header in source.columns.items():
        if isinstance(header, list):
            positions[name] = [p for h in header if (p := _position(grid, h, f"columns.{name}", problems)) is not None]
        elif (p := _position(grid, header, f"columns.{name}", problems)) is not None:
            positions[name] = p
    return positions


def _wide_positions(source: Source, grid: Grid, fields: dict, kept: dict, problems: list[Problem]) -> list[tuple[int, str]]:
    """(column position, session name or survey element) of each value column of a wide source."""
    if isinstance(source.wide_columns, dict):
        named = source.wide_columns.items()
    elif isinstance(source.wide_columns, list):
        named = [(h, h) for h in source.wide_columns]
    else:  # "rest": every named column the mapping does not use otherwise
        taken = {p for ps in fields.values() for p in _as_list(ps)} | set(kept.values())
        taken |= {grid.position(h) for h in source.ignore}
        named = [(h, h) for p, h in enumerate(grid.headers) if h and p not in taken]
    wide = []
    for header, key in named:
        if (position := _position(grid, header, "wide_columns", problems)) is not None:
            wide.append((position, " ".join(key.split())))
    if not wide and not problems:
        problems.append(Problem(grid.place(grid.header_row), "a wide source needs at least one session (or element) column"))
    return wide


def _read_fields(record: Record, fields: dict, cells: list[str], parsers: dict[str, Reader], grid: Grid,
                 problems: list[Problem], value_first: bool = False) -> bool:
    """Read the record's own cells; False if any was wrong or (value_first) the value is missing.

    With `value_first`, a row whose value (attended, rating) is missing is left out
    before its other cells are read: a form response rated "N/A" with no session
    chosen is not an error.
    """
    value_field = WIDE_VALUE.get(record.source.table) if value_first else None
    order = sorted(fields, key=lambda name: name != value_field)
    ok = True
    for name in order:
        position = fields[name]
        if name == "also":  # several identity columns, any of them may be blank
            record.values[name] = [identity(cells[p]) for p in position if cells[p].strip()]
            continue
        ok &= _read_one(record, name, cells[position], parsers, grid.place(record.row.row, position), problems)
        if name == value_field and _value_missing(record):
            return False
    return ok


def _read_one(record: Record, name: str, text: str, parsers: dict[str, Reader], place: Place,
              problems: list[Problem]) -> bool:
    value, message = read_cell(name, text, parsers[name], record.source.values.get(name))
    if message:
        problems.append(Problem(place, message))
        return False
    record.values[name] = value
    record.places[name] = place
    return True
