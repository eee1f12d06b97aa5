"""`mats-eval import`: spreadsheet exports -> a dataset folder (README.md "Preparing a real export").

    import_dataset("exports/mapping.yaml", "data/mats5")        # writes data/mats5/
    import_dataset("exports/mapping.yaml", "data/mats5", dry_run=True).render()

The steps, each in its own module:
1. mapping.py: read and check the mapping YAML (unknown keys refused with the valid ones);
2. sheets.py: read each source (CSV, .xlsx, .ods) into text cells that know their
   spreadsheet address (`feedback.xlsx:Responses!D17`);
3. records.py: parse each cell as its field (labels, marks, dates, kinds);
4. tables.py: build the six contract tables, check them across sources at the
   source cells, and replace names and emails by keyed pseudonyms.

Every problem from every source is collected before anything is written; any
problem raises one `ValidationError` (exit code 2) listing them, and nothing
is written. The written folder is then validated by `mats_eval.data.io.load`
before it appears (`atomic_folder`), so a folder that exists is a valid dataset.
The printed report holds counts, column names and pseudonymised sample rows,
never a raw name, email or comment.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mats_eval.data.importer.mapping import Mapping, load_mapping
from mats_eval.data.importer.records import SourceRecords, source_records
from mats_eval.data.importer.sheets import Problem, SourceError, read_grid
from mats_eval.data.importer.tables import build_tables
from mats_eval.data.io import atomic_folder, load
from mats_eval.data.privacy import load_key
from mats_eval.errors import UsageError, ValidationError

SAMPLE_ROWS = 3
_KEPT_SHOWN = "<kept text>"  # free text is written when the mapping keeps it, but never printed


@dataclass
class ImportReport:
    """What an import wrote (or, with dry_run, would write): the tables and what each source gave."""

    out: Path
    dry_run: bool
    tables: dict[str, pd.DataFrame]
    sources: list[SourceRecords] = field(default_factory=list)

    def render(self, sample: int = SAMPLE_ROWS) -> str:
        """Counts per source and per table, with a few pseudonymised rows of each table."""
        verb = "would write" if self.dry_run else "wrote"
        lines = [f"{'dry run: ' if self.dry_run else ''}{verb} {self.out}"]
        lines.append("sources:")
        for s in self.sources:
            where = f"{s.source.file}:{s.grid.sheet}" if s.grid.sheet else s.source.file
            lines.append(f"  {where} -> {s.source.table}: {s.rows_read} row(s), {len(s.records)} record(s), "
                         f"{s.left_out} blank or N/A left out")
            if s.dropped:
                lines.append(f"    columns not imported: {', '.join(s.dropped)}")
            if s.source.keep:
                lines.append(f"    free-text columns kept (check them for names): {', '.join(s.source.keep)}")
        for stem, frame in self.tables.items():
            lines.append(f"{stem}.csv: {len(frame)} row(s)")
            if len(frame):
                shown = frame.head(sample).astype(object)
                shown = shown.where(shown.notna(), "")
                for column in shown.columns.difference(list(_contract_columns(stem)), sort=False):
                    shown[column] = _KEPT_SHOWN
                lines += ["    " + line for line in shown.to_string(index=False).splitlines()]
        return "\n".join(lines)


def _contract_columns(stem: str):
    from mats_eval.data.schema import TABLES

    return list(TABLES[stem].columns)


def import_dataset(mapping_path: Path | str, out: Path | str, dry_run: bool = False,
                   force: bool = False) -> ImportReport:
    """Turn the spreadsheets a mapping names into the dataset folder `out` (nothing written on any problem).

    With `dry_run`, everything is read, built and validated (in a throwaway
    folder) but `out` is not touched. The pseudonym key is looked up as for a
    dataset (privacy.py), with the mapping's folder in the dataset's place.
    """
    out = Path(out)
    mapping = load_mapping(mapping_path)
    if not dry_run and out.exists() and not force:
        raise UsageError(f"{out} already exists; pass --force to replace it")
    sources, problems = _read_sources(mapping)
    if len(sources) < len(mapping.sources) or any(s.unusable for s in sources):
        # a source that could not be read would make every reference to it look wrong: stop here
        raise ValidationError([str(p) for p in sorted(problems, key=_reading_order(mapping))])
    records, failed = {}, {}
    for read in sources:
        records.setdefault(read.source.table, []).extend(read.records)
        failed.setdefault(read.source.table, []).extend(read.failed)
    tables, found = build_tables(mapping, records, failed, load_key(mapping.path.parent))
    problems += found
    if problems:
        raise ValidationError([str(p) for p in sorted(problems, key=_reading_order(mapping))])
    report = ImportReport(out, dry_run, tables, sources)
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="mats_eval-import-") as scratch:
            _write_and_check(tables, Path(scratch) / "dataset", force=False)
    else:
        _write_and_check(tables, out, force)
    return report


def _reading_order(mapping: Mapping):
    """Sort key: the mapping's source order, then row, then column, as a person fixes their files."""
    order = {}
    for source in mapping.sources:
        order.setdefault(source.file, len(order))

    def key(problem: Problem):
        place = problem.place
        return (order.get(place.file, len(order)), place.sheet or "", place.row or 0,
                -1 if place.column is None else place.column)
    return key


def _read_sources(mapping: Mapping) -> tuple[list[SourceRecords], list[Problem]]:
    """Every source's records, and every problem of every source (none stops the others being read)."""
    sources, problems = [], []
    for source in mapping.sources:
        try:
            grid = read_grid(source)
        except SourceError as exc:
            problems.append(exc.problem)
            continue
        read = source_records(source, grid)
        problems += read.problems
        sources.append(read)
    return sources, problems


def _write_and_check(tables: dict[str, pd.DataFrame], out: Path, force: bool) -> None:
    """Write the tables as CSV into a folder that appears only if `load` accepts it."""
    with atomic_folder(out, force=force) as work:
        for stem, frame in tables.items():
            frame.to_csv(work / f"{stem}.csv", index=False, lineterminator="\n")
        try:
            load(work)
        except ValidationError as exc:
            raise ValidationError(["the imported tables break the data contract (data/README.md); "
                                   "this is a gap in the importer's own checks, please report it:",
                                   *exc.violations]) from None
