"""Shared bits of the analysis scripts: arguments, output folder, a fit, a short Markdown note."""
from __future__ import annotations

import argparse
from pathlib import Path

import mats_eval
from mats_eval.inference.fitting import DEFAULT_DRAWS, DEFAULT_TUNE
from mats_eval.data.io import atomic_folder

ROOT = Path(__file__).resolve().parents[1]


def arguments(description: str, default_model: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dataset", nargs="?", default=str(ROOT / "data" / "example"), help="dataset folder")
    parser.add_argument("--out", default=None, help="output folder (default: reports/<script name>)")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS)
    parser.add_argument("--tune", type=int, default=DEFAULT_TUNE)
    parser.add_argument("--seed", type=int, default=0)
    if default_model is not None:
        parser.add_argument("--model", default=default_model)
    return parser.parse_args()


def output_folder(args: argparse.Namespace, name: str) -> Path:
    return Path(args.out) if args.out else ROOT / "reports" / name


def fit(data, args: argparse.Namespace, model: str | None = None):
    """Fit with the script's settings; warns (does not stop) when the gate fails."""
    return mats_eval.fit(data, model=model or args.model, draws=args.draws, tune=args.tune, seed=args.seed)


def verdict(result) -> str:
    if result.reliable:
        return "Diagnostics gate: **passed**."
    return "Diagnostics gate: **FAILED**, treat the numbers below as unreliable: " + "; ".join(
        result.diagnostics["failures"])


def write_note(out: Path, title: str, paragraphs: list[str], tables: dict, figures: dict) -> Path:
    """Write note.md + CSV tables + PNG figures into `out` atomically (replacing it)."""
    from mats_eval.report.build import markdown_table
    from mats_eval.report.plots import to_png

    with atomic_folder(out, force=True) as tmp:
        lines = [f"# {title}", ""]
        for text in paragraphs:
            lines += [text, ""]
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False)
            lines += [f"## {name.replace('_', ' ')}", "", markdown_table(frame.round(3)), ""]
        for name, fig in figures.items():
            (tmp / f"{name}.png").write_bytes(to_png(fig))
            lines += [f"![{name}]({name}.png)", ""]
        (tmp / "note.md").write_text("\n".join(lines))
    print(f"wrote {out / 'note.md'}")
    return out / "note.md"


def rows(effects, names) -> "object":
    return effects[effects["estimand"].isin(names)].reset_index(drop=True)
