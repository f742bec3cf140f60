"""Engines and transactions for SQLite (embedded default) and PostgreSQL (asyncpg).

SQLite: WAL, busy timeout, foreign keys, and `BEGIN IMMEDIATE` for write transactions
(stack.md §2: a plain BEGIN loses read-modify-write updates without an error).

A database that is away (refused connections, killed backends, a locked SQLite file) is a
`DatabaseUnavailable` (503 with Retry-After), never a crash. PostgreSQL connections are not
pinged at checkout (a round trip per transaction on the hot path): a request that finds
its connection dead answers 503, and SQLAlchemy then discards every pooled connection
older than that failure, so the pool heals by itself after the database comes back.

PostgreSQL read transactions run in AUTOCOMMIT: under READ COMMITTED (PostgreSQL's
default) each statement of a transaction sees its own snapshot anyway, so BEGIN and
COMMIT would be two round trips that buy nothing.
"""

from __future__ import annotations

import contextvars
import errno
import socket
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.util import await_only

from ..errors import MlaError
from .direct_pool import DirectPool, PoolExhausted, close_all, direct_share, install_json_codecs

_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=False)


class DatabaseUnavailable(MlaError):
    """The database cannot be reached now; the caller should try again shortly."""

    status: ClassVar[int] = 503
    problem: ClassVar[str] = "database-unavailable"
    title: ClassVar[str] = "Database unavailable"
    retry_after: ClassVar[int] = 5

    def headers(self) -> dict[str, str]:
        """Tell clients when to try again."""
        return {"Retry-After": str(self.retry_after)}


_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)
#: SQLSTATE classes of a server going away: 08 connection exception, 57P operator
#: intervention (admin shutdown, cannot connect now), 53300 too many connections.
UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database is away (worth a retry), not a bug or bad data."""
    if isinstance(exc, DatabaseUnavailable | sa_exc.TimeoutError | PoolExhausted):
        return True  # (the last two: every pooled connection busy past the pool timeout)
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _NETWORK_ERRNOS
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        state = str(getattr(exc.orig, "sqlstate", "") or "")
        if state.startswith(UNAVAILABLE_SQLSTATES):
            return True
        # SQLite past its busy timeout: another process holds the write lock.
        return isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc)
    return False


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


#: Connections each process keeps open to PostgreSQL (MLA_DB_POOL_SIZE), and no more.
DEFAULT_POOL_SIZE = 20
#: Seconds a task waits for a pooled connection before answering 503.
POOL_TIMEOUT = 30.0


def create_engine(
    url: str, *, pool: bool = True, pool_size: int = DEFAULT_POOL_SIZE
) -> AsyncEngine:
    """An async engine with the per-dialect settings this project relies on."""
    parsed = make_url(url)
    # Error messages must not carry SQL parameters: they can be token hashes or bodies,
    # and an unexpected error's traceback is logged.
    kwargs: dict[str, Any] = {"hide_parameters": True}
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
        # No overflow: a connection opened and closed per request costs more than the
        # request itself (TCP, an SSL attempt, authentication), and overflow connections
        # are closed on return whenever the pool is full, so a load above the pool size
        # churned them (issue 13). Beyond the pool, tasks wait their turn instead; no task
        # ever holds two connections at once (tests/integration/test_pool.py), so waiting
        # cannot deadlock.
        direct = direct_share(pool_size)
        kwargs.update(
            pool_size=pool_size - direct,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT,
            pool_recycle=1800,
        )
        engine = create_async_engine(url, **kwargs)
        if direct:
            _install_direct_pool(engine, direct)
        return engine
    return create_async_engine(url, **kwargs)


_DIRECT: weakref.WeakKeyDictionary[AsyncEngine, DirectPool] = weakref.WeakKeyDictionary()


def direct_pool_of(engine: AsyncEngine) -> DirectPool | None:
    """The asyncpg connections for `engine`'s hot statements (direct_pool.py), if it has any."""
    return _DIRECT.get(engine)


def _install_direct_pool(engine: AsyncEngine, size: int) -> None:
    args, params = engine.dialect.create_connect_args(engine.url)
    # SQLAlchemy's own prepared-statement cache setting; asyncpg's is statement_cache_size.
    cache = params.pop("prepared_statement_cache_size", None)
    if cache is not None:
        params["statement_cache_size"] = cache
    params.pop("prepared_statement_name_func", None)

    async def connect() -> Any:
        conn = await asyncpg.connect(*args, **params)
        try:
            await install_json_codecs(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    pool = DirectPool(connect, size, POOL_TIMEOUT)
    _DIRECT[engine] = pool

    @event.listens_for(engine.sync_engine, "engine_disposed")
    def _on_dispose(_engine: Any) -> None:
        # AsyncEngine.dispose() runs this in a greenlet, so the close can be awaited.
        await_only(close_all(pool.dispose()))


#: Every SQLite connection the hub opens for writing runs these first.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def engine_behind(
    sessions: async_sessionmaker[AsyncSession], dialect: str | None = None
) -> AsyncEngine | None:
    """The engine `sessions` are bound to (of that dialect, when one is named), or None."""
    bind = sessions.kw.get("bind")
    if isinstance(bind, AsyncEngine) and (dialect is None or bind.dialect.name == dialect):
        return bind
    return None


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


_READERS: weakref.WeakKeyDictionary[
    async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession] | None
] = weakref.WeakKeyDictionary()


def _autocommit_reader(
    sessions: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession] | None:
    """Sessions for reads on a PostgreSQL engine, in AUTOCOMMIT (None for SQLite).

    Bound once to an AUTOCOMMIT view of the same engine and pool: setting the isolation
    level per transaction, and the session's BEGIN/COMMIT bookkeeping, cost as much CPU as
    the read itself (measured in docs/operations.md).
    """
    if sessions in _READERS:
        return _READERS[sessions]
    bind = engine_behind(sessions, "postgresql")
    reader = None
    if bind is not None:
        reader = async_sessionmaker(
            bind.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
    _READERS[sessions] = reader
    return reader


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession], *, write: bool
) -> AsyncIterator[AsyncSession]:
    """One transaction; `write=True` takes SQLite's write lock at BEGIN.

    Raises DatabaseUnavailable when the database is away, whichever statement found out.
    """
    token = _write_intent.set(write)
    reader = None if write else _autocommit_reader(sessions)
    try:
        if reader is not None:
            async with reader() as session:
                yield session
        else:
            async with sessions() as session, session.begin():
                yield session
    except Exception as exc:
        if isinstance(exc, MlaError) or not is_unavailable(exc):
            raise
        raise unavailable(exc) from exc
    finally:
        _write_intent.reset(token)


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The error to raise when `exc` shows the database is away, naming only its cause."""
    return DatabaseUnavailable(f"the database is unavailable ({_cause(exc)})")


def _cause(exc: BaseException) -> str:
    """A short, secret-free name for what went wrong (no URL, no statement, no parameters)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        inner = exc.orig.__cause__ or exc.orig
        return inner.__class__.__name__
    return exc.__class__.__name__
