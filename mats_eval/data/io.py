"""Reading datasets and writing folders safely.

- `load(path)` reads and validates a dataset folder and returns a `ProgramData`
  with pseudonymised ids (the contract: data/README.md), each table's sha256
  kept for the run manifest.
- `atomic_folder(out, force)` makes a folder (a run folder, a report) appear
  whole or not at all.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io as stdio
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from mats_eval.errors import UsageError, ValidationError
from mats_eval.data.privacy import SCHOLAR_PREFIX, SPEAKER_PREFIX, load_key, pseudonymise
from mats_eval.data.programdata import ProgramData
from mats_eval.data.schema import FILE_LEVEL, TABLES, TableSpec, Violation, check_cross_table, finalize, parse_table

@contextmanager
def atomic_folder(out: Path | str, force: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `out`; on clean exit rename it to `out`.

    Why beside `out`: a rename is only atomic within one filesystem, so the
    temporary folder lives in `out`'s parent. An existing `out` is replaced only
    if `force` (checked before anything is created, so a refusal writes
    nothing); on any exception the temporary folder is deleted and `out` is
    left exactly as it was.
    """
    out = Path(out)
    if out.exists() and not force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    # mkdtemp makes 0700; a results folder should get the usual umask-governed mode
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    try:
        yield tmp
        _replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_folder(new: Path, out: Path) -> None:
    """Move `new` to `out`, swapping out an existing `out` with the shortest gap we can.

    The old folder is first renamed aside (not deleted) so that if the final
    rename fails it can be put back.
    """
    if not out.exists() and not out.is_symlink():
        os.replace(new, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    aside.rmdir()
    os.replace(out, aside)
    try:
        os.replace(new, out)
    except BaseException:
        os.replace(aside, out)
        raise
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


# --------------------------------------------------------------------------- loading a dataset


def load(path: Path | str) -> ProgramData:
    """Read, validate and pseudonymise a dataset folder (the contract: data/README.md).

    Every violation in every file is collected before raising one
    `ValidationError`, so a data owner fixes their export in one round. Files are
    only read, never written. Ratings of pairs with no attendance row imply
    attendance: they are added to `attendance` as attended = 1 and counted in
    `implied_attendance`.
    """

    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a dataset folder")

    tables, hashes, violations = {}, {}, []
    for stem, spec in TABLES.items():
        source = _read_table_cells(folder, spec)
        violations += source.violations
        if source.file is not None:
            hashes[source.file] = source.sha256
        if source.cells is not None:
            table = parse_table(spec, source.file, source.cells)
            tables[stem] = table
            violations += table.violations
    violations += check_cross_table(tables)
    if violations:
        raise ValidationError([str(v) for v in sorted(violations, key=_reading_order)])

    frames = {stem: finalize(table) for stem, table in tables.items()}
    frames["attendance"], implied = _add_implied_attendance(frames["attendance"], frames.get("ratings"))

    key = load_key(folder)
    for frame in frames.values():
        if "scholar_id" in frame:
            frame["scholar_id"] = pseudonymise(frame["scholar_id"], key, SCHOLAR_PREFIX)
    frames["sessions"]["speaker"] = pseudonymise(frames["sessions"]["speaker"], key, SPEAKER_PREFIX)

    return ProgramData(
        cohorts=frames["cohorts"],
        scholars=frames["scholars"],
        sessions=frames["sessions"],
        attendance=frames["attendance"],
        ratings=frames.get("ratings"),
        retrospective=frames.get("retrospective"),
        source=folder,
        input_hashes=hashes,
        implied_attendance=implied,
    )


def _reading_order(violation: Violation) -> tuple:
    """Contract table order, then line, then contract column order: how a person fixes a file."""
    stem = violation.file.rsplit(".", 1)[0]
    tables = list(TABLES)
    columns = list(TABLES[stem].columns) if stem in TABLES else []
    column = columns.index(violation.column) if violation.column in columns else len(columns)
    return (tables.index(stem) if stem in tables else len(tables), violation.file, violation.line, column)


def _add_implied_attendance(attendance: pd.DataFrame, ratings: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """Append attended = 1 rows for rated pairs that have no attendance row; return (table, count)."""

    if ratings is None or ratings.empty:
        return attendance, 0
    pair = ["session_id", "scholar_id"]
    recorded = attendance[pair].drop_duplicates()
    rated = ratings[pair].merge(recorded, on=pair, how="left", indicator=True)
    implied = rated.loc[rated["_merge"] == "left_only", pair].assign(attended=1)
    if implied.empty:
        return attendance, 0
    combined = pd.concat([attendance, implied], ignore_index=True)
    combined["attended"] = combined["attended"].astype("int64")
    for column in pair:
        combined[column] = combined[column].astype(attendance[column].dtype)
    return combined, len(implied)


# --------------------------------------------------------------------------- reading one table as text cells


@dataclass
class _TableSource:
    """What reading one table produced: the file used, its hash, its text cells
    (None if absent or unusable) and the file-level violations."""

    file: str | None = None
    sha256: str = ""
    cells: pd.DataFrame | None = None
    violations: list[Violation] = field(default_factory=list)


def _read_table_cells(folder: Path, spec: TableSpec) -> _TableSource:
    """Find `STEM.csv` or `STEM.parquet` and turn it into a frame of stripped text cells.

    Header-only optional tables count as absent; header-only required ones are
    a violation, as are missing, empty, ambiguous or undecodable files.
    """

    csv_path, parquet_path = folder / f"{spec.stem}.csv", folder / f"{spec.stem}.parquet"
    present = [p for p in (csv_path, parquet_path) if p.is_file()]
    if not present:
        if spec.required_file:
            return _TableSource(violations=[Violation(csv_path.name, 1, FILE_LEVEL, "required file is missing")])
        return _TableSource()
    if len(present) == 2:
        message = f"both {csv_path.name} and {parquet_path.name} exist; keep only one"
        return _TableSource(violations=[Violation(csv_path.name, 1, FILE_LEVEL, message)])

    path = present[0]
    data = path.read_bytes()
    source = _TableSource(path.name, hashlib.sha256(data).hexdigest())
    reader = _parquet_cells if path.suffix == ".parquet" else _csv_cells
    cells, problems = reader(path.name, data)
    source.violations = problems
    if cells is None:
        return source
    if cells.empty:
        if spec.required_file:
            source.violations.append(Violation(path.name, 2, FILE_LEVEL, "no data rows (only a header)"))
        return source
    source.cells = cells
    return source


def _csv_cells(file: str, data: bytes):
    """Parse CSV bytes into text cells indexed by the line each record starts on.

    Decoding uses `surrogateescape` so that a bad byte is pinned to its line and
    column instead of failing the whole file; a UTF-8 byte-order mark is allowed.
    Blank records are skipped; short records are padded with blanks.
    """

    if not data.strip():
        return None, [Violation(file, 1, FILE_LEVEL, "file is empty (expected a header row)")]
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(stdio.StringIO(text, newline=""))
    records, problems, previous_end = [], [], 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if any(cell.strip() for cell in record):
                records.append((start, [cell.strip() for cell in record]))
    except csv.Error as exc:
        return None, [Violation(file, previous_end + 1, FILE_LEVEL, f"unreadable CSV: {exc}")]
    if not records:
        return None, [Violation(file, 1, FILE_LEVEL, "file is empty (expected a header row)")]

    (_, header), body = records[0], records[1:]
    problems += _undecodable_cells(file, header, body)
    if problems:
        return None, problems
    return _cells_frame(file, header, body)


def _undecodable_cells(file: str, header: list[str], body: list[tuple[int, list[str]]]):
    """One violation per cell holding bytes that are not UTF-8 (surrogate-escaped by the decoder)."""

    def bad(cell: str) -> bool:
        return any("\udc80" <= ch <= "\udcff" for ch in cell)

    problems = [Violation(file, 1, FILE_LEVEL, "header is not valid UTF-8")] if any(map(bad, header)) else []
    for line, record in body:
        for position, cell in enumerate(record):
            if bad(cell):
                column = header[position] if position < len(header) and not bad(header[position]) else FILE_LEVEL
                problems.append(Violation(file, line, column, "not valid UTF-8 (save the file as UTF-8)"))
    return problems


def _cells_frame(file: str, header: list[str], body: list[tuple[int, list[str]]]):
    """A str DataFrame of the cells, index = line numbers; reports duplicate headers and overlong rows."""

    problems, names, keep = [], [], []
    for position, name in enumerate(header):
        name = name or f"unnamed_{position + 1}"
        if name in names:
            problems.append(Violation(file, 1, name, "duplicate column name (the first one is used)"))
            continue
        names.append(name)
        keep.append(position)
    width, rows, lines = len(header), [], []
    for line, record in body:
        if len(record) > width and any(record[width:]):
            problems.append(Violation(file, line, FILE_LEVEL, f"row has {len(record)} cells but the header has {width}"))
        record = record + [""] * (width - len(record))
        rows.append([record[p] for p in keep])
        lines.append(line)
    frame = pd.DataFrame(rows, columns=names, index=pd.Index(lines, name="line"), dtype="str")
    return frame, problems


def _parquet_cells(file: str, data: bytes):
    """Read a parquet table and render its typed cells as the text the CSV path would see,
    so both formats go through the same validation (row r is "line" r + 2)."""

    try:
        frame = pd.read_parquet(stdio.BytesIO(data))
    except Exception as exc:  # any reader failure is a property of the input file
        return None, [Violation(file, 1, FILE_LEVEL, f"unreadable parquet file: {type(exc).__name__}")]
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # ids stored as the index are columns to us
    header = [str(name) for name in frame.columns]
    body = [
        (position + 2, [_cell_text(value) for value in row])
        for position, row in enumerate(frame.itertuples(index=False, name=None))
    ]
    problems = _undecodable_cells(file, header, body)
    if problems:
        return None, problems
    body = [(line, record) for line, record in body if any(record)]
    return _cells_frame(file, header, body)


def _cell_text(value) -> str:
    """A typed parquet cell as CSV-like text: missing -> "", whole floats without ".0",
    timestamps at midnight as dates, bools as true/false."""

    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape").strip()
    return str(value).strip()
