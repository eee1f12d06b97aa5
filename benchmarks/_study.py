"""Shared set-up of the study scripts: import path, caches, and the common options."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))

from mats_eval.inference.samplers import DEFAULT_SAMPLER, SAMPLER_HELP, SAMPLERS  # noqa: E402  (needs the path above)


def study_parser(doc: str, scale: float, out: str) -> argparse.ArgumentParser:
    """Options every study takes: size, sampler settings, where it runs and writes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--scale", type=float, default=scale)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER, choices=SAMPLERS, help=SAMPLER_HELP)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / out)
    return parser
