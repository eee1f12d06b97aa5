"""The import mapping: which spreadsheet feeds which table, and how its cells read.

A mapping is a YAML file (README.md "Preparing a real export"; `mats-eval init`
writes a commented example):

    cohorts:                       # the cohorts.csv rows, written out in full
      - {cohort: MATS 5.0, n_weeks: 4, start_date: 2024-01-08,
         session_scale_min: 1, session_scale_max: 5, retro_scale_min: 0, retro_scale_max: 10}
    sources:
      - file: calendar.xlsx        # relative to the mapping file
        sheet: Calendar            # .xlsx/.ods: the sheet (default: the first)
        header_row: 3              # the row holding the column names, as the spreadsheet numbers it
        table: sessions
        cohort: MATS 5.0           # or columns: {cohort: ...}; may be left out with one cohort
        columns: {session: Session, date: Date, kind: Type, policy: Attendance}
        values: {policy: {Required: mandatory}}

Every key is checked here, before any spreadsheet is opened: an unknown key is
refused with the valid ones, so a typo never silently drops a column. All
problems are collected and raised together as one `ValidationError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from mats_eval.data.programdata import POLICIES, RETRO_ELEMENTS
from mats_eval.errors import ValidationError

# Fields a source's `columns` may name, per table. `scholar` and `session` are the
# spreadsheet's own names for people and sessions: the importer turns them into
# scholar_id (a pseudonym) and session_id; `date` becomes `week`.
FIELDS: dict[str, tuple[str, ...]] = {
    "scholars": ("scholar", "also", "cohort", "archetype", "stream"),
    "sessions": ("session", "cohort", "week", "date", "kind", "policy", "speaker", "hours", "topic"),
    "attendance": ("scholar", "session", "cohort", "attended"),
    "ratings": ("scholar", "session", "cohort", "rating"),
    "retrospective": ("scholar", "cohort", "element", "policy", "rating"),
}
# A wide source has one column per session (or survey element): the header names
# the key field and the cell holds the value field.
WIDE_KEY = {"attendance": "session", "ratings": "session", "retrospective": "element"}
WIDE_VALUE = {"attendance": "attended", "ratings": "rating", "retrospective": "rating"}
# What each table needs, from a column or (for `fixed`) one value for the whole source.
NEEDED: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "scholars": ("scholar",),
    "sessions": ("session", ("week", "date"), "kind", "policy"),
    "attendance": ("scholar", "session", "attended"),
    "ratings": ("scholar", "session", "rating"),
    "retrospective": ("scholar", "element", "rating"),
}
IDENTITY_FIELDS = frozenset({"scholar", "also"})  # never printed: the place names the cell
MISSING = "missing"  # a `values` entry meaning "no value": the row or cell is left out
LAYOUTS = ("long", "wide")
DUPLICATES = ("error", "keep-first", "keep-last")

_TOP_KEYS = ("cohorts", "sources", "session_names")
_COHORT_KEYS = ("cohort", "n_weeks", "start_date", "session_scale_min", "session_scale_max",
                "retro_scale_min", "retro_scale_max")
_SOURCE_KEYS = ("file", "sheet", "header_row", "encoding", "table", "layout", "cohort", "columns",
                "wide_columns", "ignore", "values", "fixed", "session_names", "policy_by_element", "keep",
                "date_format", "duplicates")


@dataclass(frozen=True)
class Cohort:
    """One cohorts.csv row, as the mapping gives it."""

    name: str
    n_weeks: int
    start_date: date | None
    session_scale: tuple[int, int]
    retro_scale: tuple[int, int] | None

    def row(self) -> dict:
        retro = self.retro_scale or (None, None)
        return {"cohort": self.name, "n_weeks": self.n_weeks,
                "start_date": self.start_date.isoformat() if self.start_date else None,
                "session_scale_min": self.session_scale[0], "session_scale_max": self.session_scale[1],
                "retro_scale_min": retro[0], "retro_scale_max": retro[1]}


@dataclass(frozen=True)
class Source:
    """One spreadsheet (one sheet of it) and how it feeds one table.

    columns: field -> header (`also`: a list of headers); wide_columns: "rest"
    (every column not otherwise named), a list of headers, or header -> session
    name / survey element; values: field -> {cell text: value or MISSING};
    fixed: field -> one value for every row.
    """

    where: str
    file: str
    path: Path
    table: str
    sheet: str | None = None
    header_row: int = 1
    encoding: str = "utf-8"
    layout: str = "long"
    cohort: str | None = None
    columns: dict = field(default_factory=dict)
    wide_columns: str | list | dict = "rest"
    ignore: tuple[str, ...] = ()
    values: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    session_names: dict = field(default_factory=dict)
    policy_by_element: dict = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    date_format: str | None = None
    duplicates: str = "error"

    def has(self, name: str) -> bool:
        """Does the source give `name`, from a column, a fixed value or (wide) its headers?"""
        wide = self.layout == "wide" and name in (WIDE_KEY[self.table], WIDE_VALUE[self.table])
        return name in self.columns or name in self.fixed or wide


@dataclass(frozen=True)
class Mapping:
    path: Path
    cohorts: dict[str, Cohort]
    sources: list[Source]


# --------------------------------------------------------------------------- reading


def load_mapping(path: Path | str) -> Mapping:
    """Read and check a mapping YAML; every problem found is raised together (ValidationError)."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError([f"{path.name}: mapping file not found"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationError([f"{path.name}: not valid YAML: {exc}"]) from None
    problems = _Problems(path.name)
    mapping = _parse(doc, path, problems)
    if problems.found:
        raise ValidationError(problems.found)
    return mapping


