"""Webhook test helpers: a real HTTP receiver on loopback, and driving the dispatcher."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import func, select

from mla_tracker.storage.db import create_engine, session_factory, transaction
from mla_tracker.storage.event_tables import DeliveryRow, EventRow
from mla_tracker.workflows import webhooks
from mla_tracker.workflows.context import Context

#: A quick configuration for tests: short timeout and backoff.
FAST = webhooks.WebhookConfig(
    max_attempts=10,
    backoff_base_seconds=0.02,
    backoff_cap_seconds=0.1,
    timeout_seconds=0.5,
    allow_loopback_http=True,
)


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1; `behave(n)` says what the n-th request gets:
    an HTTP status, or "sleep" to answer 200 only after `sleep_seconds`."""

    behave: Callable[[int], int | str] = lambda _n: 200
    sleep_seconds: float = 1.5
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def delivered_ids(self) -> list[str]:
        """webhook-id of each request answered 2xx, in arrival order."""
        with self.lock:
            return [r.headers["webhook-id"] for r in self.received if 200 <= r.answered < 300]


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    """Serve `receiver` on a free loopback port for the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.lock:
                what = receiver.behave(len(receiver.received))
                late = what == "sleep"
                status = 200 if late else int(what)
                headers = {k.lower(): v for k, v in self.headers.items()}
                # A late answer counts as none: the dispatcher has given up by then.
                receiver.received.append(Received(headers, body, 0 if late else status))
            if late:
                time.sleep(receiver.sleep_seconds)  # past the dispatcher's timeout
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the dispatcher gave up waiting

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def local_context(database_url: str) -> AsyncIterator[Context]:
    """A Context on the test's own loop (the app's runs on the test client's portal loop)."""
    engine = create_engine(database_url, pool=False)
    try:
        yield Context(sessions=session_factory(engine))
    finally:
        await engine.dispose()


async def count(ctx: Context, what: Any, *where: Any) -> int:
    """How many rows of a table (or column) match."""
    async with transaction(ctx.sessions, write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(what).where(*where)) or 0)


async def events_of(ctx: Context, agency_id: str) -> int:
    """How many events one agency has (published or not)."""
    return await count(ctx, EventRow, EventRow.agency_id == agency_id)


async def drain(
    ctx: Context,
    *,
    config: webhooks.WebhookConfig = FAST,
    owner: str = "test",
    timeout: float = 30.0,
) -> int:
    """Dispatch until no delivery is pending; the number of attempts made."""
    attempts = 0
    deadline = time.monotonic() + timeout
    while True:
        attempts += await webhooks.dispatch_once(ctx, owner=owner, config=config)
        pending = await count(ctx, DeliveryRow, DeliveryRow.status == "pending")
        unpublished = await count(ctx, EventRow, EventRow.position.is_(None))
        if not pending and not unpublished:
            return attempts
        assert time.monotonic() < deadline, f"{pending} deliveries still pending"
        await asyncio.sleep(0.02)
