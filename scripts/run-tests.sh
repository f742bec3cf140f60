#!/usr/bin/env bash
# The whole suite (what `make test` and CI run): lint, types, then pytest on SQLite and
# PostgreSQL, then the unit tests again on the lowest dependency versions pyproject.toml
# declares (scripts/min-versions.sh; MLA_MIN_VERSIONS=0 skips that). Installs the `age` tool
# for interop tests when it is missing and we may.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if ! command -v age >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing the age tool (interop tests)" >&2
    (apt-get install -y -qq age >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq age >/dev/null; }) \
      || echo "could not install age" >&2
  else
    echo "the age tool is missing: install it (Debian/Ubuntu: apt-get install age) for interop tests" >&2
  fi
fi

echo "== ruff" >&2
$BIN/ruff check src tests bench
$BIN/ruff format --check src tests bench
echo "== mypy --strict (src/mla_tracker)" >&2
$BIN/mypy
echo "== pytest" >&2
PYTHON=$BIN/python bash scripts/with-postgres.sh $BIN/python -m pytest -p no:cacheprovider -q "$@"
echo "== minimum versions" >&2
started=$SECONDS
bash scripts/min-versions.sh
echo "minimum-versions job: $((SECONDS - started)) s" >&2
