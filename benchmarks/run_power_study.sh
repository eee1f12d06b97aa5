#!/usr/bin/env bash
# Issue 16's power and assurance of the three candidate designs for the next cohort's experiment
# (studies/power.py): between-cohort, alternate-weeks and randomise-sessions, each with 40 scholars
# per cohort, 8 weeks and 3 seminars a week, fitted with the package's default model for the
# simulated data (the joint model) at the studies' chains (2 × (500 + 500)).
# Fixed before the first fit: 100 replications per design for each of
#   power      at mats-history's assumed effects (rating_mandatory −0.5 on the latent scale,
#              about −0.6 rating points), and
#   assurance  with rating_mandatory ~ Normal(−0.5, 0.3): each replication draws its own truth
#              (the same draws for every design), so the share is the chance of a convincing result
#              averaged over what we believe about the effect.
# Resumable in chunks of 25 (rerun to continue; finished replications are skipped); about 18 s of one
# core per replication, so ~45 minutes of the 2-core machine per study.
#   bash benchmarks/run_power_study.sh              # both studies, resuming
#   UPTO=25 bash benchmarks/run_power_study.sh      # the first chunk of each
# Results: benchmarks/results/power/{point,assurance}/power.csv
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
OUT=benchmarks/results/power
DESIGNS=between-cohort,alternate-weeks,randomise-sessions
UPTO=${UPTO:-100}
for reps in 25 50 75 100; do
  if [ "$reps" -gt "$UPTO" ]; then break; fi
  .venv/bin/mats-eval power --designs "$DESIGNS" --reps "$reps" --workers "${WORKERS:-2}" --no-progress \
    --out "$OUT/point"
  .venv/bin/mats-eval power --designs "$DESIGNS" --reps "$reps" --workers "${WORKERS:-2}" --no-progress \
    --effect-prior "rating_mandatory=-0.5,0.3" --out "$OUT/assurance"
done
