#!/usr/bin/env bash
# Create .venv with Python >= 3.12 (3.12 preferred: constraints.txt was resolved on it) and install mats_eval (+dev extras) pinned by constraints.txt.
# Idempotent: a second call only re-checks the install (fast).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MATS_EVAL_VENV:-$ROOT/.venv}"

py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
  local c
  for c in python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null 2>&1 && py_ok "$c"; then command -v "$c"; return 0; fi
  done
  # pyenv shims fail unless pyenv selects the version: look at pyenv's installs directly.
  local root="${PYENV_ROOT:-}"
  if [ -z "$root" ] && command -v pyenv >/dev/null 2>&1; then root="$(pyenv root)"; fi
  [ -z "$root" ] && root="$HOME/.pyenv"
  for c in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.13*/bin/python3; do
    if [ -x "$c" ] && py_ok "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! py_ok "$VENV/bin/python"; then
  PY="$(find_python)" || { echo "mats_eval needs Python >= 3.12 (python3.13, python3.12, python3 or a pyenv install); none found." >&2; exit 1; }
  echo "[bootstrap] creating $VENV with $PY" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
STAMP="$VENV/.mats_eval_installed"
HASH="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  echo "[bootstrap] installing mats_eval and its pinned dependencies (a few minutes the first time)" >&2
  "$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
  echo "$HASH" > "$STAMP"
fi

# The report's browser test (tests/report/test_browser.py) drives a headless Chromium: Debian's package,
# since browsers downloaded by installers (e.g. Playwright's) are not reachable from our machines.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[bootstrap] installing chromium (Debian package) for the report's browser test" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
      || echo "[bootstrap] could not install chromium: the browser test skips locally and fails in CI" >&2
  else
    echo "[bootstrap] no chromium: 'apt-get install -y chromium' (as root) to run the report's browser test" >&2
  fi
fi
