"""The hot paths under `wrk`, each beside a bare litestar baseline in the same run (issue 13).

The old Python-client benchmark (bench/statement_append.py) saturated its own client at
about 300 req/s, so its ratios measured httpx. Here `wrk`, a C load generator, drives both
the service and a bare litestar app over the same database (bench/baseline_app.py); the
baseline's req/s under the same client is printed next to the service's, and it must go
well past it, which shows the client is not what limits the service.

Per backend (PostgreSQL from MLA_TEST_POSTGRES_URL, as `make bench` provides, and SQLite on
a temp file), one uvicorn worker each, same connections, fixed duration, back to back:

1. append: the service gets pre-signed `acknowledge` statements, one per fresh request
   (created up front through the API, untimed), so none is a duplicate or on a stale
   head; the baseline inserts the same JSON bodies as rows. The split of answers with
   `"pending": true` vs a log index is counted, and the scenario runs again after a
   restart with MLA_LOG_WAIT_MS=0: the append's own cost without the wait for the log.
   Between the two, the baseline's `/signed` takes the same statements with the same
   token: the floor of any signed, authenticated append (one key lookup by token hash,
   one Ed25519 verification, one insert), printed as a fraction of the bare insert.
2. read one: `GET /v1/requests/{id}` as a party, round-robin; baseline: select by id.
3. list: `GET /v1/requests?limit=50` as a party; baseline: select a 50-row page.

Run: make bench   (or: python bench/wrk_bench.py --help; needs `wrk`: apt-get install wrk)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.log_wait import integration_waits  # noqa: E402
from bench.wrk_support import (  # noqa: E402
    HOST,
    OPERATOR,
    REQUESTED,
    REQUESTER,
    Agencies,
    Load,
    Result,
    Server,
    baseline_argv,
    create_requests,
    databases,
    fresh_statements,
    register_agencies,
    run_wrk,
    service_argv,
    warm,
    write_lines,
)

# Statements per second of run time to prepare for the first append run; a run that
# exhausts its statements is repeated with enough (see walk.lua's `overrun`).
INITIAL_APPEND_RATE = 300
MAX_APPEND_ATTEMPTS = 3


# --------------------------------------------------------------------------- scenarios


def _read_lines(request_ids: list[str]) -> list[tuple[str, str, str]]:
    return [("GET", f"/v1/requests/{rid}", "") for rid in request_ids]


@dataclasses.dataclass
class Pair:
    """One scenario: baseline and service back to back."""

    backend: str
    scenario: str
    baseline: Result
    service: Result
    note: str = ""
    #: Appends only: the floor (token lookup + Ed25519 verify + insert) in the baseline app.
    floor: Result | None = None


class Bench:
    """One backend's servers, agencies and created requests."""

    def __init__(
        self, backend: str, load: Load, work: Path, baseline: Server, service: Server
    ) -> None:
        self.backend, self.load, self.work = backend, load, work
        self.baseline, self.service = baseline, service
        self.agencies: Agencies | None = None
        self.request_ids: list[str] = []
        self.append_rate = float(INITIAL_APPEND_RATE)

    def append(self, label: str) -> Pair:
        """Fresh requests, then baseline inserts and service appends back to back."""
        assert self.agencies is not None
        token = self.agencies.tokens[REQUESTED]
        for attempt in range(1, MAX_APPEND_ATTEMPTS + 1):
            n = fresh_statements(self.append_rate, self.load.duration)
            untimed = 50
            created = create_requests(self.service.url, self.agencies, n + untimed)
            self.request_ids += [rid for rid, _ in created]
            lines = [("POST", f"/v1/requests/{rid}/statements", ack) for rid, ack in created]
            warm(self.service.url, lines[:untimed], token)
            warm(self.baseline.url, [("POST", "/rows", b) for _, _, b in lines[:untimed]], None)
            appends = write_lines(self.work / "append.txt", lines[untimed:])
            # The baseline inserts the very same JSON bodies (round-robin: it has no chains).
            inserts = write_lines(
                self.work / "insert.txt", [("POST", "/rows", body) for *_, body in lines]
            )
            base = run_wrk(
                self.load, self.baseline, "walk.lua", env={"BENCH_WRK_FILE": str(inserts)}
            )
            floor = self._floor([body for *_, body in lines], token)
            started = datetime.now(UTC)
            svc = run_wrk(
                self.load,
                self.service,
                "walk.lua",
                env={
                    "BENCH_WRK_FILE": str(appends),
                    "BENCH_WRK_ONCE": "1",
                    "BENCH_WRK_COUNT_LOG": "1",
                    "BENCH_WRK_AUTH": token,
                },
            )
            self.append_rate = max(self.append_rate, svc.rps)
            if not svc.raw["overrun"]:
                pending, indexed = svc.raw["pending"], svc.raw["indexed"]
                waits = integration_waits(self.service.env["MLA_DATABASE_URL"], started)
                note = (
                    f"answers: {indexed} with a log index, {pending} pending"
                    f", {svc.raw['duplicate']} duplicates, {svc.raw['other']} not 201; "
                    + waits.text()
                )
                return Pair(self.backend, label, base, svc, note, floor)
            print(f"    {n} fresh statements were not enough (attempt {attempt}); more")
        raise RuntimeError("the service outran every pool of fresh statements")

    def _floor(self, bodies: list[str], token: str) -> Result:
        """The same signed statements through the baseline's `/signed`: the least a signed,
        authenticated append costs (one key lookup, one Ed25519 verify, one insert)."""
        assert self.agencies is not None
        public_key = self.agencies.keys[REQUESTED].public.to_base64()
        httpx.post(
            f"{self.baseline.url}/keys", json={"token": token, "public_key": public_key}
        ).raise_for_status()
        signed = [("POST", "/signed", body) for body in bodies]
        warm(self.baseline.url, signed[:50], token)
        lines = write_lines(self.work / "signed.txt", signed)
        return run_wrk(
            self.load,
            self.baseline,
            "walk.lua",
            env={"BENCH_WRK_FILE": str(lines), "BENCH_WRK_AUTH": token},
        )

    def seed(self, n: int = 3000) -> None:
        """Requests to read and baseline rows to select, when no append run made them."""
        assert self.agencies is not None
        created = create_requests(self.service.url, self.agencies, n)
        self.request_ids += [rid for rid, _ in created]
        with httpx.Client(base_url=self.baseline.url, timeout=60) as http:
            for _, ack in created:
                http.post("/rows", content=ack, headers={"Content-Type": "application/json"})

    def read_one(self) -> Pair:
        assert self.agencies is not None
        token = self.agencies.tokens[REQUESTER]
        reads = write_lines(self.work / "read.txt", _read_lines(self.request_ids))
        with httpx.Client(base_url=self.baseline.url, timeout=10) as http:
            newest = int(http.get("/rows", params={"limit": 1}).json()[0]["id"])
        rows = write_lines(
            self.work / "rows.txt", [("GET", f"/rows/{i}", "") for i in range(1, newest + 1)]
        )
        warm(self.service.url, _read_lines(self.request_ids[:50]), token)
        warm(self.baseline.url, [("GET", f"/rows/{i}", "") for i in range(1, 51)], None)
        base = run_wrk(self.load, self.baseline, "walk.lua", env={"BENCH_WRK_FILE": str(rows)})
        svc = run_wrk(
            self.load,
            self.service,
            "walk.lua",
            env={"BENCH_WRK_FILE": str(reads), "BENCH_WRK_AUTH": token},
        )
        note = f"round-robin over {len(self.request_ids)} requests / {newest} rows"
        return Pair(self.backend, "read one", base, svc, note)

    def list_page(self) -> Pair:
        assert self.agencies is not None
        token = self.agencies.tokens[REQUESTER]
        warm(self.service.url, [("GET", "/v1/requests?limit=50", "")] * 20, token)
        warm(self.baseline.url, [("GET", "/rows?limit=50", "")] * 20, None)
        base = run_wrk(self.load, self.baseline, "static.lua", "/rows?limit=50")
        svc = run_wrk(
            self.load,
            self.service,
            "static.lua",
            "/v1/requests?limit=50",
            env={"BENCH_WRK_AUTH": token},
        )
        note = (
            f"answer bytes: baseline {base.bytes_per_answer:,.0f}, "
            f"service {svc.bytes_per_answer:,.0f}"
        )
        return Pair(self.backend, "list 50", base, svc, note)


