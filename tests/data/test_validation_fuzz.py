"""Random damage to a valid dataset: `load` either succeeds or raises ValidationError.

Whatever a spreadsheet export does to a cell or a file's bytes, the user must
get a located report, never a traceback (DATA_CONTRACT.md §2).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mats_eval
from datasets import TABLE_STEMS, build_valid_tables, write_table
from mats_eval.errors import ValidationError

TABLES = build_valid_tables()

TRICKY_CELLS = st.sampled_from(
    ["", " ", "0", "-1", "1.0", "2.5", "1e309", "nan", "inf", "-0", "53", "TRUE", "yes", "NA", "null",
     "2024-02-30", "MATS 4.0", "MATS 5.0", "scholar-A01", "scholar-B01", "A-w1-0", "B-w1-0", "mandatory",
     "seminar", "\"", ",", "\n", "a,b", "١", "\ufeff", "\x00"]
)
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@st.composite
def cell_edits(draw):
    """A list of (table, row, column, new value) edits, columns including an unknown extra one."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        stem = draw(st.sampled_from(TABLE_STEMS))
        frame = TABLES[stem]
        row = draw(st.integers(0, len(frame) - 1))
        column = draw(st.sampled_from([*frame.columns, "extra"]))
        edits.append((stem, row, column, draw(st.one_of(TRICKY_CELLS, ANY_TEXT))))
    return edits


def load_outcome(folder: Path) -> str:
    """'ok' or 'invalid'; any other exception fails the test with its traceback."""
    try:
        mats_eval.load(folder)
    except ValidationError as exc:
        assert exc.violations and all(v.count(":") >= 3 for v in exc.violations)
        return "invalid"
    return "ok"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=cell_edits(), as_parquet=st.booleans())
def test_random_cell_edits_never_crash(edits, as_parquet):
    tables = {stem: frame.copy() for stem, frame in TABLES.items()}
    for stem, row, column, value in edits:
        if column not in tables[stem]:
            tables[stem][column] = ""
        tables[stem].loc[row, column] = value
    with tempfile.TemporaryDirectory() as tmp:
        for stem, frame in tables.items():
            write_table(Path(tmp), stem, frame, parquet=as_parquet and stem == "sessions")
        load_outcome(Path(tmp))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stem=st.sampled_from(TABLE_STEMS), position=st.floats(0, 1), junk=st.binary(min_size=1, max_size=6), cut=st.booleans())
def test_random_byte_damage_never_crashes(stem, position, junk, cut):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, frame in TABLES.items():
            write_table(folder, name, frame)
        path = folder / f"{stem}.csv"
        data = path.read_bytes()
        at = int(position * len(data))
        path.write_bytes(data[:at] if cut else data[:at] + junk + data[at:])
        load_outcome(folder)
