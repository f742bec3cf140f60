"""Engines and transactions for SQLite (embedded default) and PostgreSQL (asyncpg).

SQLite: WAL, busy timeout, foreign keys, and `BEGIN IMMEDIATE` for write transactions
(stack.md §2: a plain BEGIN loses read-modify-write updates without an error).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool, StaticPool

_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=False)


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool: bool = True) -> AsyncEngine:
    """An async engine with the per-dialect settings this project relies on."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, **kwargs)
        _install_sqlite_hooks(engine)
        return engine
    if not pool:
        kwargs["poolclass"] = NullPool
    else:
        # No pre-ping: it costs a round trip per checkout; recycle stale connections instead.
        kwargs.update(pool_size=10, max_overflow=20, pool_recycle=1800)
    return create_async_engine(url, **kwargs)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession], *, write: bool
) -> AsyncIterator[AsyncSession]:
    """One transaction; `write=True` takes SQLite's write lock at BEGIN."""
    token = _write_intent.set(write)
    try:
        async with sessions() as session, session.begin():
            yield session
    finally:
        _write_intent.reset(token)
