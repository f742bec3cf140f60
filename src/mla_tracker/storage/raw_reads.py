"""The hottest statements, run on PostgreSQL's driver directly (docs/operations.md, issue 13).

SQLAlchemy's execution layer costs several times the query itself in CPU (0.5-1 ms per
call against 0.1 ms for asyncpg alone on the development machine), and the token lookup
runs on every request. A `RawRead` is a SQLAlchemy statement compiled once for asyncpg; a
`RawStatement` is SQL written for it (move_writes.py). asyncpg runs the statement on a
connection from the engine's direct pool (direct_pool.py), or from SQLAlchemy's pool when
the engine has none (a pool of one). SQLite and every other statement keep the
ordinary path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ClauseElement

from .db import (
    UNAVAILABLE_SQLSTATES,
    DatabaseUnavailable,
    direct_pool_of,
    engine_behind,
    is_unavailable,
    unavailable,
)
from .direct_pool import DirectPool
from .sqlite_reads import SqliteRead, SqliteReader, reader_of

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


def gone(exc: BaseException) -> bool:
    """Whether `exc` means the connection or the server is gone (asyncpg or the socket)."""
    if isinstance(
        exc,
        asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | asyncpg.PostgresConnectionError
        | OSError,
    ):
        return True
    state = str(getattr(exc, "sqlstate", "") or "")
    return isinstance(exc, asyncpg.PostgresError) and state.startswith(UNAVAILABLE_SQLSTATES)


def reusable_after(exc: BaseException) -> bool:
    """Whether a connection may be lent again after a statement failed with `exc`.

    Only after an error the server answered (a unique violation, say): whatever else
    stopped it (a dead server, a cancelled request) may have left the driver
    mid-protocol."""
    return isinstance(exc, asyncpg.PostgresError) and not gone(exc)


def give_back(pool: DirectPool, conn: Any, failed: BaseException | None) -> None:
    """Return a connection lent by `pool`: kept after success or an error the server
    answered (reusable_after), else closed (and the idle ones too if the server is gone)."""
    if failed is None or reusable_after(failed):
        pool.release(conn)
    else:
        pool.discard(conn, server_gone=gone(failed))


class RawStatement:
    """One SQL statement for asyncpg (positional $n parameters), with its parameter names."""

    def __init__(self, sql: str, names: Sequence[str]) -> None:
        self.sql = sql
        self.names = names

    @staticmethod
    def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine | None:
        """The PostgreSQL engine behind `sessions`, or None (SQLite: use the ORM path)."""
        return engine_behind(sessions, "postgresql")

    async def one_or_none(self, engine: AsyncEngine, **params: Any) -> Sequence[Any] | None:
        """The first row, or None; DatabaseUnavailable when the database is away."""
        row: Sequence[Any] | None = await self._run(engine, "fetchrow", params)
        return row

    async def all(self, engine: AsyncEngine, **params: Any) -> list[Sequence[Any]]:
        """Every row; DatabaseUnavailable when the database is away."""
        rows: list[Sequence[Any]] = await self._run(engine, "fetch", params)
        return rows

    async def fetchval(self, engine: AsyncEngine, **params: Any) -> Any:
        """The first column of the first row; DatabaseUnavailable when the database is away."""
        return await self._run(engine, "fetchval", params)

    async def _run(self, engine: AsyncEngine, method: str, params: dict[str, Any]) -> Any:
        args = [params[name] for name in self.names]
        direct = direct_pool_of(engine)
        try:
            if direct is not None:
                return await self._run_direct(direct, method, args)
            async with engine.connect() as conn:
                fairy: Any = await conn.get_raw_connection()
                try:
                    return await getattr(fairy.driver_connection, method)(self.sql, *args)
                except BaseException as exc:
                    # (Outside a greenlet, SQLAlchemy terminates it synchronously.)
                    if not reusable_after(exc):
                        fairy.invalidate(exc if isinstance(exc, Exception) else None)
                    raise
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if not (gone(exc) or is_unavailable(exc)):
                raise
            raise unavailable(exc) from exc

    async def _run_direct(self, pool: DirectPool, method: str, args: list[Any]) -> Any:
        conn = await pool.acquire()
        try:
            result = await getattr(conn, method)(self.sql, *args)
        except BaseException as exc:
            give_back(pool, conn, exc)
            raise
        give_back(pool, conn, None)
        return result


class RawRead(RawStatement):
    """One SQLAlchemy SELECT compiled once for asyncpg, with its bound parameters in order."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        # asyncpg's paramstyle is positional ($1, $2 …): the compiler says which is which.
        super().__init__(str(compiled), tuple(getattr(compiled, "positiontup", None) or ()))


class HotRead:
    """A SELECT run by the driver directly: asyncpg on PostgreSQL, a reader thread on an
    SQLite file (sqlite_reads.py). `available` says whether either applies (not for an
    in-memory SQLite database); callers keep their ordinary path for that case."""

    def __init__(self, statement: ClauseElement) -> None:
        self.postgres = RawRead(statement)
        self.sqlite = SqliteRead(statement)

    @staticmethod
    def available(sessions: async_sessionmaker[AsyncSession]) -> bool:
        """Whether the database behind `sessions` has a direct path."""
        return RawStatement.engine_of(sessions) is not None or reader_of(sessions) is not None

    async def one_or_none(
        self, sessions: async_sessionmaker[AsyncSession], **params: Any
    ) -> Sequence[Any] | None:
        """The first row, or None (requires `available`)."""
        engine = RawStatement.engine_of(sessions)
        if engine is not None:
            return await self.postgres.one_or_none(engine, **params)
        row: Sequence[Any] | None = await _sqlite(sessions).fetch(self.sqlite, params, one=True)
        return row

    async def all(
        self, sessions: async_sessionmaker[AsyncSession], **params: Any
    ) -> list[Sequence[Any]]:
        """Every row (requires `available`)."""
        engine = RawStatement.engine_of(sessions)
        if engine is not None:
            return await self.postgres.all(engine, **params)
        rows: list[Sequence[Any]] = await _sqlite(sessions).fetch(self.sqlite, params, one=False)
        return rows


def _sqlite(sessions: async_sessionmaker[AsyncSession]) -> SqliteReader:
    reader = reader_of(sessions)
    if reader is None:
        raise RuntimeError("no direct read path here: check HotRead.available first")
    return reader
