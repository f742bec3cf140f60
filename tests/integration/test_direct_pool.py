"""The hot statements' asyncpg connections (storage/direct_pool.py), on a real PostgreSQL.

They are carved out of MLA_DB_POOL_SIZE, so the process never keeps more connections than
that; and a connection is lent again only after a statement the server answered, as
SQLAlchemy's pool does for its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import asyncpg  # type: ignore[import-untyped]
import pytest
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mla_tracker.api import metrics
from mla_tracker.storage import db, direct_pool
from mla_tracker.storage.db import (
    DatabaseUnavailable,
    create_engine,
    direct_pool_of,
    session_factory,
)
from mla_tracker.storage.direct_pool import DirectPool, direct_share
from mla_tracker.storage.raw_reads import RawStatement

PID = RawStatement("SELECT pg_backend_pid()", ())
SLEEPY_PID = RawStatement("SELECT pg_backend_pid() FROM pg_sleep($1)", ("seconds",))


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine of four connections: two for the hot statements, two for SQLAlchemy."""
    made = create_engine(postgres_url, pool_size=4)
    yield made
    await made.dispose()


def _pool(engine: AsyncEngine) -> DirectPool:
    pool = direct_pool_of(engine)
    assert pool is not None
    return pool


async def _alive(engine: AsyncEngine, pids: set[int]) -> set[int]:
    """Which of these backends still exist after up to 5 s (a backend leaves
    pg_stat_activity a moment after its socket closes); asked through SQLAlchemy's pool."""
    for _ in range(50):
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": list(pids)},
            )
            alive = {int(pid) for (pid,) in rows}
        if not alive:
            break
        await asyncio.sleep(0.1)
    return alive


def test_the_direct_share_leaves_a_pool_of_one_to_sqlalchemy() -> None:
    assert [direct_share(n) for n in (1, 2, 3, 4, 20)] == [0, 1, 1, 2, 10]


async def test_a_pool_of_one_has_no_direct_connections(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    try:
        assert direct_pool_of(engine) is None
        assert engine.sync_engine.pool.size() == 1  # type: ignore[attr-defined]
        assert await PID.fetchval(engine) > 0  # through SQLAlchemy's pool instead
    finally:
        await engine.dispose()


async def test_never_more_connections_than_the_pool_size(engine: AsyncEngine) -> None:
    assert engine.sync_engine.pool.size() == 2  # type: ignore[attr-defined]
    assert _pool(engine).size == 2

    async def through_sqlalchemy() -> int:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid() FROM pg_sleep(0.02)"))
            return int(pid)

    direct = asyncio.gather(*(SLEEPY_PID.fetchval(engine, seconds=0.02) for _ in range(20)))
    orm = asyncio.gather(*(through_sqlalchemy() for _ in range(10)))
    direct_pids, orm_pids = set(await direct), set(await orm)
    assert len(direct_pids) == 2, direct_pids  # 20 statements took turns on two
    assert len(orm_pids) <= 2
    assert not direct_pids & orm_pids
    assert _pool(engine).opened == 2


async def test_an_error_the_server_answered_keeps_the_connection(engine: AsyncEngine) -> None:
    pool = _pool(engine)
    first = await PID.fetchval(engine)
    with pytest.raises(asyncpg.DivisionByZeroError):
        await RawStatement("SELECT 1 / 0", ()).fetchval(engine)
    assert await PID.fetchval(engine) == first  # the same connection, lent again
    assert pool.opened == 1


async def test_a_cancelled_statement_is_never_lent_again(engine: AsyncEngine) -> None:
    pool = _pool(engine)
    both = set(await asyncio.gather(*(SLEEPY_PID.fetchval(engine, seconds=0.05) for _ in range(2))))
    slow = asyncio.create_task(SLEEPY_PID.fetchval(engine, seconds=30))
    await asyncio.sleep(0.2)
    async with engine.connect() as conn:
        sleeping = await conn.scalar(
            text(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE '%pg_sleep($1)%' AND pid <> pg_backend_pid()"
            )
        )
    assert sleeping in both
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # Cut off mid-protocol, that connection is closed at once, never lent again; the other
    # serves every later statement.
    assert pool.opened == 1
    pids = {await SLEEPY_PID.fetchval(engine, seconds=0) for _ in range(5)}
    assert pids == both - {sleeping}


async def test_a_killed_backend_answers_unavailable_once_then_heals(
    engine: AsyncEngine, postgres_url: str
) -> None:
    pool = _pool(engine)
    pids = set(await asyncio.gather(*(SLEEPY_PID.fetchval(engine, seconds=0.05) for _ in range(2))))
    assert len(pids) == 2
    admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", list(pids)
        )
    finally:
        await admin.close()
    outcomes: list[str] = []
    for _ in range(3):
        try:
            outcomes.append(str(await PID.fetchval(engine)))
        except DatabaseUnavailable:
            outcomes.append("503")
    # A connection whose end the driver has not noticed yet may answer 503 once; every idle
    # connection older than that failure goes with it, so the next statements work.
    assert outcomes.count("503") <= 1, outcomes
    assert outcomes[-1] != "503" and int(outcomes[-1]) not in pids
    assert pool.opened <= 2


