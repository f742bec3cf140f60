#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml (`make lock`; `make lock UPGRADE=1` to move
# every pin to the newest version allowed):
#   requirements/lock.txt    server + test, what `make test` installs (CI);
#   requirements/server.txt  server only, what `make run` and the Dockerfile install, with
#                            exactly the versions of lock.txt (it is compiled against it).
# One resolution for every platform and Python >= 3.11 (uv's --universal), with hashes:
# installs use `pip install --require-hashes -r …`, then the project with --no-deps.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.venv/bin/uv}"
upgrade=()
[ "${UPGRADE:-}" = "1" ] && upgrade=(--upgrade)
common=(--universal --python-version 3.11 --generate-hashes --quiet
        --custom-compile-command "make lock")
"$UV" pip compile pyproject.toml --extra test "${common[@]}" "${upgrade[@]}" \
  -o requirements/lock.txt
# No --upgrade here: lock.txt decides every version.
"$UV" pip compile pyproject.toml --extra server "${common[@]}" \
  -c requirements/lock.txt -o requirements/server.txt
echo "wrote requirements/lock.txt ($(grep -c '==' requirements/lock.txt) pins) and" \
  "requirements/server.txt ($(grep -c '==' requirements/server.txt) pins)" >&2
