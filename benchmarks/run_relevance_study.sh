#!/usr/bin/env bash
# Issue 17's study: selection by session. 100 datasets per (scenario, model), fixed before the study ran,
# fitted in chunks of 25 (resumable: rerun to continue; finished datasets are skipped):
#   joint model     on `relevance`          (no own policy penalty: does it report one anyway?)
#   relevance model on `relevance`          (does its 90% interval cover the truth, 0, ~90% of the time?)
#   relevance model on `relevance-penalty`  (does it recover the penalty, bias within 2 MCSE?)
# Scale 0.5 (29 scholars per cohort, 3 cohorts), the studies' chains (2 × 500 tuning + 500 draws).
# Results: benchmarks/results/relevance/<model>/coverage.csv (coverage, bias, MCSE, side of misses).
#   bash benchmarks/run_relevance_study.sh            # all chunks up to 100
#   REPS="25" bash benchmarks/run_relevance_study.sh  # the first chunk only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
OUT=benchmarks/results/relevance
for reps in ${REPS:-25 50 75 100}; do
  .venv/bin/python benchmarks/run_coverage.py --scenarios relevance --model joint --reps "$reps" --scale 0.5 \
    --workers "${WORKERS:-1}" --out "$OUT/joint"
  .venv/bin/python benchmarks/run_coverage.py --scenarios relevance,relevance-penalty --model relevance \
    --reps "$reps" --scale 0.5 --workers "${WORKERS:-1}" --out "$OUT/relevance"
done
