#!/usr/bin/env bash
# Run a command with MLA_TEST_POSTGRES_URL pointing at a reachable PostgreSQL:
#   1. MLA_TEST_POSTGRES_URL if already set;
#   2. else a server on localhost:5432 that answers;
#   3. else a throwaway cluster made with this machine's PostgreSQL binaries (never as root),
#      removed again on exit.
# Under CI=true, finding none of these is a failure.
set -euo pipefail

pg_answers() {  # $1 = asyncpg URL
  "${PYTHON:-python3}" - "$1" <<'PY' >/dev/null 2>&1
import asyncio, sys
import asyncpg
url = sys.argv[1].replace("postgresql+asyncpg://", "postgresql://")
async def main():
    conn = await asyncio.wait_for(asyncpg.connect(url), 5)
    await conn.close()
asyncio.run(main())
PY
}

PYTHON="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3

if [ -n "${MLA_TEST_POSTGRES_URL:-}" ]; then
  echo "postgres: using MLA_TEST_POSTGRES_URL" >&2
  exec "$@"
fi

for user in postgres "${USER:-}"; do
  [ -n "$user" ] || continue
  url="postgresql+asyncpg://${user}@127.0.0.1:5432/postgres"
  if pg_answers "$url"; then
    echo "postgres: using the server on localhost:5432 as ${user}" >&2
    export MLA_TEST_POSTGRES_URL="$url"
    exec "$@"
  fi
done

bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
  bindir="$(pg_config --bindir)"
else
  for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin /opt/homebrew/bin /usr/local/bin /usr/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir="$d"; fi
  done
fi
if [ -z "$bindir" ]; then
  msg="postgres: none reachable and no PostgreSQL binaries (initdb, pg_ctl) found"
  if [ "${CI:-}" = "true" ]; then echo "$msg: failing (CI=true)" >&2; exit 1; fi
  echo "$msg: the PostgreSQL half of the suite will be skipped" >&2
  exec "$@"
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/mla-pg.XXXXXX")"
as_user=()
if [ "$(id -u)" = "0" ]; then
  # PostgreSQL refuses to run as root: run the throwaway cluster as an unprivileged user.
  pguser=postgres
  id "$pguser" >/dev/null 2>&1 || { pguser=mlatest; id "$pguser" >/dev/null 2>&1 || useradd -r -M "$pguser"; }
  chown "$pguser" "$workdir"
  as_user=(runuser -u "$pguser" --)
  dbuser="$pguser"
else
  dbuser="$(id -un)"
fi
port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cleanup() {
  "${as_user[@]}" "$bindir/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT
echo "postgres: starting a throwaway cluster from $bindir on port $port" >&2
"${as_user[@]}" "$bindir/initdb" -D "$workdir/data" -A trust -U "$dbuser" --no-sync >/dev/null
"${as_user[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/log" -w \
  -o "-p $port -k $workdir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
export MLA_TEST_POSTGRES_URL="postgresql+asyncpg://${dbuser}@127.0.0.1:${port}/postgres"
"$@"
