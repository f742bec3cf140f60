"""Webhook dispatch rate to a loopback receiver, against bare httpx posts to the same receiver.

The bench writes N events for one agency (as accepted statements would), subscribes that
agency to a receiver in another process (a minimal keep-alive HTTP/1.1 server answering
204), then runs the service's own `dispatch_once` (publish, claim, sign, send, record) in a
loop until every delivery is delivered. The baseline posts the same signed bodies to the
same receiver with one httpx client, 16 at a time (the dispatcher's concurrency), with no
database at all. Not run by CI.

    .venv/bin/python bench/webhook_dispatch.py
    BENCH_EVENTS=5000 BENCH_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1/postgres \
        .venv/bin/python bench/webhook_dispatch.py

With BENCH_POSTGRES_URL (a server where it may create databases) it also runs on a
throwaway PostgreSQL database, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from mla_tracker.storage.db import create_engine, session_factory, transaction  # noqa: E402
from mla_tracker.storage.event_tables import DeliveryRow, EventRow, WebhookRow  # noqa: E402
from mla_tracker.storage.migrate import upgrade  # noqa: E402
from mla_tracker.storage.tables import AgencyRow  # noqa: E402
from mla_tracker.workflows import webhooks  # noqa: E402
from mla_tracker.workflows.context import Context, utc_now  # noqa: E402
from mla_tracker.workflows.subscriptions import new_secret  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
PAYLOAD = (
    '{"request_id":"533cee1c-6387-4cc7-98e0-18876c1fc130","seq":1,"action":"transmit",'
    '"actor":"la-mps","digest":"' + "ab" * 32 + '","state":"transmitted",'
    '"received_at":"2026-11-29T14:39:55.494432Z","meta":{"kind":"mla"}}'
)


def _receiver(port: int, ready: multiprocessing.synchronize.Event) -> None:
    """A keep-alive HTTP/1.1 server that reads each request and answers 204."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _database(admin: str, name: str, *, create: bool) -> None:
    engine = create_engine(admin, pool=False)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        sql = f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE "{name}" WITH (FORCE)'
        await conn.execute(text(sql))
    await engine.dispose()


async def _prepare(url: str, receiver: str) -> tuple[Context, AsyncEngine]:
    engine = create_engine(url)
    await upgrade(engine)
    ctx = Context(sessions=session_factory(engine))
    now = utc_now()
    async with transaction(ctx.sessions, write=True) as session:
        session.add(
            AgencyRow(
                id="la-mps",
                name="Lao",
                country="LA",
                role="central_authority",
                timezone="Asia/Vientiane",
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            WebhookRow(
                id=uuid.uuid4(),
                agency_id="la-mps",
                url=receiver,
                event_types=[],
                secret=new_secret(),
                created_at=now,
            )
        )
        rid = uuid.uuid4()
        await session.execute(
            insert(EventRow),
            [
                {
                    "position": None,
                    "agency_id": "la-mps",
                    "request_id": rid,
                    "type": "statement.accepted",
                    "payload": PAYLOAD,
                    "created_at": now,
                }
                for _ in range(EVENTS)
            ],
        )
    return ctx, engine


async def _dispatch(ctx: Context) -> float:
    config = webhooks.WebhookConfig(timeout_seconds=10.0)
    start = time.perf_counter()
    sent = 0
    while sent < EVENTS:
        sent += await webhooks.dispatch_once(ctx, owner="bench", limit=100, config=config)
    elapsed = time.perf_counter() - start
    async with transaction(ctx.sessions, write=False) as session:
        statuses = list(await session.scalars(select(DeliveryRow.status)))
    assert statuses.count("delivered") == EVENTS, "every delivery delivered once"
    return elapsed


async def _baseline(receiver: str) -> float:
    body = ('{"type":"statement.accepted","event_id":1,"data":' + PAYLOAD + "}").encode()
    secret = new_secret()
    gate = asyncio.Semaphore(webhooks.CONCURRENCY)
    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=10.0) as http:

        async def one(n: int) -> None:
            async with gate:
                headers = webhooks.sign(f"msg_{n}", [secret], body, int(time.time()))
                response = await http.post(receiver, content=body, headers=headers)
                assert response.status_code == 204

        await asyncio.gather(*(one(n) for n in range(EVENTS)))
    return time.perf_counter() - start


async def _run(url: str, label: str, receiver: str) -> None:
    ctx, engine = await _prepare(url, receiver)
    try:
        dispatched = await _dispatch(ctx)
    finally:
        await engine.dispose()
    bare = await _baseline(receiver)
    rate, base = EVENTS / dispatched, EVENTS / bare
    print(
        f"{label:<10} dispatch {rate:8.0f} deliveries/s   bare httpx {base:8.0f} posts/s   "
        f"ratio {rate / base:.2f}   ({EVENTS} deliveries)"
    )


def main() -> None:
    """Run on SQLite, and on PostgreSQL when BENCH_POSTGRES_URL is set."""
    port = _free_port()
    ready = multiprocessing.get_context("spawn").Event()
    proc = multiprocessing.get_context("spawn").Process(
        target=_receiver, args=(port, ready), daemon=True
    )
    proc.start()
    ready.wait(30)
    receiver = f"http://127.0.0.1:{port}/hook"
    try:
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(_run(f"sqlite+aiosqlite:///{folder}/bench.db", "SQLite", receiver))
        admin = os.environ.get("BENCH_POSTGRES_URL")
        if admin:
            name = f"mla_bench_{uuid.uuid4().hex[:8]}"
            asyncio.run(_database(admin, name, create=True))
            try:
                url = admin.rsplit("/", 1)[0] + "/" + name
                asyncio.run(_run(url, "PostgreSQL", receiver))
            finally:
                asyncio.run(_database(admin, name, create=False))
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
