"""Appends on one PostgreSQL by one `mla serve` process, then by two at once (issue 13).

Both processes share nothing but the database, the data folder's server key and the blob
path, as docs/operations.md says replicas must. One run: one process under wrk with C
connections; then two processes, each under its own wrk with C/2 connections at the same
time, each on its own fresh requests. Appends go to different requests, so they do not
contend for a head; the log's integrator (one at a time, an advisory lock) batches both.
After the runs the log is checked: leaf indices dense and unique.

    MLA_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@localhost/postgres \\
        .venv/bin/python bench/scale_out.py [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrk_support as wb


def _start_wrk(load: wb.Load, server: wb.Server, lines: Path, token: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BENCH_WRK_THREADS": str(load.threads),
        "BENCH_WRK_FILE": str(lines),
        "BENCH_WRK_ONCE": "1",
        "BENCH_WRK_COUNT_LOG": "1",
        "BENCH_WRK_AUTH": token,
    }
    argv = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{load.duration}s"]
    argv += ["--timeout", "30s", "-s", str(wb.WRK_DIR / "walk.lua"), server.url + "/"]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, err = proc.communicate(timeout=120)
    line = next((x for x in out.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed:\n{out}\n{err}")
    import json

    raw: dict[str, float] = json.loads(line.split(" ", 1)[1])
    return raw


def _appends(work: Path, name: str, server: wb.Server, agencies: wb.Agencies, n: int) -> Path:
    created = wb.create_requests(server.url, agencies, n)
    lines = [("POST", f"/v1/requests/{rid}/statements", ack) for rid, ack in created]
    return wb.write_lines(work / f"{name}.txt", lines)


def _machine_busy() -> tuple[float, float]:
    """Busy and total CPU ticks of the whole machine so far (Linux /proc/stat)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _rate(raw: dict[str, float]) -> float:
    return float(raw["requests"]) / (raw["duration_us"] / 1e6)


async def _log_dense(url: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        row = await conn.fetchrow(
            "SELECT count(leaf_index), count(DISTINCT leaf_index), max(leaf_index) FROM log_entries"
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2] if row[2] is not None else -1)
    finally:
        await conn.close()


# Appends/s per process to prepare for at first; a run whose wrk ran out of fresh statements
# (walk.lua's `overrun`: repeats would be answered as duplicates) is run again with more.
INITIAL_RATE = 1500
MAX_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class Round:
    """wrk's results of runs at the same time, and the CPU they took."""

    results: list[dict[str, float]]
    wall: float
    #: The whole machine's busy cores, and each service process's.
    machine_cores: float
    service_cores: list[float]


@dataclasses.dataclass
class Runs:
    """The services and their shared agencies, for runs that must each see fresh requests."""

    work: Path
    agencies: wb.Agencies
    token: str
    rate: float = INITIAL_RATE
    attempts: int = 0

    def until_enough(self, loads: list[tuple[wb.Load, wb.Server]]) -> Round:
        """Run wrk on each (load, server) at once, each on fresh requests created through
        its own server; again with more statements while any run overran its pool."""
        servers = [server for _, server in loads]
        for _ in range(MAX_ATTEMPTS):
            self.attempts += 1
            per_run = wb.fresh_statements(self.rate / len(loads), loads[0][0].duration)
            lines = [
                _appends(self.work, f"{i}-{self.attempts}", server, self.agencies, per_run)
                for i, server in enumerate(servers)
            ]
            cpu_before = [s.cpu() or 0.0 for s in servers]
            busy_before, total_before = _machine_busy()
            started = time.monotonic()
            procs = [
                _start_wrk(load, server, pool, self.token)
                for (load, server), pool in zip(loads, lines, strict=True)
            ]
            results = [_result(p) for p in procs]
            wall = time.monotonic() - started
            busy_after, total_after = _machine_busy()
            self.rate = max(self.rate, sum(_rate(r) for r in results) * 1.2)
            if not any(r["overrun"] for r in results):
                return Round(
                    results,
                    wall,
                    (busy_after - busy_before)
                    / (total_after - total_before)
                    * (os.cpu_count() or 1),
                    [
                        ((s.cpu() or 0.0) - before) / wall
                        for s, before in zip(servers, cpu_before, strict=True)
                    ],
                )
            print(f"    {per_run} fresh statements per run were not enough; more")
        raise RuntimeError("the services outran every pool of fresh statements")


def main() -> int:
    """One process, then two; print appends/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wait-ms", default="0", help="MLA_LOG_WAIT_MS of the services [0]")
    args = parser.parse_args()
    if not os.environ.get("MLA_TEST_POSTGRES_URL"):
        print("needs MLA_TEST_POSTGRES_URL (PostgreSQL: SQLite has one writer)")
        return 2
    full = wb.Load(args.duration, args.connections, 2)
    half = wb.Load(args.duration, max(1, args.connections // 2), 1)
    with tempfile.TemporaryDirectory(prefix="mla-scale-") as tmp:
        work = Path(tmp)
        with wb.databases("postgres", work) as (service_env, _):
            env = {
                **service_env,
                "MLA_DATA_DIR": str(work / "data"),
                "MLA_OPERATOR_TOKEN": wb.OPERATOR,
                "MLA_LOG_WAIT_MS": args.wait_ms,
            }
            one = wb.Server("service", wb.service_argv("serve"), env, work / "one.log")
            two = wb.Server(
                "service", [*wb.service_argv("serve"), "--no-migrate"], env, work / "two.log"
            )
            try:
                one.start()
                agencies = wb.register_agencies(one.url)
                runs = Runs(work, agencies, agencies.tokens[wb.REQUESTED])
                alone = runs.until_enough([(full, one)])
                two.start()
                both = runs.until_enough([(half, one), (half, two)])
            finally:
                two.stop()
                one.stop()
            count, distinct, top = asyncio.run(_log_dense(env["MLA_DATABASE_URL"]))
    (single,), pair = alone.results, both.results
    r1 = _rate(single)
    r2 = sum(_rate(r) for r in pair)
    print(
        f"\n{os.cpu_count()} CPUs; appends (acknowledge, fresh requests), "
        f"MLA_LOG_WAIT_MS={args.wait_ms}"
    )
    print(
        f"one process,  {full.connections} connections: {r1:8,.0f} appends/s  "
        f"p99 {single['p99_us'] / 1000:.1f} ms  duplicates {single['duplicate']}"
        f"\n    machine {alone.machine_cores:.2f} of {os.cpu_count()} cores busy, the service "
        f"{alone.service_cores[0]:.2f}"
    )
    print(
        f"two processes, {half.connections} + {half.connections} connections: "
        f"{r2:8,.0f} appends/s  (over {both.wall:.1f} s)  p99 "
        f"{max(r['p99_us'] for r in pair) / 1000:.1f} ms  "
        f"duplicates {[r['duplicate'] for r in pair]}"
        f"\n    machine {both.machine_cores:.2f} of {os.cpu_count()} cores busy, the services "
        + " + ".join(f"{c:.2f}" for c in both.service_cores)
    )
    print(f"scaling {r2 / r1:.2f}x")
    ok = count == distinct == top + 1
    print(f"log: {count} indices, {distinct} distinct, max {top}: {'dense' if ok else 'BROKEN'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
