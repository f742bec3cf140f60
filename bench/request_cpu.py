"""CPU per request of the hot paths, in process and one at a time (issue 13).

`make bench` measures throughput under `wrk`, where PostgreSQL, wrk and the service share
two cores and runs vary by 10-20 %. This measures what one request costs the service's
own thread: the app is called over ASGI directly (no socket, no client), requests run
one after another, and `time.thread_time()` is read around them. Use it to compare two
versions of the code; `--profile tottime` adds cProfile's table.

    MLA_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@localhost:5432/postgres \\
        .venv/bin/python bench/request_cpu.py [--what read,list,append] [--no-integrator]

Data is prepared through a real `mla serve` (bench/wrk_support.py), which is then
stopped; appends answer at once (MLA_LOG_WAIT_MS=0). With the integrator running, its
batches count in the appends' CPU, as they do in a server; `--no-integrator` leaves them
out to isolate the request.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench import wrk_support as wrk  # noqa: E402

Job = tuple[str, str, str, bytes]


async def call(app: Any, method: str, target: str, token: str, body: bytes) -> int:
    """One request through the ASGI app; its status."""
    path, _, query = target.partition("?")
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def measure(
    env: dict[str, str], agencies: wrk.Agencies, created: list[tuple[str, str]], args: Any
) -> None:
    os.environ.update(env)
    from mla_tracker.api.app import create_app
    from mla_tracker.workflows import log

    if args.no_integrator:

        async def nothing(ctx: Any, **_: Any) -> dict[str, int]:
            return {}

        log.integrate = nothing  # type: ignore[assignment]
    app = create_app()
    gc.collect()
    gc.freeze()  # as `mla serve` does
    requester, requested = agencies.tokens[wrk.REQUESTER], agencies.tokens[wrk.REQUESTED]
    ids = [rid for rid, _ in created]
    jobs: dict[str, list[Job]] = {
        "read": [
            ("GET", f"/v1/requests/{ids[i % len(ids)]}", requester, b"") for i in range(args.n)
        ],
        "list": [("GET", "/v1/requests?limit=50", requester, b"")] * max(1, args.n // 3),
        "append": [
            ("POST", f"/v1/requests/{rid}/statements", requested, ack.encode())
            for rid, ack in created
        ],
    }
    async with app.lifespan():
        for what in args.what.split(","):
            todo = jobs[what]
            for job in todo[:20]:  # first-use costs are not timed
                assert await call(app, *job) < 300, (what, job)
            timed = todo[20:]
            profile = cProfile.Profile() if args.profile else None
            cpu, wall = time.thread_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            for job in timed:
                status = await call(app, *job)
                assert status < 300, (what, status)
            if profile is not None:
                profile.disable()
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            print(
                f"{what:7} {1000 * cpu / len(timed):7.3f} ms CPU per request"
                f"  {1000 * wall / len(timed):7.3f} ms wall  ({len(timed)} requests)",
                flush=True,
            )
            if profile is not None:
                pstats.Stats(profile).sort_stats(args.profile).print_stats(40)


def main() -> None:
    """Prepare data through `mla serve`, then time the hot paths in process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--what", default="read,list,append", help="comma-separated")
    parser.add_argument("--n", type=int, default=3000, help="reads (lists: a third)")
    parser.add_argument("--requests", type=int, default=600, help="requests to append to")
    parser.add_argument("--no-integrator", action="store_true")
    parser.add_argument("--profile", default="", help="cProfile sort key, e.g. tottime")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mla-cpu-") as tmp:
        work = Path(tmp)
        with wrk.databases(args.backend, work) as (env, _):
            env = {
                **env,
                "MLA_DATA_DIR": str(work / "data"),
                "MLA_OPERATOR_TOKEN": wrk.OPERATOR,
                "MLA_LOG_WAIT_MS": "0",
            }
            server = wrk.Server("service", wrk.service_argv("serve"), env, work / "s.log")
            try:
                server.start()
                agencies = wrk.register_agencies(server.url)
                created = wrk.create_requests(server.url, agencies, args.requests)
            finally:
                server.stop()
            asyncio.run(measure(env, agencies, created, args))


if __name__ == "__main__":
    main()
