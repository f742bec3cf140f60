"""Storing an accepted move on PostgreSQL in ONE statement and one round trip.

An append writes four tables: it moves the request's head (only if the head is still the
one the statement was signed on) and inserts the statement, its log entry and its
events. Through the ORM in a BEGIN … COMMIT transaction that was seven round trips and
most of an append's CPU (issue 13). Here the four writes are one data-modifying CTE,
which PostgreSQL runs atomically as its own transaction:

    WITH moved AS (UPDATE requests SET … WHERE id = $1 AND head_seq = $2 RETURNING id),
         s AS (INSERT INTO statements (…) SELECT … FROM moved),
         l AS (INSERT INTO log_entries (…) SELECT … FROM moved),
         e AS (INSERT INTO events (…) SELECT v.* FROM moved, (VALUES (…), (…)) AS v)
    SELECT count(*) FROM moved

If another statement moved the head first, `moved` is empty and nothing is inserted; the
unique (request_id, seq) and digest constraints still stand behind it. Statements are
compiled once per shape (which head columns change, how many events) and run on the
driver directly, like the hot reads (raw_reads.py). SQLite keeps the ORM transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .event_tables import EventRow
from .log_tables import LogEntryRow
from .move_rows import MoveRows, written_columns
from .raw_reads import RawStatement
from .sqlite_moves import writer_of
from .tables import RequestRow, StatementRow

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
_REQUESTS: Table = RequestRow.__table__  # type: ignore[assignment]
_STATEMENTS: Table = StatementRow.__table__  # type: ignore[assignment]
_LOG_ENTRIES: Table = LogEntryRow.__table__  # type: ignore[assignment]
_EVENTS: Table = EventRow.__table__  # type: ignore[assignment]


class _Params:
    """Numbers positional parameters ($1, $2 …) with an explicit type: an INSERT … SELECT
    gives PostgreSQL no column to infer a parameter's type from."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, name: str, column: Column[Any]) -> str:
        self.names.append(name)
        return f"${len(self.names)}::{column.type.compile(dialect=_PG)}"


@functools.cache
def _statement(head_keys: tuple[str, ...], events: int) -> RawStatement:
    params = _Params()
    rid = params.add("request_id", _REQUESTS.c.id)
    expected = params.add("expected_seq", _REQUESTS.c.head_seq)
    sets = ", ".join(f"{k} = {params.add(f'head.{k}', _REQUESTS.c[k])}" for k in head_keys)
    parts = [
        f"moved AS (UPDATE requests SET {sets} WHERE id = {rid} AND head_seq = {expected} "
        "RETURNING id)"
    ]
    for alias, table, prefix in (("s", _STATEMENTS, "statement"), ("l", _LOG_ENTRIES, "log")):
        cols = written_columns(table)
        values = ", ".join(params.add(f"{prefix}.{c.key}", c) for c in cols)
        names = ", ".join(c.key for c in cols)
        parts.append(f"{alias} AS (INSERT INTO {table.name} ({names}) SELECT {values} FROM moved)")
    if events:
        cols = written_columns(_EVENTS)
        rows = ", ".join(
            "(" + ", ".join(params.add(f"events.{n}.{c.key}", c) for c in cols) + ")"
            for n in range(events)
        )
        names = ", ".join(c.key for c in cols)
        parts.append(
            f"e AS (INSERT INTO events ({names}) SELECT v.* FROM moved, (VALUES {rows}) "
            f"AS v ({names}))"
        )
    sql = "WITH " + ",\n".join(parts) + "\nSELECT count(*) FROM moved"
    return RawStatement(sql, tuple(params.names))


def _flatten(rows: MoveRows) -> dict[str, Any]:
    values: dict[str, Any] = {"request_id": rows.request_id, "expected_seq": rows.expected_seq}
    values.update((f"head.{k}", v) for k, v in rows.head.items())
    values.update((f"statement.{k}", v) for k, v in rows.statement.items())
    values.update((f"log.{k}", v) for k, v in rows.log_entry.items())
    for n, event in enumerate(rows.events):
        values.update((f"events.{n}.{k}", v) for k, v in event.items())
    return values


async def store(engine: AsyncEngine, rows: MoveRows) -> bool:
    """Write the move if the head is still `expected_seq`; False if another moved it first
    (or stored this very statement, which a unique constraint refuses)."""
    statement = _statement(tuple(sorted(rows.head)), len(rows.events))
    try:
        moved = await statement.fetchval(engine, **_flatten(rows))
    except asyncpg.UniqueViolationError:
        return False
    return bool(moved == 1)


#: Stores a move; False if another statement moved the head first.
Store = Callable[[MoveRows], Awaitable[bool]]


def direct_store(sessions: async_sessionmaker[AsyncSession]) -> Store | None:
    """How to store a move at once here: the CTE on PostgreSQL, the writer thread on an
    SQLite file; None elsewhere (the caller keeps its ORM transaction)."""
    engine = RawStatement.engine_of(sessions)
    if engine is not None:
        return functools.partial(store, engine)
    writer = writer_of(sessions)
    return None if writer is None else writer.store
