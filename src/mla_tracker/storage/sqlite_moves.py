"""Storing an accepted move on an SQLite file in one thread hand-off (issue 13).

The same writes as move_writes.py does on PostgreSQL (move the head only if it is still
the one the statement was signed on; insert the statement, its log entry and its events),
as one `BEGIN IMMEDIATE … COMMIT` on a writer thread with its own connection, instead of
a dozen aiosqlite hand-offs. SQLite's single writer lock and the head condition keep the
chain from forking; the unique constraints stand behind them. SQLAlchemy writes the SQL
and converts the values, as for the reader threads (sqlite_reads.py). The log
integrator's batches run on the same thread (`run_batch`), so they queue behind the moves
instead of waiting for their write lock.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db import SQLITE_PRAGMAS
from .event_tables import EventRow
from .log_batches import Done, SqliteBatch, Steps, drive_now
from .log_tables import LogEntryRow
from .move_rows import MoveRows, written_columns
from .repositories import advance_head_statement
from .sqlite_reads import PerFile, SqliteRead, on_thread
from .tables import StatementRow


def _insert(table: Table) -> SqliteRead:
    columns = written_columns(table)
    return SqliteRead(insert(table).values({c.key: bindparam(c.key) for c in columns}))


_INSERT_STATEMENT = _insert(cast(Table, StatementRow.__table__))
_INSERT_LOG_ENTRY = _insert(cast(Table, LogEntryRow.__table__))
_INSERT_EVENT = _insert(cast(Table, EventRow.__table__))


@functools.cache
def _advance(columns: tuple[str, ...]) -> SqliteRead:
    return SqliteRead(advance_head_statement(columns))


class SqliteWriter:
    """One writer thread with its own connection to one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mla-sqlite-write")
        self.conn: sqlite3.Connection | None = None
        self.lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self.conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
            self.conn = conn
        return self.conn

    def _store(
        self,
        head: tuple[SqliteRead, list[Any]],
        inserts: list[tuple[SqliteRead, list[Any]]],
    ) -> bool:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            moved = conn.execute(head[0].sql, head[1]).rowcount == 1
            if moved:
                for statement, args in inserts:
                    conn.execute(statement.sql, args)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            return False  # the same statement stored meanwhile: its head moved
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if moved else "ROLLBACK")
        return moved

    async def store(self, rows: MoveRows) -> bool:
        """Write the move if the head is still `expected_seq`; False if it moved."""
        head = _advance(tuple(sorted(rows.head)))
        head_args = head.arguments(
            {
                "request_id": rows.request_id,
                "expected_seq": rows.expected_seq,
                **{f"v_{k}": v for k, v in rows.head.items()},
            }
        )
        inserts = [
            (_INSERT_STATEMENT, _INSERT_STATEMENT.arguments(dict(rows.statement))),
            (_INSERT_LOG_ENTRY, _INSERT_LOG_ENTRY.arguments(dict(rows.log_entry))),
            *((_INSERT_EVENT, _INSERT_EVENT.arguments(dict(e))) for e in rows.events),
        ]
        moved: bool = await on_thread(self.pool, self._store, (head, head_args), inserts)
        return moved

    def _run_batch(self, steps: Steps) -> Done | None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = drive_now(steps, SqliteBatch(conn))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if done is not None else "ROLLBACK")
        return done

    async def run_batch(self, steps: Steps) -> Done | None:
        """One log batch (workflows/log.py) in one write transaction on this thread: it
        queues behind the appends' moves instead of waiting for their write lock."""
        done: Done | None = await on_thread(self.pool, self._run_batch, steps)
        return done

    def close(self) -> None:
        """Stop the thread and close its connection."""
        self.pool.shutdown(wait=True)
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


_WRITERS = PerFile(SqliteWriter)


def writer_of(sessions: async_sessionmaker[AsyncSession]) -> SqliteWriter | None:
    """The move writer of the SQLite file behind `sessions`; None for others and :memory:."""
    return _WRITERS.of(sessions)
