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
# a fit that misses only on mixing, with R-hat at most this, is sampled again with twice the draws
# (diagnostics.narrow_mixing_miss); beyond it the chains disagree, which more draws rarely mend
RHAT_NARROW_MAX = 1.05

# Privacy (data/README.md "Privacy"): a group summary needs at least this many distinct scholars.
MIN_SCHOLARS = 5

# Sampling defaults (why these: mats_eval/inference/fitting.py, benchmarks/RESULTS.md).
DEFAULT_DRAWS = 3000
DEFAULT_TUNE = 1000
DEFAULT_CHAINS = 2
DEFAULT_TARGET_ACCEPT = 0.8

# The decision model's default utility (estimands/kernels.py "what attended sessions are worth",
# decisions/utility.py, analyses/plans/example.yaml). Units are research hours per scholar: an attended hour
# rated at the top of the scale is worth VALUE_PER_ATTENDED_HOUR research hours, worth falls
# linearly to 0 at the bottom of the scale, and every attended hour costs RESEARCH_HOUR_COST
# research hours. With (1.0, 0.5) a session pays off when its rating is above the scale's middle.
VALUE_PER_ATTENDED_HOUR = 1.0
RESEARCH_HOUR_COST = 0.5
# Plans whose expected utilities differ by less than this (research hours per scholar over the
# whole programme, a quarter of an hour) are called practically tied rather than ranked.
TIE_THRESHOLD_HOURS = 0.25
# The volume optimum is searched on this step (sessions per week) within the data's range.
VOLUME_GRID_STEP = 0.25
