"""The transparency log: queue entries inside append transactions, integrate them in batches.

An append transaction only queues its entry (`queue`); no lock is held across appends.
One integrator at a time (a PostgreSQL transaction-level advisory lock; SQLite's single
writer) gives the queued entries dense indices, stores the new perfect-subtree hashes and
signs a checkpoint (`integrate`). Every server process runs an integrator loop; whichever
takes the lock does the work, so several processes never fork the tree or skip an index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto import dsse, merkle
from ..crypto.keys import SigningKey
from ..crypto.log_entry import digest_of, entry_of, kind_of
from ..crypto.note import Checkpoint, NoteSigner
from ..storage import log_batches
from ..storage.db import direct_pool_of, engine_behind, is_unavailable, transaction
from ..storage.log_tables import LogEntryRow
from ..storage.sqlite_moves import writer_of
from .context import Context

log = logging.getLogger("mla_tracker.log")

#: Entries integrated per batch (one transaction, one checkpoint).
BATCH = 2000


def origin_of(key: SigningKey) -> str:
    """The log's origin line: unique per hub, derived from its log key."""
    return f"mla-tracker.dev/log/{key.key_id[:16]}"


def note_signer(key: SigningKey) -> NoteSigner:
    """The signer of this hub's checkpoints (its note name is the log's origin)."""
    return NoteSigner(origin_of(key), key)


_ENTRIES = cast(Table, LogEntryRow.__table__)
_QUEUE = insert(_ENTRIES)


def entry_values(
    envelope: dsse.Envelope,
    ctx: Context,
    *,
    request_id: uuid.UUID | None = None,
    agency_id: str | None = None,
) -> dict[str, Any]:
    """The queued log entry of an envelope, as column values (metadata only)."""
    entry = entry_of(envelope)
    return {
        "kind": kind_of(envelope),
        "digest": digest_of(envelope),
        "leaf_hash": merkle.leaf_hash(entry),
        "entry": entry,
        "request_id": request_id,
        "agency_id": agency_id,
        "queued_at": ctx.clock(),
    }


async def queue(
    session: AsyncSession,
    envelope: dsse.Envelope,
    ctx: Context,
    *,
    request_id: uuid.UUID | None = None,
    agency_id: str | None = None,
) -> None:
    """Inside an append transaction: queue the envelope for the log (metadata only)."""
    values = entry_values(envelope, ctx, request_id=request_id, agency_id=agency_id)
    # A Core insert built once: the append path is hot, and this row needs no ORM.
    await session.execute(_QUEUE, values)


#: Before taking SQLite's write lock: is anything queued at all?
_QUEUED = select(_ENTRIES.c.id).where(_ENTRIES.c.leaf_index.is_(None)).limit(1)


@dataclass
class Frontier:
    """The stored nodes a batch reads, as this process's last batch left them.

    Every node a batch at `size` reads (its new nodes' left siblings and the root's older
    parts) is one of the perfect subtrees that make up [0, size): merkle.root_coords(size).
    The log is append-only, so while the tree still has `size` entries these hashes are
    the stored ones, and the batch need not read them. Another process's batch changes
    the size, and the nodes are read again.
    """

    size: int = -1
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def at(self, size: int) -> dict[tuple[int, int], bytes] | None:
        """The frontier's nodes if the tree has `size` entries, else None."""
        return dict(self.nodes) if size == self.size else None


async def integrate(
    ctx: Context,
    *,
    batch: int = BATCH,
    look_first: bool = True,
    frontier: Frontier | None = None,
) -> dict[str, int]:
    """Integrate one batch of queued entries and sign a checkpoint; return digest -> index.

    `look_first=False` skips the read that finds an idle log idle (the caller knows an
    entry was queued); `frontier` carries the tree's edge from one batch to the next.
    """
    if ctx.server_key is None:
        raise RuntimeError("the hub has no log key")
    if look_first:
        async with transaction(ctx.sessions, write=False) as session:
            # Look before taking SQLite's write lock: an idle hub should not contend.
            queued = await session.scalar(_QUEUED)
        if queued is None:
            return {}
    steps = _batch_steps(ctx, ctx.server_key, batch, frontier)
    engine = engine_behind(ctx.sessions, "postgresql")
    writer = writer_of(ctx.sessions)
    if engine is not None and direct_pool_of(engine) is not None:
        async with log_batches.driver_transaction(engine) as on_driver:
            done = await log_batches.drive(steps, on_driver)
    elif writer is not None:
        # SQLite file: the whole batch in one hand-off to the writer thread that stores
        # appends, so the two never wait for each other's write lock (busy sleeps).
        done = await writer.run_batch(steps)
    else:
        async with transaction(ctx.sessions, write=True) as session:
            done = await log_batches.drive(steps, log_batches.SessionBatch(session))
    if done is None:
        return {}
    # Committed: only now may the next batch trust these hashes as stored.
    indices, edge = done
    if frontier is not None:
        frontier.size, frontier.nodes = edge
    return indices


def _batch_steps(
    ctx: Context, key: SigningKey, batch: int, frontier: Frontier | None
) -> log_batches.Steps:
    """One batch, sans I/O: yields what to read or write (log_batches.Step), is sent the
    answers, and returns (digest -> index, the new edge), or None if there was nothing."""
    if not (yield ("lock",)):
        return None
    pending, size = yield ("pending", batch)
    if not pending:
        return None
    new_size = size + len(pending)
    nodes = frontier.at(size) if frontier is not None else None
    if nodes is None:
        nodes = yield ("nodes", merkle.root_coords(size))
    assert nodes is not None
    fresh = merkle.batch_new_nodes(size, [leaf for _, leaf, _ in pending], nodes)
    nodes.update(((level, position), digest) for level, position, digest in fresh)
    root = merkle.root(new_size, nodes)
    body = Checkpoint(origin_of(key), new_size, root).to_text()
    yield (
        "write",
        [(entry_id, size + offset) for offset, (entry_id, _, _) in enumerate(pending)],
        fresh,
        {
            "size": new_size,
            "root_hash": root,
            "note": note_signer(key).sign(body),
            "created_at": ctx.clock(),
        },
    )
    edge = {c: nodes[c] for c in merkle.root_coords(new_size)}
    indices = {digest: size + offset for offset, (_, _, digest) in enumerate(pending)}
    return indices, (new_size, edge)