class _Problems:
    """Collects `mapping.yaml: where: message` lines."""

    def __init__(self, file: str):
        self.file, self.found = file, []

    def add(self, where: str, message: str) -> None:
        self.found.append(f"{self.file}: {where}: {message}")

    def unknown_keys(self, given: dict, allowed, where: str) -> None:
        for key in given:
            if key not in allowed:
                self.add(f"{where}.{key}" if where else str(key), f"unknown key (valid: {', '.join(allowed)})")


def _parse(doc, path: Path, problems: _Problems) -> Mapping:
    if not isinstance(doc, dict):
        problems.add("top level", "expected a mapping with 'cohorts' and 'sources'")
        return Mapping(path, {}, [])
    problems.unknown_keys(doc, _TOP_KEYS, "")
    cohorts = {}
    for i, raw in enumerate(_list(doc.get("cohorts"), "cohorts", problems)):
        cohort = _cohort(raw, f"cohorts[{i}]", problems)
        if cohort is not None:
            if cohort.name in cohorts:
                problems.add(f"cohorts[{i}].cohort", f"cohort {cohort.name!r} is given twice")
            cohorts[cohort.name] = cohort
    shared_names = _text_dict(doc.get("session_names") or {}, "session_names", problems)
    sources = [_source(raw, f"sources[{i}]", path.parent, cohorts, shared_names, problems)
               for i, raw in enumerate(_list(doc.get("sources"), "sources", problems))]
    return Mapping(path, cohorts, [s for s in sources if s is not None])


def _list(raw, where: str, problems: _Problems) -> list:
    if not isinstance(raw, list) or not raw:
        problems.add(where, "must be a non-empty list")
        return []
    return raw


def _text_dict(raw, where: str, problems: _Problems) -> dict[str, str]:
    """A mapping of cell text -> text (YAML may read `1:` or `yes:` as a number or bool: keep the text)."""
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping")
        return {}
    return {_yaml_text(k): _yaml_text(v) for k, v in raw.items()}


def _yaml_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value).strip()


def _integer(raw: dict, key: str, where: str, problems: _Problems, required: bool = True,
             low: int | None = None, high: int | None = None) -> int | None:
    value = raw.get(key)
    if value is None:
        if required:
            problems.add(f"{where}.{key}", "missing")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or (low is not None and value < low) \
            or (high is not None and value > high):
        span = f" between {low} and {high}" if high is not None else (f" of at least {low}" if low is not None else "")
        problems.add(f"{where}.{key}", f"must be a whole number{span}, got {value!r}")
        return None
    return value


