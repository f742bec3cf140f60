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
2. read one: `GET /v1/requests/{id}` as a party, round-robin; baseline: select by id.
3. list: `GET /v1/requests?limit=50` as a party; baseline: select a 50-row page.

Run: make bench   (or: python bench/wrk_bench.py --help; needs `wrk`: apt-get install wrk)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.log_wait import integration_waits  # noqa: E402
from bench.pg_support import dsn as _dsn  # noqa: E402
from bench.pg_support import recreate_database as _recreate_database  # noqa: E402
from tests.support import mla_content, register_sync  # noqa: E402

from mla_tracker import protocol  # noqa: E402
from mla_tracker.crypto.keys import SigningKey  # noqa: E402
from mla_tracker.crypto.statement import GENESIS, digest  # noqa: E402

OPERATOR = "mla_bench-operator-token-0123456789"
REQUESTER, REQUESTED = "la-mps", "th-oag"
HOST = "127.0.0.1"  # servers and load stay on loopback
# Requests the Python client creates concurrently while preparing (untimed).
SETUP_CONCURRENCY = 16
# Statements per second of run time to prepare for the first append run; a run that
# exhausts its statements is repeated with enough (see walk.lua's `overrun`).
INITIAL_APPEND_RATE = 300
MAX_APPEND_ATTEMPTS = 3


# --------------------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc), to show how busy it was."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """One uvicorn process (one worker) on loopback, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, env={**os.environ, **self.env}, cwd=ROOT, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 90  # the service migrates a fresh database first
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start on port {self.port}:\n{tail}")

    def cpu(self) -> float | None:
        return None if self.proc is None else _cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


# --------------------------------------------------------------------------- wrk


@dataclasses.dataclass
class Result:
    """One wrk run, as bench/wrk/common.lua's done() reports it, plus CPU use."""

    raw: dict[str, Any]
    server_cores: float | None
    wrk_cores: float

    @property
    def rps(self) -> float:
        return float(self.raw["requests"]) / (self.raw["duration_us"] / 1e6)

    def ms(self, p: str) -> float:
        return float(self.raw[f"p{p}_us"]) / 1000

    @property
    def errors(self) -> int:
        return sum(int(v) for k, v in self.raw.items() if k.startswith("errors_"))

    @property
    def bytes_per_answer(self) -> float:
        return float(self.raw["bytes"]) / max(1, int(self.raw["requests"]))


@dataclasses.dataclass(frozen=True)
class Load:
    """The same client settings for every run."""

    duration: int
    connections: int
    threads: int


