"""What the analysis scripts share: their command line, a fit into the note's folder, the note.

Every number a note shows is read back from a run folder the script's own fit
wrote (effects.csv, volume_curve.csv, attendance_curve.csv, plans.csv,
observed/ ...), and every sentence about an estimand is the registry's, so a
note and the report of the same fit agree word for word. Nothing here
recomputes an estimand, a curve or an optimum.

The options (dataset, --out, --model, --draws, ...) are the package's own
(mats_eval/cli_options.py), so `python analyses/X.py --help` matches `mats-eval fit --help`.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

import mats_eval
from mats_eval.cli_options import ExampleDataset, default_example, fit_settings, optional_out_option, script, takes
from mats_eval.data.io import atomic_folder
from mats_eval.estimands.registry import ESTIMANDS, names_for
from mats_eval.runfolder import FitResult, load_run

REPORTS = Path(__file__).resolve().parents[1] / "reports"
DEFAULT_DATASET = default_example()

ExistingRun = Annotated[Optional[Path], typer.Option(
    "--run", exists=True, file_okay=False,
    help="Report this run folder (e.g. runs/example/run, as `mats-eval run` wrote it) instead of fitting "
         "again: the note then states exactly the numbers of that run's report.")]
NoteOut = optional_out_option("Folder for the note, its tables and figures and the run folder(s) behind them "
                              "(default: reports/<script name>; replaced).")

__all__ = ["DEFAULT_DATASET", "REPORTS", "ExampleDataset", "ExistingRun", "NoteOut", "main_run", "analysis", "note_folder", "fit_into", "read_run", "question_rows",
           "sentences", "verdict", "write_note"]


def analysis(main: Callable, doc: str, exclude: tuple[str, ...] = ()) -> None:
    """Run `main(dataset, out, *, fit_settings)` as a script taking every `mats-eval fit` option (but `exclude`)."""
    script(takes(fit_settings, exclude)(main), doc)


@contextmanager
def note_folder(out: Path | None, name: str) -> Iterator[Path]:
    """A fresh folder that replaces `out` (default reports/<name>) once the analysis has finished."""
    out = Path(out) if out is not None else REPORTS / name
    with atomic_folder(out, force=True) as folder:
        yield folder
    print(f"wrote {out / 'note.md'}")


def fit_into(folder: Path, dataset: Path, settings: dict, run_name: str = "run", **overrides) -> FitResult:
    """`mats_eval.fit` into the run folder `folder/run_name` (the gate's verdict goes into the note, not a warning).

    Returns the in-session FitResult (its `.model` lets LOO be computed); read numbers
    from the run folder with `read_run(folder / run_name)`.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="diagnostics gate failed")
        return mats_eval.fit(dataset, out=folder / run_name, **{**settings, **overrides})


def main_run(folder: Path, dataset: Path, settings: dict, run: Path | None, **overrides) -> FitResult:
    """The run a note reports: the given run folder, else a fit of `dataset` into `folder/run`."""
    if run is None:
        fit_into(folder, dataset, settings, **overrides)
        run = folder / "run"
    return read_run(run)


def read_run(run_dir: Path) -> FitResult:
    """The run folder's tables (not the posterior): what a note may show."""
    return load_run(run_dir, posterior=False)


def question_rows(effects: pd.DataFrame, question: str) -> pd.DataFrame:
    """effects.csv rows of the estimands that answer `question` (registry.names_for), in registry order."""
    names = names_for(question)
    rows = effects[effects["estimand"].isin(names)]
    return rows.set_index("estimand").loc[[n for n in names if n in set(rows["estimand"])]].reset_index()


def sentences(rows: pd.DataFrame) -> list[str]:
    """The registry's sentence for each effects.csv row: the report's words for the same numbers."""
    return [ESTIMANDS[row["estimand"]].sentence(row) for row in rows.to_dict("records")]


def verdict(run: FitResult) -> str:
    if run.reliable:
        return "Diagnostics gate: **passed**."
    return "Diagnostics gate: **FAILED**, treat the numbers below as unreliable: " + "; ".join(
        run.diagnostics["failures"])


def write_note(folder: Path, title: str, paragraphs: list[str], tables: dict, figures: dict) -> Path:
    """note.md with its tables (CSV beside it) and figures (PNG), into the note's folder."""
    from mats_eval.report.render import markdown_table
    from mats_eval.report.plots import to_png

    lines = [f"# {title}", ""]
    for text in paragraphs:
        lines += [text, ""]
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        lines += [f"## {name.replace('_', ' ')}", "", markdown_table(frame.round(3)), ""]
    for name, fig in figures.items():
        (folder / f"{name}.png").write_bytes(to_png(fig))
        lines += [f"![{name.replace('_', ' ')}]({name}.png)", ""]
    (folder / "note.md").write_text("\n".join(lines), encoding="utf-8")
    return folder / "note.md"