def _cohort(raw, where: str, problems: _Problems) -> Cohort | None:
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping (cohort, n_weeks, start_date, session_scale_min, ...)")
        return None
    problems.unknown_keys(raw, _COHORT_KEYS, where)
    name = _yaml_text(raw.get("cohort"))
    if not name:
        problems.add(f"{where}.cohort", "every cohort needs a name")
        return None
    n_weeks = _integer(raw, "n_weeks", where, problems, low=1, high=52)
    start = raw.get("start_date")
    if start is not None and not isinstance(start, date):
        try:
            start = date.fromisoformat(str(start))
        except ValueError:
            problems.add(f"{where}.start_date", f"must be an ISO date (YYYY-MM-DD), got {start!r}")
            start = None
    scales = {}
    for scale, required in (("session_scale", True), ("retro_scale", False)):
        low = _integer(raw, f"{scale}_min", where, problems, required)
        high = _integer(raw, f"{scale}_max", where, problems, required)
        if low is not None and high is not None:
            if low >= high:
                problems.add(f"{where}.{scale}_min", f"must be less than {scale}_max ({low} >= {high})")
            scales[scale] = (low, high)
        elif (low is None) != (high is None) and not required:
            problems.add(f"{where}.{scale}_min", f"give both {scale}_min and {scale}_max, or neither")
    if n_weeks is None or "session_scale" not in scales:
        return None
    return Cohort(name, n_weeks, start, scales["session_scale"], scales.get("retro_scale"))


def _source(raw, where: str, folder: Path, cohorts: dict[str, Cohort], shared_names: dict,
            problems: _Problems) -> Source | None:
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping (file, table, columns, ...)")
        return None
    file, table = _yaml_text(raw.get("file")), _yaml_text(raw.get("table"))
    where = f"{where} ({file})" if file else where
    problems.unknown_keys(raw, _SOURCE_KEYS, where)
    if not file:
        problems.add(f"{where}.file", "missing (the spreadsheet, relative to the mapping file)")
    if table not in FIELDS:
        problems.add(f"{where}.table", f"must be one of {', '.join(FIELDS)}, got {raw.get('table')!r}")
    if not file or table not in FIELDS:
        return None
    fields = FIELDS[table]

    columns = raw.get("columns") or {}
    if not isinstance(columns, dict):
        problems.add(f"{where}.columns", "must be a mapping of field -> column header")
        columns = {}
    problems.unknown_keys(columns, fields, f"{where}.columns")
    columns = {k: ([_yaml_text(h) for h in v] if isinstance(v, list) else _yaml_text(v))
               for k, v in columns.items() if k in fields}
    if isinstance(columns.get("also"), str):
        columns["also"] = [columns["also"]]

    values = raw.get("values") or {}
    if not isinstance(values, dict):
        problems.add(f"{where}.values", "must be a mapping of field -> {cell text: value}")
        values = {}
    problems.unknown_keys(values, fields, f"{where}.values")
    values = {k: _value_map(v, f"{where}.values.{k}", problems) for k, v in values.items() if k in fields}

    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        problems.add(f"{where}.fixed", "must be a mapping of field -> value")
        fixed = {}
    problems.unknown_keys(fixed, [f for f in fields if f not in IDENTITY_FIELDS], f"{where}.fixed")
    fixed = {k: _yaml_text(v) for k, v in fixed.items() if k in fields and k not in IDENTITY_FIELDS}

    source = Source(
        where=where, file=file, path=folder / file, table=table,
        sheet=_yaml_text(raw["sheet"]) if raw.get("sheet") is not None else None,
        header_row=_integer(raw, "header_row", where, problems, required=False, low=1) or 1,
        encoding=_yaml_text(raw.get("encoding")) or "utf-8",
        layout=_choice(raw, "layout", LAYOUTS, where, problems),
        cohort=_source_cohort(raw, columns, cohorts, where, problems),
        columns=columns,
        wide_columns=_wide_columns(raw.get("wide_columns", "rest"), where, problems),
        ignore=tuple(_headers(raw.get("ignore"), f"{where}.ignore", problems)),
        values=values, fixed=fixed,
        session_names={**shared_names, **_text_dict(raw.get("session_names") or {}, f"{where}.session_names",
                                                    problems)},
        policy_by_element=_policy_by_element(raw.get("policy_by_element") or {}, where, problems),
        keep=tuple(_headers(raw.get("keep"), f"{where}.keep", problems)),
        date_format=_yaml_text(raw.get("date_format")) or None,
        duplicates=_choice(raw, "duplicates", DUPLICATES, where, problems),
    )
    _check_fields(source, cohorts, problems)
    return source