async def index_of(ctx: Context, digest: str) -> int | None:
    """The leaf index of an entry, or None while it is queued (or unknown)."""
    async with transaction(ctx.sessions, write=False) as session:
        found = await session.scalar(
            select(LogEntryRow.leaf_index).where(LogEntryRow.digest == digest)
        )
    return None if found is None else int(found)


@dataclass
class Integrator:
    """The per-process integrator loop; appends wake it and wait briefly for their index."""

    ctx: Context
    idle_seconds: float = 0.25
    #: At least this long from one batch's start to the next: under load, batches grow
    #: instead of each append paying a checkpoint (a tree update and a signature) alone.
    #: An idle hub integrates the first append at once. `running` picks it per database
    #: (interval_for).
    min_interval_seconds: float = 0.025
    #: How often a waiting append asks the database, for indices another process assigned.
    poll_seconds: float = 0.2
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    #: Appends waiting for their entry's index, by digest: a batch wakes exactly its own
    #: waiters, not every waiter in turn to look for itself.
    waiting: dict[str, list[asyncio.Future[int]]] = field(default_factory=dict)
    database_away: bool = False
    #: Indices this process assigned lately (digest -> index), so waiters need no query.
    assigned: dict[str, int] = field(default_factory=dict)
    #: The tree's edge after this process's last batch (see Frontier).
    frontier: Frontier = field(default_factory=Frontier)

    async def run(self) -> None:
        """Integrate until cancelled; a failure is logged and retried, never fatal."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            # Woken by a local append: something is queued, so the batch need not look
            # first (under load that look was one round trip of ten per batch).
            woken = self.wakeup.is_set()
            self.wakeup.clear()
            try:
                done = await integrate(self.ctx, look_first=not woken, frontier=self.frontier)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away; appends stay queued
                if is_unavailable(exc):
                    # One short line, not a traceback every idle interval while it is away.
                    if not self.database_away:
                        log.warning("log integration paused: the database is unavailable")
                    self.database_away = True
                else:
                    log.exception("log integration failed; retrying")
                done = {}
            else:
                if self.database_away:
                    log.warning("log integration resumed")
                self.database_away = False
            if done:
                if len(self.assigned) > 100_000:
                    self.assigned.clear()
                self.assigned.update(done)
                self._wake(done)
                await asyncio.sleep(max(0.0, started + self.min_interval_seconds - loop.time()))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.idle_seconds)

    def _wake(self, done: dict[str, int]) -> None:
        for digest, index in done.items():
            for waiter in self.waiting.pop(digest, ()):
                if not waiter.done():
                    waiter.set_result(index)

    async def wait_for(self, digest: str, timeout: float) -> int | None:
        """Wake the integrator and wait up to `timeout` for the entry's index."""
        self.wakeup.set()
        if timeout <= 0:
            # Not waiting (MLA_LOG_WAIT_MS=0): the entry was queued a moment ago, so a query
            # would almost never find it integrated, and it would cost every append a round
            # trip. The client polls its inclusion proof.
            return self.assigned.get(digest)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.assigned.get(digest)
            if found is not None:
                return found
            waiter: asyncio.Future[int] = loop.create_future()
            self.waiting.setdefault(digest, []).append(waiter)
            try:
                wait = max(0.0, min(self.poll_seconds, deadline - loop.time()))
                return await asyncio.wait_for(waiter, wait)
            except TimeoutError:
                pass
            finally:
                self._forget(digest, waiter)
            # Another process's integrator may have done the work.
            found = await index_of(self.ctx, digest)
            if found is not None or loop.time() >= deadline:
                return found

    def _forget(self, digest: str, waiter: asyncio.Future[int]) -> None:
        waiters = self.waiting.get(digest)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self.waiting[digest]


#: The integrator's minimum interval per database. Appends that wait for their index are
#: bound by it, and every batch costs CPU on the event loop (and on SQLite, the write
#: lock). A/B under wrk, 32 connections, two rounds each (docs/operations.md):
#: PostgreSQL 25 ms: 818 appends/s, p99 57-58 ms; 10 ms: 930-988, p99 42-51 ms (5 ms
#: and 0 gain nothing more: the process is then CPU-bound).
#: SQLite 25 ms: 857-871 appends/s; 10 ms: 664-674 (each batch took the write lock from
#: the appends). With the batch on the writer thread, 10 ms gives the same throughput
#: and a longer wait for the index (p50 27 against 17-20 ms).
INTERVALS = {"postgresql": 0.010, "sqlite": 0.025}


def interval_for(dialect: str) -> float:
    """The integrator's minimum interval between batches on this database."""
    return INTERVALS.get(dialect, 0.025)


@contextlib.asynccontextmanager
async def running(ctx: Context) -> AsyncIterator[Integrator]:
    """Run an integrator for the lifetime of the context manager."""
    engine = engine_behind(ctx.sessions)
    dialect = "" if engine is None else engine.dialect.name
    integrator = Integrator(ctx, min_interval_seconds=interval_for(dialect))
    task = asyncio.create_task(integrator.run(), name="mla-log-integrator")
    try:
        yield integrator
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