def _profile(server: Server, seconds: int) -> subprocess.Popen[bytes] | None:
    """With BENCH_PYSPY=DIR, sample the service with py-spy during the run (collapsed
    stacks in DIR, one file per run; `bench/pyspy_summary.py` sums them by function)."""
    out_dir = os.environ.get("BENCH_PYSPY")
    if not out_dir or server.name != "service" or server.proc is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    target = Path(out_dir) / f"{server.name}-{time.strftime('%H%M%S')}.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    argv = [spy, "record", "-p", str(server.proc.pid), "-d", str(max(1, seconds - 1))]
    argv += ["-r", "200", "-f", "raw", "-o", str(target), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_wrk(
    load: Load,
    server: Server,
    script: str,
    path: str = "/",
    env: dict[str, str] | None = None,
    duration: int | None = None,
) -> Result:
    """Run wrk against one server; CPU of wrk (ours, a child) and of the server measured."""
    seconds = duration or load.duration
    argv = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        # Above any latency we expect (an append waits up to MLA_LOG_WAIT_MS for the log),
        # so slow answers are measured instead of silently dropped as timeouts.
        "--timeout",
        "30s",
        "-s",
        str(WRK_DIR / script),
        server.url + path,
    ]
    wrk_env = {**os.environ, "BENCH_WRK_THREADS": str(load.threads), **(env or {})}
    spy = _profile(server, seconds)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, wall_before = server.cpu(), time.monotonic()
    done = subprocess.run(
        argv, env=wrk_env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    wall = time.monotonic() - wall_before
    server_after = server.cpu()
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if spy is not None:
        spy.wait(timeout=60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    wrk_cpu = (after_children.ru_utime + after_children.ru_stime) - (
        before_children.ru_utime + before_children.ru_stime
    )
    server_cores = (
        None
        if server_before is None or server_after is None
        else (server_after - server_before) / wall
    )
    return Result(json.loads(line.split(" ", 1)[1]), server_cores, wrk_cpu / wall)


def _write_lines(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    # walk.lua's format: METHOD<TAB>path<TAB>body; compact JSON has no raw tab or newline.
    with open(path, "w") as f:
        for method, target, body in lines:
            f.write(f"{method}\t{target}\t{body}\n")
    return path


# --------------------------------------------------------------------------- service setup


@dataclasses.dataclass
class Agencies:
    keys: dict[str, SigningKey]
    tokens: dict[str, str]


def register_agencies(base: str) -> Agencies:
    """The requesting and requested central authorities, logged in by challenge."""
    keys, tokens = {}, {}
    with httpx.Client(base_url=base, timeout=60) as http:
        for agency_id, country in ((REQUESTER, "LA"), (REQUESTED, "TH")):
            keys[agency_id], tokens[agency_id] = register_sync(
                http, agency_id, country, "central_authority", operator_token=OPERATOR
            )
    return Agencies(keys, tokens)


async def _create_requests(base: str, agencies: Agencies, n: int) -> list[tuple[str, str]]:
    """Transmit n fresh requests; for each, its id and a pre-signed `acknowledge` (JSON)."""
    auth = {"Authorization": f"Bearer {agencies.tokens[REQUESTER]}"}
    content = mla_content(REQUESTER, REQUESTED)
    out: list[tuple[str, str]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            rid = uuid.uuid4()
            transmit = protocol.sign(
                agencies.keys[REQUESTER],
                request_id=rid,
                seq=1,
                prev=GENESIS,
                action="transmit",
                actor=REQUESTER,
                body=content,
            )
            resp = await client.post("/v1/requests", json=protocol.to_json(transmit), headers=auth)
            if resp.status_code != 201:
                raise RuntimeError(f"creating a request: {resp.status_code} {resp.text}")
            ack = protocol.sign(
                agencies.keys[REQUESTED],
                request_id=rid,
                seq=2,
                prev=digest(transmit.envelope.payload_bytes()),
                action="acknowledge",
                actor=REQUESTED,
                body={},
            )
            out.append((str(rid), json.dumps(protocol.to_json(ack), separators=(",", ":"))))

    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(SETUP_CONCURRENCY)))
    return out


def create_requests(base: str, agencies: Agencies, n: int) -> list[tuple[str, str]]:
    started = time.monotonic()
    created = asyncio.run(_create_requests(base, agencies, n))
    print(f"    prepared {n} fresh requests in {time.monotonic() - started:.0f} s (untimed)")
    _wait_for_log(base)
    return created


def _wait_for_log(base: str) -> None:
    """Let the log integrator finish the transmits, so their backlog is not timed."""
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=base, timeout=10) as http:
        while time.monotonic() < deadline:
            size = int(http.get("/v1/log/checkpoint").text.splitlines()[1])
            if size != last:
                last, stable_since = size, time.monotonic()
            elif time.monotonic() - stable_since > 1.0:
                return
            time.sleep(0.2)


def _warm(base: str, lines: list[tuple[str, str, str]], token: str | None) -> None:
    """A few untimed requests down the same path, so first-use costs are not timed."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=base, timeout=60) as http:
        for method, target, body in lines:
            resp = http.request(method, target, content=body or None, headers=headers)
            if resp.status_code >= 300:
                raise RuntimeError(f"warm-up {method} {target}: {resp.status_code} {resp.text}")


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
            n = math.ceil(self.append_rate * self.load.duration * 1.25)
            warm = 50
            created = create_requests(self.service.url, self.agencies, n + warm)
            self.request_ids += [rid for rid, _ in created]
            lines = [("POST", f"/v1/requests/{rid}/statements", ack) for rid, ack in created]
            _warm(self.service.url, lines[:warm], token)
            _warm(self.baseline.url, [("POST", "/rows", b) for _, _, b in lines[:warm]], None)
            appends = _write_lines(self.work / "append.txt", lines[warm:])
            # The baseline inserts the very same JSON bodies (round-robin: it has no chains).
            inserts = _write_lines(
                self.work / "insert.txt", [("POST", "/rows", body) for *_, body in lines]
            )
            base = run_wrk(
                self.load, self.baseline, "walk.lua", env={"BENCH_WRK_FILE": str(inserts)}
            )
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
                return Pair(self.backend, label, base, svc, note)
            print(f"    {n} fresh statements were not enough (attempt {attempt}); more")
        raise RuntimeError("the service outran every pool of fresh statements")

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
        reads = _write_lines(self.work / "read.txt", _read_lines(self.request_ids))
        with httpx.Client(base_url=self.baseline.url, timeout=10) as http:
            newest = int(http.get("/rows", params={"limit": 1}).json()[0]["id"])
        rows = _write_lines(
            self.work / "rows.txt", [("GET", f"/rows/{i}", "") for i in range(1, newest + 1)]
        )
        _warm(self.service.url, _read_lines(self.request_ids[:50]), token)
        _warm(self.baseline.url, [("GET", f"/rows/{i}", "") for i in range(1, 51)], None)
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
        _warm(self.service.url, [("GET", "/v1/requests?limit=50", "")] * 20, token)
        _warm(self.baseline.url, [("GET", "/rows?limit=50", "")] * 20, None)
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


@contextmanager
def databases(backend: str, work: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Environment for the service and for the baseline: fresh databases, dropped after."""
    if backend == "sqlite":
        yield (
            {"MLA_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'service.db'}"},
            {"BENCH_SQLITE_PATH": str(work / "baseline.db")},
        )
        return
    admin = os.environ["MLA_TEST_POSTGRES_URL"]
    names = ("mla_bench_wrk_service", "mla_bench_wrk_baseline")
    service_url, baseline_url = (asyncio.run(_recreate_database(admin, n)) for n in names)
    try:
        yield {"MLA_DATABASE_URL": service_url}, {"BENCH_PG_DSN": _dsn(baseline_url)}
    finally:
        for name in names:
            asyncio.run(_recreate_database(admin, name, drop_only=True))


def service_argv(mode: str) -> list[str]:
    """`mla serve` as an operator runs it (h11 with header limits, access log), or the
    same app under plain uvicorn with the baseline's settings, to isolate the app."""
    if mode == "serve":
        # The deadline worker runs beside the API in production (`mla worker`, compose.yaml);
        # its sweep is measured by bench/deadline_sweep.py, not here.
        return [
            sys.executable,
            "-m",
            "mla_tracker.cli.main",
            "serve",
            "--port",
            "{port}",
            "--no-worker",
        ]
    return [
        sys.executable, "-m", "uvicorn", "--factory", "mla_tracker.api.app:create_app",
        "--host", HOST, "--port", "{port}", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def baseline_argv(mode: str) -> list[str]:
    # Same HTTP implementation as the service: `mla serve` uses uvicorn's h11 protocol.
    http = ["--http", "h11"] if mode == "serve" else []
    return [
        sys.executable, "-m", "uvicorn", "bench.baseline_app:app", *http,
        "--host", HOST, "--port", "{port}", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


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
    for name, r in (("baseline", p.baseline), ("service", p.service)):
        print(
            f"  {p.scenario:<28} {name:<9} {r.rps:>8,.0f} req/s  p50 {r.ms('50'):7.1f} ms"
            f"  p99 {r.ms('99'):7.1f} ms  errors {r.errors}"
            f"  server {_cores(r.server_cores)} cores  wrk {r.wrk_cores:.2f} cores"
        )
    print(f"  {'':<28} ratio     {p.service.rps / p.baseline.rps:.2f}   {p.note}")


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