def _choice(raw: dict, key: str, allowed: tuple[str, ...], where: str, problems: _Problems) -> str:
    value = _yaml_text(raw.get(key)) or allowed[0]
    if value not in allowed:
        problems.add(f"{where}.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
        return allowed[0]
    return value


def _headers(raw, where: str, problems: _Problems) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(where, "must be a list of column headers")
        return []
    return [_yaml_text(h) for h in raw]


def _value_map(raw, where: str, problems: _Problems) -> dict[str, str | None]:
    """{cell text: value}; a null value or the word `missing` means "no value" (None)."""
    labels = _text_dict(raw, where, problems)
    return {label: (None if value in ("", MISSING) else value) for label, value in labels.items()}


def _wide_columns(raw, where: str, problems: _Problems):
    if raw == "rest" or isinstance(raw, list):
        return raw if raw == "rest" else [_yaml_text(h) for h in raw]
    if isinstance(raw, dict):
        return _text_dict(raw, f"{where}.wide_columns", problems)
    problems.add(f"{where}.wide_columns", "must be 'rest', a list of headers, or header -> name")
    return "rest"


def _policy_by_element(raw, where: str, problems: _Problems) -> dict[str, str]:
    policies = _text_dict(raw, f"{where}.policy_by_element", problems)
    for element, policy in policies.items():
        if element not in RETRO_ELEMENTS:
            problems.add(f"{where}.policy_by_element.{element}", f"not a survey element (valid: {', '.join(RETRO_ELEMENTS)})")
        if policy not in POLICIES:
            problems.add(f"{where}.policy_by_element.{element}", f"must be {' or '.join(POLICIES)}, got {policy!r}")
    return policies


def _source_cohort(raw: dict, columns: dict, cohorts: dict[str, Cohort], where: str, problems: _Problems) -> str | None:
    """The source's one cohort: its `cohort` key, else the mapping's only cohort (None: a cohort column)."""
    given = _yaml_text(raw.get("cohort"))
    if given:
        if cohorts and given not in cohorts:
            problems.add(f"{where}.cohort", f"{given!r} is not one of the mapping's cohorts ({', '.join(cohorts)})")
        return given
    if "cohort" in columns:
        return None
    if len(cohorts) == 1:
        return next(iter(cohorts))
    if cohorts:
        problems.add(f"{where}.cohort", "missing: with several cohorts, say which one (or map a cohort column)")
    return None


def _check_fields(source: Source, cohorts: dict[str, Cohort], problems: _Problems) -> None:
    """Everything the table needs is given once; layout-specific keys only where they apply."""
    where, table = source.where, source.table
    if source.layout == "wide":
        if table not in WIDE_KEY:
            problems.add(f"{where}.layout", f"a {table} source cannot be wide (wide: {', '.join(WIDE_KEY)})")
            return
        for name in (WIDE_KEY[table], WIDE_VALUE[table]):
            if name in source.columns:
                problems.add(f"{where}.columns.{name}", "a wide source takes this from its column headers")
    for need in NEEDED[table]:
        options = need if isinstance(need, tuple) else (need,)
        given = [name for name in options if source.has(name)]
        if not given:
            problems.add(f"{where}.columns", f"needs a column for {' or '.join(options)}")
        elif len(given) > 1:
            problems.add(f"{where}.columns", f"give {' or '.join(options)}, not both")
    if table == "retrospective" and not source.has("policy") and not source.policy_by_element:
        problems.add(f"{where}.policy_by_element",
                     "missing: say how each element was offered (e.g. {seminars: optional}), or map a policy column")
    uses_dates = source.has("date")
    if uses_dates and source.cohort in cohorts and cohorts[source.cohort].start_date is None:
        problems.add(f"{where}.columns.date", f"cohort {source.cohort!r} needs a start_date to turn dates into weeks")
    if source.wide_columns != "rest" and source.layout != "wide":
        problems.add(f"{where}.wide_columns", "only a wide source has session (or element) columns")