async def test_an_exhausted_pool_answers_unavailable_after_its_timeout(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = _pool(engine)
    monkeypatch.setattr(pool, "timeout", 0.2)
    held = [await pool.acquire(), await pool.acquire()]
    with pytest.raises(DatabaseUnavailable) as refused:
        await PID.fetchval(engine)
    assert db.is_unavailable(refused.value)
    waiting = asyncio.create_task(PID.fetchval(engine))
    await asyncio.sleep(0.05)
    handed = held.pop()
    pool.release(handed)  # handed straight to the waiting statement
    assert await waiting == handed.get_server_pid()
    pool.release(held.pop())
    assert pool.opened == 2


async def test_dispose_closes_the_idle_connections(engine: AsyncEngine) -> None:
    pids = set(await asyncio.gather(*(SLEEPY_PID.fetchval(engine, seconds=0.05) for _ in range(2))))
    await engine.dispose()
    assert _pool(engine).opened == 0
    assert not await _alive(engine, pids)  # SQLAlchemy reopens its own to ask
    assert await PID.fetchval(engine) not in pids  # and the engine still works


async def test_json_comes_back_as_sqlalchemy_decodes_it(engine: AsyncEngine) -> None:
    literal = '{"a": [1, 2.5, "x", null, true], "big": 1e400, "n": 123456789012345678901234567890}'
    sql = f"SELECT '{literal}'::jsonb, '{literal}'::json"
    direct = await RawStatement(sql, ()).one_or_none(engine)
    async with engine.connect() as conn:
        through_sqlalchemy = (await conn.execute(text(sql))).one()
    assert direct is not None
    assert tuple(direct) == tuple(through_sqlalchemy)
    stored = RawStatement("SELECT $1::jsonb ->> 'k'", ("doc",))
    assert await stored.fetchval(engine, doc='{"k": "v"}') == "v"  # parameters arrive as text


async def test_old_connections_are_replaced(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await PID.fetchval(engine)
    assert await PID.fetchval(engine) == first  # young: lent again
    monkeypatch.setattr(direct_pool, "RECYCLE_SECONDS", 0.5)
    await asyncio.sleep(0.6)
    second = await PID.fetchval(engine)
    assert second != first
    assert not await _alive(engine, {first})  # the old one was closed, not left open
    assert _pool(engine).opened == 1
    assert await PID.fetchval(engine) == second  # the fresh one is young: lent again


async def test_the_pool_gauge_counts_both_halves(engine: AsyncEngine) -> None:
    await asyncio.gather(*(SLEEPY_PID.fetchval(engine, seconds=0.05) for _ in range(2)))
    state = State({"ctx": SimpleNamespace(sessions=session_factory(engine))})
    held = await _pool(engine).acquire()
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            metrics._sample_pool(state)
            in_use = metrics.DB_POOL.labels("in_use")._value.get()
            idle = metrics.DB_POOL.labels("idle")._value.get()
    finally:
        _pool(engine).release(held)
    assert in_use == 2  # one of SQLAlchemy's, one direct
    assert in_use + idle <= 4  # never more than MLA_DB_POOL_SIZE
    assert idle >= 1  # the other direct connection


async def test_a_connection_handed_to_a_waiter_that_gave_up_goes_to_the_next(
    engine: AsyncEngine,
) -> None:
    pool = _pool(engine)
    held = [await pool.acquire(), await pool.acquire()]
    first, second = (asyncio.create_task(pool.acquire()) for _ in range(2))
    await asyncio.sleep(0.01)  # both wait
    handed = held.pop()
    pool.release(handed)  # to the first waiter...
    first.cancel()  # ...which gives up before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 5) is handed
    pool.release(handed)
    # The same when a place to open a connection is what was handed over.
    third, fourth = (asyncio.create_task(pool.acquire()) for _ in range(2))
    await asyncio.sleep(0.01)
    assert await third is handed  # the idle one
    await asyncio.sleep(0.01)  # the fourth waits
    fifth = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    pool.discard(held.pop(), server_gone=False)  # frees a place: the fourth is woken...
    fourth.cancel()  # ...and gives up; the place passes to the fifth
    with pytest.raises(asyncio.CancelledError):
        await fourth
    opened = await asyncio.wait_for(fifth, 5)
    assert opened is not handed and not opened.is_closed()
    pool.release(handed)
    pool.release(opened)
    assert pool.opened == 2
