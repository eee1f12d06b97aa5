"""Spreadsheets as grids of text cells that remember where each cell is.

A problem is reported at the cell as the user sees it in their spreadsheet:
`feedback.xlsx:Responses!D17` for a workbook (file, sheet, column letter, row)
and `feedback.csv:D17` for a CSV (one sheet, named after the file). Rows are
counted as the spreadsheet counts them, from 1 at the top, blank rows
included, so a title row above the header or a quoted cell spanning two text
lines in a CSV does not shift the numbers.

Cells are read as text (an .xlsx date becomes `2024-01-09`, a whole number
`4`), the same text `mats_eval.data.io` would see in a CSV table, so the cell
parsers never depend on the file format.
"""
from __future__ import annotations

import csv
import io as stdio
from dataclasses import dataclass
from pathlib import Path

from mats_eval.data.io import _cell_text
from mats_eval.data.importer.mapping import Source
from mats_eval.data.schema import shown

WORKBOOK_ENGINES = {".xlsx": "openpyxl", ".xlsm": "openpyxl", ".ods": "odf"}
_MAX_HEADERS_SHOWN = 12


def column_letter(position: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the spreadsheet's name for a column."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass(frozen=True)
class Place:
    """A cell (or a whole row, or the whole sheet) of one source, as the spreadsheet names it."""

    file: str
    sheet: str | None
    row: int | None = None
    column: int | None = None  # 0-based position
    header: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.file}:{self.sheet}!" if self.sheet else f"{self.file}:"
        if self.row is None:
            return prefix.rstrip("!:")
        cell = f"{column_letter(self.column)}{self.row}" if self.column is not None else f"row {self.row}"
        named = f" ({shown(self.header)})" if self.header else ""
        return f"{prefix}{cell}{named}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong at one place: what was found and what was expected."""

    place: Place
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


class SourceError(Exception):
    """A source that cannot be read at all (missing file or sheet, bad header row)."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class Grid:
    """The rows below a source's header row: (row number, text cells), blank rows left out."""

    file: str
    sheet: str | None
    header_row: int
    headers: list[str]
    rows: list[tuple[int, list[str]]]

    def place(self, row: int | None = None, column: int | None = None) -> Place:
        header = self.headers[column] if column is not None and column < len(self.headers) else None
        return Place(self.file, self.sheet, row, column, header)

    def position(self, header: str) -> int | None:
        """The column holding `header` (compared without case and surrounding spaces)."""
        wanted = normalise(header)
        for position, name in enumerate(self.headers):
            if normalise(name) == wanted:
                return position
        return None

    def missing_column(self, header: str, where: str) -> Problem:
        named = [h for h in self.headers if h]
        listed = ", ".join(map(shown, named[:_MAX_HEADERS_SHOWN])) + (", ..." if len(named) > _MAX_HEADERS_SHOWN else "")
        return Problem(self.place(self.header_row),
                       f"no column {shown(header)} (named in the mapping's {where}); "
                       f"the header row {self.header_row} has {listed or 'no names'}")


def normalise(text: str) -> str:
    """Headers, labels and identities compare trimmed, with single spaces, in lower case."""
    return " ".join(text.split()).casefold()


def read_grid(source: Source) -> Grid:
    """Read one source's sheet into a Grid; SourceError if the file, sheet or header cannot be used."""
    sheet_label = None
    if not source.path.is_file():
        raise SourceError(Problem(Place(source.file, None), f"file not found (looked for {source.path})"))
    suffix = source.path.suffix.lower()
    if suffix in WORKBOOK_ENGINES:
        sheet_label, table = _workbook_rows(source, WORKBOOK_ENGINES[suffix])
    elif suffix in (".csv", ".tsv", ".txt"):
        table = _csv_rows(source, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise SourceError(Problem(Place(source.file, None),
                                  f"cannot read {suffix or 'files without an extension'} "
                                  f"(expected .csv, .tsv, {', '.join(WORKBOOK_ENGINES)})"))
    if source.sheet and suffix not in WORKBOOK_ENGINES:
        raise SourceError(Problem(Place(source.file, None), "a CSV file has no sheets: remove 'sheet' from the mapping"))
    numbered = list(enumerate(table, start=1))
    header = next((cells for row, cells in numbered if row == source.header_row), None)
    if header is None or not any(header):
        raise SourceError(Problem(Place(source.file, sheet_label, source.header_row),
                                  f"the header row {source.header_row} is empty (set header_row to the row "
                                  "holding the column names)"))
    rows = [(row, cells) for row, cells in numbered[source.header_row:] if any(cells)]
    width = max([len(header)] + [len(cells) for _, cells in rows])
    pad = lambda cells: cells + [""] * (width - len(cells))  # noqa: E731
    return Grid(source.file, sheet_label, source.header_row, pad(header), [(r, pad(c)) for r, c in rows])


def _csv_rows(source: Source, delimiter: str) -> list[list[str]]:
    """Records of a CSV file, one per spreadsheet row (a quoted line break stays inside its cell)."""
    data = source.path.read_bytes()
    encoding = "utf-8-sig" if source.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else source.encoding
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise SourceError(Problem(Place(source.file, None),
                                  f"cannot be read as {source.encoding} ({type(exc).__name__}); save it as UTF-8 "
                                  "or give the file's encoding in the mapping (e.g. encoding: cp1252)")) from None
    try:
        return [[cell.strip() for cell in record] for record in csv.reader(stdio.StringIO(text, newline=""),
                                                                           delimiter=delimiter)]
    except csv.Error as exc:
        raise SourceError(Problem(Place(source.file, None), f"unreadable CSV: {exc}")) from None


def _workbook_rows(source: Source, engine: str) -> tuple[str, list[list[str]]]:
    """(sheet name, rows of text cells) of the source's sheet (default: the first)."""
    import pandas as pd

    try:
        book = pd.ExcelFile(source.path, engine=engine)
    except Exception as exc:  # any reader failure is a property of the input file
        raise SourceError(Problem(Place(source.file, None), f"unreadable workbook ({type(exc).__name__})")) from None
    with book:
        names = [str(n) for n in book.sheet_names]
        sheet = source.sheet if source.sheet is not None else names[0]
        if sheet not in names:
            raise SourceError(Problem(Place(source.file, None),
                                      f"no sheet {shown(sheet)} (sheets: {', '.join(map(shown, names))})"))
        # header=None keeps every row, blank ones included, so index i is spreadsheet row i + 1
        frame = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)
    return sheet, [[_cell_text(value) for value in row] for row in frame.itertuples(index=False, name=None)]
