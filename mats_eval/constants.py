"""Numbers that more than one module relies on, kept in one place.

No imports beyond the standard library: every stage (the report included) can read them.
"""
from __future__ import annotations

# Every interval the package reports is a 90% interval (effects.csv: README.md "What goes in, what comes out").
INTERVAL_PROB = 0.9

# The diagnostics gate (inference/diagnostics.py, README.md "Models"); the report quotes the same numbers.
RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3

# Privacy (data/README.md "Privacy"): a group summary needs at least this many distinct scholars.
MIN_SCHOLARS = 5

# Sampling defaults (why these: mats_eval/inference/fitting.py, benchmarks/RESULTS.md).
DEFAULT_DRAWS = 3000
DEFAULT_TUNE = 1000
DEFAULT_CHAINS = 2
DEFAULT_TARGET_ACCEPT = 0.8
