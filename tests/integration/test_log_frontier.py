"""The integrator's batches on both databases: with the carried frontier, without it, mixed.

A batch that trusts its Frontier skips reading the tree's edge; these tests check the
trees it builds against RFC 9162's definition computed here from scratch, with batches of
"another process" (no frontier) changing the tree in between. On PostgreSQL they run
twice: on the driver directly (an engine with a direct pool, as `mla serve` has) and in an
ORM transaction (no pool); on an SQLite file, on its writer thread. So every batch
implementation (storage/log_batches.py) is checked against the same definition.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import insert, select

from mla_tracker.crypto import merkle
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.storage import log_batches
from mla_tracker.storage.db import (
    DatabaseUnavailable,
    create_engine,
    direct_pool_of,
    is_unavailable,
    session_factory,
    transaction,
)
from mla_tracker.storage.log_tables import LogCheckpointRow, LogEntryRow
from mla_tracker.workflows import log
from mla_tracker.workflows.context import Context


@pytest.fixture(params=["direct", "orm"])
async def ctx(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Context]:
    """A workflow context with a log key, on the test's loop."""
    if database_url.startswith("sqlite") and request.param == "orm":
        pytest.skip("an SQLite file's batches always run on its writer thread")
    engine = create_engine(database_url, pool=request.param == "direct", pool_size=4)
    if request.param == "direct" and not database_url.startswith("sqlite"):
        assert direct_pool_of(engine) is not None
    try:
        yield Context(sessions=session_factory(engine), server_key=SigningKey.generate())
    finally:
        await engine.dispose()


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 over leaf hashes, written out independently of crypto/merkle.py."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


async def _queue(ctx: Context, rng: random.Random, count: int) -> list[bytes]:
    """Queue `count` entries as an append would; their leaf hashes in queue order."""
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        entry = rng.randbytes(40)
        rows.append(
            {
                "kind": "statement",
                "digest": hashlib.sha256(entry).hexdigest(),
                "leaf_hash": merkle.leaf_hash(entry),
                "entry": entry,
                "queued_at": datetime.now(UTC),
            }
        )
    async with transaction(ctx.sessions, write=True) as session:
        for row in rows:  # one at a time: ids in queue order
            await session.execute(insert(LogEntryRow.__table__), row)
    return [row["leaf_hash"] for row in rows]


async def _latest_checkpoint(ctx: Context) -> tuple[int, bytes]:
    async with transaction(ctx.sessions, write=False) as session:
        row = (
            await session.execute(
                select(LogCheckpointRow.size, LogCheckpointRow.root_hash)
                .order_by(LogCheckpointRow.size.desc())
                .limit(1)
            )
        ).one()
    return int(row.size), bytes(row.root_hash)


def _count_edge_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the batches that read the tree's edge from the database (either path)."""
    reads: list[int] = []
    for kind in (log_batches.SessionBatch, log_batches.DriverBatch):
        real: Callable[..., Awaitable[dict[tuple[int, int], bytes]]] = kind.nodes

        async def counted(
            self: Any, coords: Any, real: Callable[..., Any] = real
        ) -> dict[tuple[int, int], bytes]:
            reads.append(1)
            result: dict[tuple[int, int], bytes] = await real(self, coords)
            return result

        monkeypatch.setattr(kind, "nodes", counted)
    real_now = log_batches.SqliteBatch.nodes

    def counted_now(self: Any, coords: Any) -> dict[tuple[int, int], bytes]:
        reads.append(1)
        return real_now(self, coords)

    monkeypatch.setattr(log_batches.SqliteBatch, "nodes", counted_now)
    return reads


async def test_mixed_batches_build_the_same_tree_as_rfc_9162(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_edge_reads(monkeypatch)
    rng = random.Random(13)
    frontier = log.Frontier()
    leaves: list[bytes] = []
    integrated = 0
    own_batches = foreign_batches = 0
    frontier_was_current = False
    for _ in range(60):
        leaves += await _queue(ctx, rng, rng.randint(0, 9))
        ours = rng.random() < 0.7  # else another process's batch, which knows no frontier
        before = len(reads)
        done = await log.integrate(
            ctx,
            batch=rng.randint(1, 7),
            look_first=rng.random() < 0.5,
            frontier=frontier if ours else None,
        )
        if not done:
            assert integrated == len(leaves)  # nothing was queued
            continue
        assert sorted(done.values()) == list(range(integrated, integrated + len(done)))
        integrated += len(done)
        size, root = await _latest_checkpoint(ctx)
        assert size == integrated
        assert root == _mth(leaves[:size])
        if ours:
            # The edge is read only when the tree moved on without us (or at the start).
            trusted = frontier_was_current
            assert len(reads) - before == (0 if trusted else 1)
            assert frontier.size == size
            own_batches += 1
        else:
            assert len(reads) - before == 1
            foreign_batches += 1
        frontier_was_current = ours
    assert own_batches > 10 and foreign_batches > 5


async def test_a_frontier_of_another_size_is_never_trusted(ctx: Context) -> None:
    rng = random.Random(7)
    leaves = await _queue(ctx, rng, 5)
    frontier = log.Frontier()
    assert await log.integrate(ctx, frontier=frontier)
    assert frontier.size == 5
    # A lying frontier of the right size would poison the next root: the size must match.
    stale = log.Frontier(size=4, nodes={c: b"\x00" * 32 for c in merkle.root_coords(4)})
    leaves += await _queue(ctx, rng, 3)
    assert await log.integrate(ctx, frontier=stale)
    size, root = await _latest_checkpoint(ctx)
    assert (size, root) == (8, _mth(leaves))
    assert stale.size == 8 and stale.nodes == {(3, 0): _mth(leaves)}


async def test_the_integrator_runs_at_its_databases_interval(
    ctx: Context, database_url: str
) -> None:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    async with log.running(ctx) as integrator:
        assert integrator.min_interval_seconds == log.INTERVALS[dialect]
    # SQLite's batches take the write lock from appends: they come less often there.
    assert log.INTERVALS["sqlite"] > log.INTERVALS["postgresql"]


async def test_a_driver_batch_on_a_dead_connection_is_unavailable_then_heals(
    ctx: Context, database_url: str
) -> None:
    engine = ctx.sessions.kw["bind"]
    pool = direct_pool_of(engine)
    if pool is None:
        pytest.skip("the driver path only")
    rng = random.Random(3)
    leaves = await _queue(ctx, rng, 3)
    frontier = log.Frontier()
    assert await log.integrate(ctx, frontier=frontier)
    conn = await pool.acquire()
    pid = conn.get_server_pid()
    pool.release(conn)
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    leaves += await _queue(ctx, rng, 2)
    outcomes: list[str] = []
    for _ in range(2):
        try:
            outcomes.append(str(len(await log.integrate(ctx, frontier=frontier))))
        except DatabaseUnavailable as exc:
            assert is_unavailable(exc)  # the integrator logs one line and retries
            outcomes.append("unavailable")
    # The dead connection fails its batch at most once and is never lent again (if the
    # driver saw the server's goodbye first, the pool skips it and no batch fails); nothing
    # of a failed batch is stored, and the next batch integrates both entries.
    assert outcomes in (["unavailable", "2"], ["2", "0"]), outcomes
    assert await _latest_checkpoint(ctx) == (5, _mth(leaves))
    assert frontier.size == 5
