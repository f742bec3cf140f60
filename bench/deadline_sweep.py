"""Deadline worker sweep time with 1,000,000 open requests beside 10,000 (issue 10).

Per backend (SQLite file; PostgreSQL from MLA_TEST_POSTGRES_URL, as `make bench` sets it)
and per size N: a fresh database gets K real requests (signed `transmit` statements
accepted by the hub's own code, on a clock 30 days back, so their acknowledge deadlines
have passed) and N filler requests with two future due rows each, bulk-inserted. Then:

- **act**: one sweep by the real clock: refresh the K stale requests, claim their 2K due
  rows, sign K `deadline_missed` statements (the warnings are stale);
- **idle**: a sweep with nothing stale and nothing due (what every tick costs).

Goal: the 1,000,000 sweep within 2x of the 10,000 one: a sweep reads due rows by index.

    .venv/bin/python bench/deadline_sweep.py
    BENCH_BIG=200000 BENCH_BACKENDS=sqlite .venv/bin/python bench/deadline_sweep.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.pg_support import recreate_database  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from mla_tracker.crypto.keys import SigningKey  # noqa: E402
from mla_tracker.crypto.statement import GENESIS  # noqa: E402
from mla_tracker.domain.model import AgencyRole  # noqa: E402
from mla_tracker.examples import mla_content  # noqa: E402
from mla_tracker.protocol import sign  # noqa: E402
from mla_tracker.storage.db import create_engine, session_factory, transaction  # noqa: E402
from mla_tracker.storage.deadline_tables import DeadlineDueRow  # noqa: E402
from mla_tracker.storage.migrate import upgrade  # noqa: E402
from mla_tracker.storage.tables import RequestRow  # noqa: E402
from mla_tracker.workflows import agencies, deadline_worker, statements  # noqa: E402
from mla_tracker.workflows.commands import RegisterAgency  # noqa: E402
from mla_tracker.workflows.context import Context  # noqa: E402
from mla_tracker.workflows.principals import Principal  # noqa: E402

SMALL = 10_000
BIG = int(os.environ.get("BENCH_BIG", "1000000"))
K = int(os.environ.get("BENCH_DUE", "100"))
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgres").split(",")
OPERATOR = Principal(True)
CHUNK = 10_000


class Clock:
    """The bench's clock: 30 days back while requests are made, then the real time."""

    def __init__(self) -> None:
        self.now: datetime | None = datetime.now(UTC) - timedelta(days=30)

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


async def _agency(ctx: Context, agency_id: str, country: str) -> SigningKey:
    key = SigningKey.generate()
    cmd = RegisterAgency(
        id=agency_id,
        name=agency_id,
        country=country,
        role=AgencyRole.CENTRAL_AUTHORITY,
        public_key=key.public.to_base64(),
    )
    await agencies.register_agency(ctx, OPERATOR, cmd)
    return key


async def _real_requests(ctx: Context, clock: Clock) -> None:
    lao = await _agency(ctx, "la-mps", "LA")
    await _agency(ctx, "th-oag", "TH")
    principal = Principal(False, "la-mps", AgencyRole.CENTRAL_AUTHORITY)
    for _ in range(K):
        signed = sign(
            lao,
            request_id=uuid.uuid4(),
            seq=1,
            prev=GENESIS,
            action="transmit",
            actor="la-mps",
            body=mla_content("la-mps", "th-oag"),
            issued_at=clock(),
        )
        await statements.submit_request(ctx, principal, signed)


async def _fillers(ctx: Context, count: int) -> None:
    """`count` open requests, each with a warning and a miss planned a year ahead."""
    later = datetime.now(UTC) + timedelta(days=365)
    for start in range(0, count, CHUNK):
        ids = [uuid.uuid4() for _ in range(min(CHUNK, count - start))]
        async with transaction(ctx.sessions, write=True) as session:
            await session.execute(
                insert(RequestRow),
                [
                    {
                        "id": rid,
                        "kind": "mla",
                        "state": "transmitted",
                        "urgency": "normal",
                        "requesting_agency": "la-mps",
                        "requested_agency": "th-oag",
                        "case_reference": "filler",
                        "head_seq": 1,
                        "head_digest": GENESIS,
                        "created_at": later,
                        "updated_at": later,
                        "deadlines_stale": False,
                    }
                    for rid in ids
                ],
            )
            await session.execute(
                insert(DeadlineDueRow),
                [
                    {
                        "request_id": rid,
                        "deadline_id": "acknowledge-1",
                        "move": move,
                        "act_at": later + timedelta(days=days),
                        "status": "pending",
                    }
                    for rid in ids
                    for move, days in (("warn-1", 0), ("missed", 2))
                ],
            )


async def _measure(backend: str, count: int, work: Path) -> tuple[float, float]:
    name = f"mla_bench_sweep_{count}"
    url = (
        await recreate_database(os.environ["MLA_TEST_POSTGRES_URL"], name)
        if backend == "postgres"
        else f"sqlite+aiosqlite:///{work / f'sweep-{count}.db'}"
    )
    engine = create_engine(url)
    try:
        await upgrade(engine)
        clock = Clock()
        ctx = Context(
            sessions=session_factory(engine), clock=clock, server_key=SigningKey.generate()
        )
        started = time.perf_counter()
        await _real_requests(ctx, clock)
        await _fillers(ctx, count)
        if backend == "postgres":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        fill = time.perf_counter() - started
        print(f"  {backend} {count:>9,} open requests filled in {fill:.0f} s (untimed)")
        clock.now = None  # the real time: every real request's deadline has passed
        started = time.perf_counter()
        report = await deadline_worker.sweep(ctx, "bench", limit=2 * K)
        act = time.perf_counter() - started
        assert report.refreshed == K and report.outcomes.get("missed") == K, report
        await deadline_worker.sweep(ctx, "bench")  # re-plans the requests the hub just moved
        idle = []
        for _ in range(20):
            started = time.perf_counter()
            quiet = await deadline_worker.sweep(ctx, "bench")
            idle.append(time.perf_counter() - started)
            assert quiet.claimed == 0 and quiet.refreshed == 0, quiet
        return act * 1000, sorted(idle)[len(idle) // 2] * 1000
    finally:
        await engine.dispose()
        if backend == "postgres":
            await recreate_database(os.environ["MLA_TEST_POSTGRES_URL"], name, drop_only=True)


async def main() -> None:
    """Both sizes per backend; print the sweep times and their ratios."""
    print(f"deadline sweep: {K} due requests beside {SMALL:,} and {BIG:,} open ones")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            if backend == "postgres" and not os.environ.get("MLA_TEST_POSTGRES_URL"):
                print("PostgreSQL skipped: MLA_TEST_POSTGRES_URL is not set")
                continue
            small = await _measure(backend, SMALL, Path(tmp))
            big = await _measure(backend, BIG, Path(tmp))
            for label, i in (("act on due", 0), ("idle", 1)):
                ratio = big[i] / small[i]
                verdict = "met" if ratio <= 2 else "missed"
                print(
                    f"{backend:>8} {label:>10}: {small[i]:8.1f} ms at {SMALL:,}, "
                    f"{big[i]:8.1f} ms at {BIG:,}: ratio {ratio:.2f} (goal <= 2: {verdict})"
                )


if __name__ == "__main__":
    asyncio.run(main())
