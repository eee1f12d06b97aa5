"""What the study scripts share: their folder, persistent compile caches, and publishing a figure.

Their options are the package's own (mats_eval/cli_options.py: `study_settings` for the
sampler and where the fits run), so `run_sbc.py --help` matches `mats-eval sbc --help`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
FIGURES = HERE / "figures"
# scripts/env.sh sets these for the shell; a study started without it still reuses its caches
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))


def publish_figure(figure: Path, out: Path, default_out: Path) -> None:
    """Copy a study's figure to benchmarks/figures/, only for the main study (a side study keeps its own)."""
    if figure.is_file() and Path(out).resolve() == default_out.resolve():
        shutil.copy(figure, FIGURES / figure.name)
