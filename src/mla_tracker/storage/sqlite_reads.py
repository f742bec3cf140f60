"""The hottest reads on an SQLite file, in one thread hand-off each (issue 13).

Through SQLAlchemy and aiosqlite a read hands each call (BEGIN, cursor, execute, fetch,
close, COMMIT) to aiosqlite's thread and wakes the event loop for each answer: several
hand-offs per query, most of a read's cost on the embedded default. Here a whole query
runs in one call on a small pool of reader threads, each with its own connection to the
same file (WAL lets readers overlap each other and the one writer). SQLAlchemy still
writes the SQL and supplies its type conversions (UUIDs, timestamps, JSON), so rows come
back exactly as through the engine. Writes keep the ordinary path.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from .db import DatabaseUnavailable, engine_behind
from .types import UTCDateTime

_DIALECT = aiosqlite_dialect()
#: Reader threads per database: reads take microseconds, so two keep the loop fed.
THREADS = 2
_Processor = Callable[[Any], Any] | None


class SqliteRead:
    """One SELECT compiled for SQLite, with SQLAlchemy's conversions of its parameters
    and result columns."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
        self.sql = str(compiled)
        self.names: Sequence[str] = tuple(getattr(compiled, "positiontup", None) or ())
        # Parameters SQLAlchemy adds itself (SQLite's `OFFSET ?` after a LIMIT) keep their
        # compiled values.
        self.defaults = {name: compiled.binds[name].value for name in self.names}
        self.binds: dict[str, _Processor] = {
            name: compiled.binds[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
            for name in self.names
        }
        self.results: list[_Processor] = [
            _result_processor(entry[3]) for entry in getattr(compiled, "_result_columns", ())
        ]
        # Only the columns that need converting, by position: a page converts 51 rows.
        self.converting = [(i, convert) for i, convert in enumerate(self.results) if convert]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        """The positional parameters, converted as SQLAlchemy would."""
        out = []
        for name in self.names:
            value, convert = params.get(name, self.defaults[name]), self.binds[name]
            out.append(value if convert is None or value is None else convert(value))
        return out

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        """One result row, converted as SQLAlchemy would."""
        values = list(raw)
        for i, convert in self.converting:
            value = values[i]
            if value is not None:  # every processor gives None for None
                values[i] = convert(value)
        return tuple(values)


def utc_datetime(text: str) -> datetime:
    """A stored UTCDateTime as SQLAlchemy reads it from SQLite, in one C call.

    SQLite keeps `YYYY-MM-DD HH:MM:SS[.ffffff]`, naive UTC (types.UTCDateTime); SQLAlchemy's
    processor parses it and then the TypeDecorator's own step adds the zone: two Python
    calls per value, most of a page's conversion.
    """
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _result_processor(column_type: Any) -> _Processor:
    if isinstance(column_type, UTCDateTime):
        return utc_datetime
    processor: _Processor = column_type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)
    return processor


class SqliteReader:
    """Reader threads with one connection each to one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="mla-sqlite-read")
        self.local = threading.local()
        self.opened: list[sqlite3.Connection] = []
        self.lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA query_only=ON")  # a reader never writes, whatever it is given
            self.local.conn = conn
            with self.lock:
                self.opened.append(conn)
        return conn

    def _run(self, read: SqliteRead, args: list[Any], one: bool) -> Any:
        cursor = self._connection().execute(read.sql, args)
        try:
            if one:
                found = cursor.fetchone()
                return None if found is None else read.row(found)
            return [read.row(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    async def fetch(self, read: SqliteRead, params: dict[str, Any], *, one: bool) -> Any:
        """Run `read` on a reader thread; DatabaseUnavailable when the file is locked."""
        return await on_thread(self.pool, self._run, read, read.arguments(params), one)

    def close(self) -> None:
        """Stop the threads and close their connections."""
        self.pool.shutdown(wait=True)
        with self.lock:
            for conn in self.opened:
                conn.close()
            self.opened.clear()


class FileThreads(Protocol):
    """Threads with connections of their own to one SQLite file."""

    def close(self) -> None:
        """Stop the threads and close their connections."""


T = TypeVar("T", bound=FileThreads)


class PerFile(Generic[T]):
    """One `T` per SQLite file engine, made on first use and closed when the engine is
    disposed (the app's shutdown); an engine used again after that gets a new one."""

    def __init__(self, make: Callable[[str], T]) -> None:
        self.make = make
        self.found: weakref.WeakKeyDictionary[AsyncEngine, T | None] = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()

    def of(self, sessions: async_sessionmaker[AsyncSession]) -> T | None:
        """The `T` of the SQLite file behind `sessions`; None for others and :memory:."""
        bind = engine_behind(sessions, "sqlite")
        if bind is None:
            return None
        if bind in self.found:
            return self.found[bind]
        with self.lock:
            database = bind.url.database
            made = None if database in (None, "", ":memory:") else self.make(database)
            self.found[bind] = made
            if made is not None:

                def disposed(_engine: Any) -> None:
                    self.found.pop(bind, None)
                    made.close()

                event.listen(bind.sync_engine, "engine_disposed", disposed)
        return made


async def on_thread(pool: ThreadPoolExecutor, call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)` on one of `pool`'s threads; DatabaseUnavailable (503) for a file still
    locked past the busy timeout."""
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, call, *args)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseUnavailable("the database is unavailable (locked)") from exc
        raise


_READERS = PerFile(SqliteReader)


def reader_of(sessions: async_sessionmaker[AsyncSession]) -> SqliteReader | None:
    """The reader of the SQLite file behind `sessions`; None for PostgreSQL or :memory:."""
    return _READERS.of(sessions)
