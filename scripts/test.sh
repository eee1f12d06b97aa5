#!/usr/bin/env bash
# Quick start, command 2: set up, then run the test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
# Two workers, one test file each at a time (files share their fitted fixtures); PYTEST_WORKERS=0 runs serially.
# The 15 slowest tests are listed at the end, to keep CI inside its 25 minutes.
exec "$ROOT/.venv/bin/python" -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile --durations=15 "$@"
