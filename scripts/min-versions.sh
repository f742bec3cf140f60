#!/usr/bin/env bash
# The unit tests on the lowest versions pyproject.toml declares (`make test` runs this after
# the suite): every runtime dependency pinned to its `>=` bound (scripts/min_requirements.py),
# on the lowest Python it allows, the test tools as declared. A bound that does not install or
# does not pass is raised in pyproject.toml, with the reason beside it.
#
# The venv is cached outside the checkout, keyed by pyproject.toml and these scripts, so a
# repeat run (or a fresh clone on the same machine) only runs the tests; the project itself is
# not installed there but imported from this checkout's src/. MLA_MIN_VERSIONS=0 skips the
# job; MLA_MIN_VERSIONS_DIR moves the cache (default: $TMPDIR/mla-tracker-min-versions).
# Under CI=true, a missing Python or a failed install fails the run; elsewhere a missing
# Python only skips. A test failure always fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
UV="${UV:-$BIN/uv}"

if [ "${MLA_MIN_VERSIONS:-1}" = "0" ]; then
  echo "min-versions: skipped (MLA_MIN_VERSIONS=0)" >&2
  exit 0
fi
give_up() {
  if [ "${CI:-}" = "true" ]; then echo "min-versions: $1 (CI=true: failing)" >&2; exit 1; fi
  echo "min-versions: $1: skipped" >&2
  exit 0
}

# The lowest Python allowed: requires-python = ">=3.11" → python3.11.
minor="$($BIN/python -c '
import re, tomllib
spec = tomllib.load(open("pyproject.toml", "rb"))["project"]["requires-python"]
print(re.fullmatch(r">=\s*(3\.\d+)", spec).group(1))')"
python="$(command -v "python$minor" || true)"
if [ -z "$python" ] || ! "$python" -c "import sys; sys.exit(sys.version_info[:2] != (3, ${minor#3.}))" 2>/dev/null; then
  give_up "no python$minor on PATH"
fi
[ -x "$UV" ] || give_up "$UV is missing (it comes with the test extra)"

key="$(cat pyproject.toml scripts/min-versions.sh scripts/min_requirements.py | sha256sum | cut -c1-16)"
key="$key-py$("$python" -c 'import platform; print(platform.python_version())')"
cache="${MLA_MIN_VERSIONS_DIR:-${TMPDIR:-/tmp}/mla-tracker-min-versions}"
venv="$cache/$key"
started=$SECONDS

if [ ! -f "$venv/.complete" ]; then
  mkdir -p "$cache"
  building="$(mktemp -d "$cache/building.XXXXXX")"
  trap 'rm -rf "$building"' EXIT
  $BIN/python scripts/min_requirements.py > "$building/requirements.txt"
  echo "min-versions: building $venv with python$minor and:" \
    "$(grep '==' "$building/requirements.txt" | tr '\n' ' ')" >&2
  "$UV" venv --quiet --relocatable --python "$python" "$building/venv"
  if ! "$UV" pip install --quiet --python "$building/venv/bin/python" \
      -r "$building/requirements.txt" >&2; then
    if [ "${CI:-}" = "true" ]; then
      echo "min-versions: the declared minimum versions do not install (CI=true: failing)" >&2
    else
      echo "min-versions: the declared minimum versions do not install" >&2
    fi
    exit 1
  fi
  cp "$building/requirements.txt" "$building/venv/min-requirements.txt"
  touch "$building/venv/.complete"
  # Another run may have finished the same venv meanwhile: keep the first.
  mv -T "$building/venv" "$venv" 2>/dev/null || true
fi
# Venvs of other pyproject versions unused for a day go (each run touches its own).
touch "$venv/.complete"
find "$cache" -mindepth 2 -maxdepth 2 -name .complete -mmin +1440 -printf '%h\0' 2>/dev/null \
  | xargs -0 -r rm -rf || true

echo "== pytest tests/unit on the minimum versions ($venv, set up in $((SECONDS - started)) s)" >&2
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" -m pytest \
  -p no:cacheprovider -q tests/unit "$@"
