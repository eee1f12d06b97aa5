"""Run a benchmark's child script in a fresh process with its own, initially empty, compile caches."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_child(code: str, args: list[str], timeout: float | None = None, warm: bool = False):
    """(payload, error, wall seconds): payload is the JSON the child prints after "RESULT".

    With `warm`, a first, discarded run fills the on-disk caches, and the second is timed.
    """
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache}/pytensor", NUMBA_CACHE_DIR=f"{cache}/numba",
                   JAX_COMPILATION_CACHE_DIR=f"{cache}/jax",
                   XLA_FLAGS="--xla_force_host_platform_device_count=2", MATS_EVAL_SALT="bench")
        command = [sys.executable, "-c", code, *args]
        try:
            if warm:
                subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            start = time.perf_counter()
            proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"did not finish within {timeout:.0f} s", None
        wall = time.perf_counter() - start
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    if proc.returncode or not line:
        return None, (proc.stderr.strip().splitlines() or ["failed"])[-1], wall
    return json.loads(line[0][6:]), None, wall