SCENARIOS = ("append", "read", "list", "append-nowait")


def run_backend(
    backend: str, load: Load, mode: str, scenarios: tuple[str, ...] = SCENARIOS
) -> list[Pair]:
    print(f"\n== {backend}")
    pairs: list[Pair] = []
    with tempfile.TemporaryDirectory(prefix="mla-wrk-") as tmp:
        work = Path(tmp)
        with databases(backend, work) as (service_env, baseline_env):
            service_env = {
                **service_env,
                "MLA_DATA_DIR": str(work / "data"),
                "MLA_OPERATOR_TOKEN": OPERATOR,
            }
            if mode == "uvicorn":
                subprocess.run(
                    [sys.executable, "-m", "mla_tracker.cli.main", "db", "upgrade"],
                    env={**os.environ, **service_env},
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                )
            baseline = Server("baseline", baseline_argv(mode), baseline_env, work / "baseline.log")
            service = Server("service", service_argv(mode), service_env, work / "service.log")
            bench = Bench(backend, load, work, baseline, service)
            try:
                baseline.start()
                service.start()
                bench.agencies = register_agencies(service.url)
                steps = {
                    "append": lambda: bench.append("append"),
                    "read": bench.read_one,
                    "list": bench.list_page,
                }
                if "append" not in scenarios and {"read", "list"} & set(scenarios):
                    bench.seed()
                for name in scenarios:
                    if name in steps:
                        pairs.append(steps[name]())
                        _print_pair(pairs[-1])
                if "append-nowait" in scenarios:
                    # The append's own cost: answer at once, without waiting for the log.
                    service.stop()
                    service.env = {**service.env, "MLA_LOG_WAIT_MS": "0"}
                    service.start()
                    pairs.append(bench.append("append, MLA_LOG_WAIT_MS=0"))
                    _print_pair(pairs[-1])
            finally:
                service.stop()
                baseline.stop()
    return pairs


