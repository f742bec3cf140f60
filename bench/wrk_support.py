"""Servers, wrk runs and the service's set-up for the wrk benchmarks (bench/wrk_bench.py,
bench/scale_out.py, bench/request_cpu.py)."""

from __future__ import annotations

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
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

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


def fresh_statements(rate: float, duration: int) -> int:
    """How many fresh statements to prepare for a run of `duration` s at about `rate`
    appends/s: a quarter more, so a run a little faster than the last does not run out
    (walk.lua's `overrun`; repeats would be answered as duplicates)."""
    return math.ceil(rate * duration * 1.25)


def write_lines(path: Path, lines: list[tuple[str, str, str]]) -> Path:
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


def warm(base: str, lines: list[tuple[str, str, str]], token: str | None) -> None:
    """A few untimed requests down the same path, so first-use costs are not timed."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=base, timeout=60) as http:
        for method, target, body in lines:
            resp = http.request(method, target, content=body or None, headers=headers)
            if resp.status_code >= 300:
                raise RuntimeError(f"warm-up {method} {target}: {resp.status_code} {resp.text}")


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
