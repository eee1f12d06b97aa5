"""Test-wide settings: compile caches in a deliberate, writable place."""
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={_ROOT / '.cache' / 'pytensor'}")
os.environ.setdefault("NUMBA_CACHE_DIR", str(_ROOT / ".cache" / "numba"))
os.environ.setdefault("MPLCONFIGDIR", str(_ROOT / ".cache" / "matplotlib"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MATS_EVAL_SALT", "test-salt")

import sys

# tests/<stage>/ mirror the package; the shared fixtures module `datasets` lives here
sys.path.insert(0, str(Path(__file__).resolve().parent))