# --------------------------------------------------------------------------- report


def _cores(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _print_pair(p: Pair) -> None:
    runs = [("baseline", p.baseline), ("service", p.service)]
    if p.floor is not None:
        runs.insert(1, ("floor", p.floor))
    for name, r in runs:
        print(
            f"  {p.scenario:<28} {name:<9} {r.rps:>8,.0f} req/s  p50 {r.ms('50'):7.1f} ms"
            f"  p99 {r.ms('99'):7.1f} ms  errors {r.errors}"
            f"  server {_cores(r.server_cores)} cores  wrk {r.wrk_cores:.2f} cores"
        )
    print(f"  {'':<28} ratio     {p.service.rps / p.baseline.rps:.2f}   {p.note}")
    if p.floor is not None:
        print(f"  {'':<28} {_floor_text(p)}")


def _floor_text(p: Pair) -> str:
    assert p.floor is not None
    return (
        f"floor (key lookup + Ed25519 verify + insert, bare litestar) "
        f"{p.floor.rps:,.0f} req/s = {p.floor.rps / p.baseline.rps:.2f} of the bare insert; "
        f"service = {p.service.rps / p.floor.rps:.2f} of the floor"
    )


def print_table(pairs: list[Pair], load: Load, mode: str) -> None:
    print(
        f"\n{os.cpu_count()} CPUs; wrk -t{load.threads} -c{load.connections} "
        f"-d{load.duration}s per run; one uvicorn worker each; service via "
        f"{'`mla serve`' if mode == 'serve' else 'plain uvicorn'}; all on {HOST}\n"
    )
    print(
        "| backend | scenario | baseline req/s | p50 / p99 ms | service req/s | p50 / p99 ms "
        "| ratio | server cores (base / svc) | wrk cores (base / svc) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for p in pairs:
        b, s = p.baseline, p.service
        print(
            f"| {p.backend} | {p.scenario} | {b.rps:,.0f} | {b.ms('50'):.1f} / {b.ms('99'):.1f} "
            f"| {s.rps:,.0f} | {s.ms('50'):.1f} / {s.ms('99'):.1f} | **{s.rps / b.rps:.2f}** "
            f"| {_cores(b.server_cores)} / {_cores(s.server_cores)} "
            f"| {b.wrk_cores:.2f} / {s.wrk_cores:.2f} |"
        )
    print()
    for p in pairs:
        if p.note:
            print(f"- {p.backend}, {p.scenario}: {p.note}")
        if p.floor is not None:
            print(f"- {p.backend}, {p.scenario}: {_floor_text(p)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run [10]")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections [32]")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads [2]")
    parser.add_argument(
        "--backends", default="postgres,sqlite", help="comma-separated: postgres, sqlite"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, in this order: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--server",
        choices=("serve", "uvicorn"),
        default="serve",
        help="run the service as `mla serve` [default] or the app under plain uvicorn",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed: it is the load generator of this benchmark.\n"
            "  Debian/Ubuntu: sudo apt-get install -y wrk\n"
            "  macOS:         brew install wrk",
            file=sys.stderr,
        )
        return 2
    load = Load(args.duration, args.connections, args.threads)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"postgres", "sqlite"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if "postgres" in backends and not os.environ.get("MLA_TEST_POSTGRES_URL"):
        print("PostgreSQL skipped: MLA_TEST_POSTGRES_URL is not set (make bench sets it)")
        backends.remove("postgres")
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    if bad := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(bad))}")
    pairs: list[Pair] = []
    for backend in backends:
        pairs += run_backend(backend, load, args.server, scenarios)
    print_table(pairs, load, args.server)
    failed = [p for p in pairs if p.baseline.errors or p.service.errors]
    for p in failed:
        print(f"FAILED: {p.backend} {p.scenario} had errors (see above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
