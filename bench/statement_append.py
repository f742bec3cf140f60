"""Statement-append throughput and latency on PostgreSQL through the real HTTP stack.

Beside it, in the same run, a baseline: a bare litestar + asyncpg endpoint that inserts
one row. Both run under uvicorn (one worker) on loopback; the same client drives both
with the same concurrency. Prints the ratio (goal: >= 0.5 of the baseline).

Run: make bench   (or: MLA_TEST_POSTGRES_URL=... python bench/statement_append.py)
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mla_tracker import protocol  # noqa: E402
from mla_tracker.crypto.keys import SigningKey  # noqa: E402
from mla_tracker.crypto.statement import GENESIS, digest  # noqa: E402

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
PER_WORKER = int(os.environ.get("BENCH_PER_WORKER", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
OPERATOR = "mla_bench-operator-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _fresh_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(_dsn(admin_url))
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, **env},
        cwd=ROOT,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server on port {port} did not start")


async def _drive(
    base: str, jobs: list[list[tuple[str, dict[str, Any], dict[str, str]]]]
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker(job: list[tuple[str, dict[str, Any], dict[str, str]]]) -> None:
            nonlocal failures
            for path, body, headers in job:
                t0 = time.perf_counter()
                resp = await client.post(path, json=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                if resp.status_code not in (200, 201):
                    failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(j) for j in jobs))
        elapsed = time.perf_counter() - start
    return elapsed, latencies, failures


def _report(name: str, elapsed: float, latencies: list[float], failures: int) -> float:
    rate = len(latencies) / elapsed
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<28} {len(latencies):>6} req  {rate:>8.1f} req/s  p50 {q[49] * 1000:6.1f} ms"
        f"  p99 {q[98] * 1000:6.1f} ms  failures {failures}"
    )
    return rate


Agencies = tuple[dict[str, SigningKey], dict[str, dict[str, str]]]


async def _register(base: str) -> Agencies:
    """Register the two central authorities the benchmark's chains alternate between."""
    op = {"Authorization": f"Bearer {OPERATOR}"}
    keys = {"la-mps": SigningKey.generate(), "th-oag": SigningKey.generate()}
    tokens = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for agency_id, country in (("la-mps", "LA"), ("th-oag", "TH")):
            resp = await client.post(
                "/v1/agencies",
                headers=op,
                json={
                    "id": agency_id,
                    "name": agency_id,
                    "country": country,
                    "role": "central_authority",
                    "public_key": keys[agency_id].public.to_base64(),
                },
            )
            assert resp.status_code == 201, resp.text
    sys.path.insert(0, str(ROOT))
    from tests.support import login_sync

    with httpx.Client(base_url=base, timeout=60) as sync_client:
        for agency_id, key in keys.items():
            token = login_sync(sync_client, agency_id, key)
            tokens[agency_id] = {"Authorization": f"Bearer {token}"}
    return keys, tokens


async def _setup_mla(
    base: str, agencies: Agencies
) -> list[list[tuple[str, dict[str, Any], dict[str, str]]]]:
    """Open one request per worker and pre-sign each worker's chain."""
    keys, tokens = agencies
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        sys.path.insert(0, str(ROOT))
        from tests.support import mla_content

        jobs = []
        for _ in range(CONCURRENCY):
            rid = uuid.uuid4()
            signed = protocol.sign(
                keys["la-mps"],
                request_id=rid,
                seq=1,
                prev=GENESIS,
                action="transmit",
                actor="la-mps",
                body=mla_content("la-mps", "th-oag"),
            )
            env = protocol.to_json(signed)
            resp = await client.post("/v1/requests", json=env, headers=tokens["la-mps"])
            assert resp.status_code == 201, resp.text
            # Requested and requester alternate request_info / provide_info: a long chain.
            prev, job = digest(signed.envelope.payload_bytes()), []
            for seq in range(2, PER_WORKER + 2):
                if seq == 2:
                    actor, action, body = "th-oag", "acknowledge", {}
                elif seq % 2 == 1:
                    actor, action, body = "th-oag", "request_info", {"questions": f"q{seq}"}
                else:
                    actor, action, body = "la-mps", "provide_info", {"answer": f"a{seq}"}
                signed = protocol.sign(
                    keys[actor],
                    request_id=rid,
                    seq=seq,
                    prev=prev,
                    action=action,
                    actor=actor,
                    body=body,
                )
                env = protocol.to_json(signed)
                job.append((f"/v1/requests/{rid}/statements", env, tokens[actor]))
                prev = digest(signed.envelope.payload_bytes())
            jobs.append(job)
    return jobs


async def main() -> None:
    admin = os.environ.get("MLA_TEST_POSTGRES_URL")
    if not admin:
        sys.exit("set MLA_TEST_POSTGRES_URL (make bench finds a PostgreSQL for you)")
    mla_url = await _fresh_database(admin, "mla_bench_service")
    base_url = await _fresh_database(admin, "mla_bench_baseline")
    print(
        f"concurrency {CONCURRENCY}, {PER_WORKER} statements per worker, "
        f"{os.cpu_count()} CPUs, uvicorn 1 worker each, PostgreSQL on loopback"
    )

    bport, mport = _free_port(), _free_port()
    baseline_proc = _serve(["bench.baseline_app:app"], {"BENCH_PG_DSN": _dsn(base_url)}, bport)
    subprocess.run(
        [sys.executable, "-m", "mla_tracker.cli.main", "db", "upgrade"],
        check=True,
        env={**os.environ, "MLA_DATABASE_URL": mla_url},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    env = {"MLA_DATABASE_URL": mla_url, "MLA_OPERATOR_TOKEN": OPERATOR}
    mla_proc = _serve(["--factory", "mla_tracker.api.app:create_app"], env, mport)
    ratios = []
    try:
        agencies = await _register(f"http://127.0.0.1:{mport}")
        # The baseline app has no /health: _serve accepts any HTTP answer (404) as "up".
        for round_no in range(1, ROUNDS + 1):
            jobs = [
                [("/rows", {"payload": "x" * 400, "n": i}, {}) for i in range(PER_WORKER)]
                for _ in range(CONCURRENCY)
            ]
            await _drive(f"http://127.0.0.1:{bport}", [j[:10] for j in jobs])  # warm-up
            baseline = _report(
                f"round {round_no} baseline insert",
                *await _drive(f"http://127.0.0.1:{bport}", jobs),
            )
            mla_jobs = await _setup_mla(f"http://127.0.0.1:{mport}", agencies)
            service = _report(
                f"round {round_no} mla append", *await _drive(f"http://127.0.0.1:{mport}", mla_jobs)
            )
            ratios.append(service / baseline)
    finally:
        for proc in (baseline_proc, mla_proc):
            proc.terminate()
            proc.wait()
    print("ratios per round: " + ", ".join(f"{r:.2f}" for r in ratios))
    service, baseline = statistics.median(ratios), 1.0
    print(f"median ratio (append / baseline): {service / baseline:.2f}  (goal >= 0.50)")


if __name__ == "__main__":
    asyncio.run(main())
