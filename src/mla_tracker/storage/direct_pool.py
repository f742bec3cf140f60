"""asyncpg connections for the hot statements, carved out of MLA_DB_POOL_SIZE (issue 13).

Lending a connection through SQLAlchemy's pool and taking it back costs about 0.1 ms of
CPU per statement (an AsyncConnection, greenlet switches, the pool's events and reset):
more than asyncpg's own round trip, on every token lookup, read and append. The hot
statements (raw_reads.py) take their connection from this pool instead: a stack of idle
asyncpg connections, popped and pushed back.

The process still keeps at most MLA_DB_POOL_SIZE connections: db.create_engine gives
SQLAlchemy's pool the rest (`direct_share`). A pool of one connection stays one
(SQLAlchemy's), so tests/integration/test_pool.py still finds any path that would hold two.

What SQLAlchemy's pool does for its connections, this does too: a connection that failed
mid-protocol (a dead server, a cancelled statement) is closed, never lent again, and a
dead server also closes every idle connection older than the failure; connections older
than RECYCLE_SECONDS are replaced; engine.dispose() closes the idle ones (db.py).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

#: Seconds before a connection is replaced, as SQLAlchemy's pool_recycle (db.py).
RECYCLE_SECONDS = 1800.0

Connect = Callable[[], Awaitable[Any]]


def direct_share(pool_size: int) -> int:
    """How many of a process's `pool_size` connections the hot statements get: half, and
    none of a pool of one (it stays SQLAlchemy's)."""
    return pool_size // 2 if pool_size >= 2 else 0


class PoolExhausted(Exception):
    """No connection came free within the pool timeout (db.is_unavailable: a 503)."""


def _decode_json(text: bytes | str) -> Any:
    # The values SQLAlchemy's own codec (json.loads) gives, at msgspec's speed; json.loads
    # stays for what msgspec refuses (a number beyond a float's range, which jsonb holds).
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


async def install_json_codecs(conn: Any) -> None:
    """json and jsonb as SQLAlchemy's asyncpg dialect sets them up: parameters arrive
    serialized (str), results come back decoded."""
    await conn.set_type_codec(
        "json",
        encoder=str.encode,
        decoder=_decode_json,
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "jsonb",
        # jsonb's binary form is a version byte, 1, then the text.
        encoder=lambda value: b"\x01" + value.encode(),
        decoder=lambda value: _decode_json(value[1:]),
        schema="pg_catalog",
        format="binary",
    )


class DirectPool:
    """At most `size` asyncpg connections, lent one at a time to a task (LIFO)."""

    def __init__(self, connect: Connect, size: int, timeout: float) -> None:
        self._connect = connect
        self.size = size
        self.timeout = timeout
        self.opened = 0
        self._idle: list[Any] = []
        #: Each open connection's (when it was opened, its generation), by id().
        self._born: dict[int, tuple[float, int]] = {}
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        #: Bumped by a dispose: older connections are closed when they come back.
        self._generation = 0

    async def acquire(self) -> Any:
        """A connection for one statement; PoolExhausted after `timeout` seconds."""
        while True:
            while self._idle:
                conn = self._idle.pop()
                if self._usable(conn):
                    return conn
                self._drop(conn)
            if self.opened < self.size:
                return await self._open()
            handed = await self._wait()
            if handed is not None:
                return handed

    def release(self, conn: Any) -> None:
        """Take a connection back after a statement that ended cleanly (or with an error
        the server answered: the connection is ready for the next)."""
        if not self._usable(conn):
            self._drop(conn)
        elif not self._hand(conn):
            self._idle.append(conn)

    def discard(self, conn: Any, *, server_gone: bool) -> None:
        """Close a connection that may be mid-protocol; `server_gone` closes the idle ones
        too (opened before the failure, they are dead as well)."""
        self._drop(conn)
        if server_gone:
            self._close_idle()

    def counts(self) -> tuple[int, int]:
        """Connections lent out and idle now (the pool gauge, api/metrics.py)."""
        return self.opened - len(self._idle), len(self._idle)

    def dispose(self) -> list[Any]:
        """Forget every idle connection (returned, for the caller to close) and close each
        busy one when it comes back; the pool opens fresh ones when next asked."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            self._forget(conn)
        return idle

    def _usable(self, conn: Any) -> bool:
        born, generation = self._born.get(id(conn), (0.0, -1))  # forgotten: never again
        return (
            generation == self._generation
            and not conn.is_closed()
            and time.monotonic() - born < RECYCLE_SECONDS
        )

    async def _open(self) -> Any:
        self.opened += 1
        try:
            conn = await self._connect()
        except BaseException:
            self.opened -= 1
            self._wake_one()  # its turn to open one passes on
            raise
        self._born[id(conn)] = (time.monotonic(), self._generation)
        return conn

    async def _wait(self) -> Any:
        """The connection a release hands over, or None when a place to open one freed."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed over just as this task gave up: pass the connection (or the place
                # to open one) on to the next waiter, never lose it.
                handed = waiter.result()
                if handed is not None:
                    self.release(handed)
                else:
                    self._wake_one()
            elif not waiter.done():
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise PoolExhausted(
                    f"no database connection came free within {self.timeout:g} s"
                ) from None
            raise

    def _hand(self, handed: Any) -> bool:
        """Give a connection (or None: a place to open one) to the first task still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(handed)
                return True
        return False

    def _wake_one(self) -> None:
        self._hand(None)

    def _forget(self, conn: Any) -> None:
        if self._born.pop(id(conn), None) is not None:
            self.opened -= 1
            self._wake_one()

    def _drop(self, conn: Any) -> None:
        self._forget(conn)
        if not conn.is_closed():
            conn.terminate()  # no round trip: it may be mid-protocol or its server gone

    def _close_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._drop(conn)


async def close_all(connections: list[Any]) -> None:
    """Close connections politely, each at most a second; terminate the rest."""
    for conn in connections:
        try:
            await asyncio.wait_for(conn.close(), 1.0)
        except Exception:  # closing a dead connection: nothing left to tell the server
            conn.terminate()
