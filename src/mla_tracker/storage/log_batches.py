"""One log integration batch's statements: on PostgreSQL's driver directly, on an SQLite
file's writer thread, or in an ORM transaction (an in-memory SQLite database, and
PostgreSQL with a pool of one).

The integrator (workflows/log.py) decides what to write; a `LogBatch` only reads and
writes it, inside one transaction that holds the integrator's lock. Under load the
integrator runs a batch every 10 ms on PostgreSQL, and through SQLAlchemy's session a
batch cost about 1.5 ms of the event loop's CPU (issue 13). On the driver it is four
statements and the writes are one:

    WITH a AS (UPDATE log_entries … FROM unnest($1, $2)),   -- the leaves' indices
         n AS (INSERT INTO log_nodes … SELECT * FROM unnest($3, $4, $5))
    INSERT INTO log_checkpoints …                            -- the signed checkpoint
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .db import direct_pool_of, unavailable
from .log_tables import LogCheckpointRow, LogEntryRow, LogNodeRow
from .raw_reads import RawRead, give_back, gone
from .sqlite_reads import SqliteRead

Coord = tuple[int, int]
#: A queued entry as a batch reads it: (id, leaf hash, digest).
Queued = tuple[int, bytes, str]
#: What a batch asks for: a LogBatch method's name and its arguments.
Step = tuple[Any, ...]
#: A finished batch: (digest -> index, (new size, the new edge's nodes)).
Done = tuple[dict[str, int], tuple[int, dict[Coord, bytes]]]
#: One batch, sans I/O (workflows/log.py): yields Steps, is sent their answers.
Steps = Generator[Step, Any, Done | None]

#: The advisory lock key of the integrator ("mla-log" in ASCII).
LOCK_KEY = 0x6D6C612D6C6F67


class LogBatch(Protocol):
    """The statements of one integration batch, inside one transaction."""

    async def lock(self) -> bool:
        """Take the integrator's lock for this transaction; False if another holds it."""
        ...

    async def pending(self, limit: int) -> tuple[list[Queued], int]:
        """Up to `limit` queued entries in queue order, and the tree's size."""
        ...

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        """The stored perfect-subtree hashes at these coordinates."""
        ...

    async def write(
        self,
        indices: Sequence[tuple[int, int]],
        nodes: Sequence[tuple[int, int, bytes]],
        checkpoint: dict[str, Any],
    ) -> None:
        """Give entries (id, index) their indices, store new nodes and the checkpoint."""
        ...


async def drive(steps: Steps, batch: LogBatch) -> Done | None:
    """Run a batch's steps against `batch`, awaiting each answer."""
    answer: Any = None
    try:
        while True:
            name, *args = steps.send(answer)
            answer = await getattr(batch, name)(*args)
    except StopIteration as finished:
        done: Done | None = finished.value
        return done


# --------------------------------------------------------------------------- ORM

_ENTRIES = cast(Table, LogEntryRow.__table__)
_NODES = cast(Table, LogNodeRow.__table__)
_TREE_TOP = select(func.max(_ENTRIES.c.leaf_index))
# The queued entries and the tree's size in one round trip (the subquery runs once).
_PENDING = (
    select(
        _ENTRIES.c.id,
        _ENTRIES.c.leaf_hash,
        _ENTRIES.c.digest,
        _TREE_TOP.scalar_subquery().label("top"),
    )
    .where(_ENTRIES.c.leaf_index.is_(None))
    .order_by(_ENTRIES.c.id)
    .limit(bindparam("batch"))
)
_NODES_AT = select(_NODES.c.level, _NODES.c.index, _NODES.c.hash).where(
    _NODES.c.level.in_(bindparam("levels", expanding=True)),
    _NODES.c.index.in_(bindparam("indices", expanding=True)),
)
_ASSIGN = (
    update(_ENTRIES)
    .where(_ENTRIES.c.id == bindparam("entry_id"))
    .values(leaf_index=bindparam("leaf_index"))
)
_ADD_NODES = insert(_NODES)
_ADD_CHECKPOINT = insert(cast(Table, LogCheckpointRow.__table__))
_LOCK = text("SELECT pg_try_advisory_xact_lock(:k)")


def _size(top: int | None) -> int:
    return 0 if top is None else int(top) + 1


def _index_rows(indices: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    return [{"entry_id": i, "leaf_index": index} for i, index in indices]


def _node_rows(nodes: Sequence[tuple[int, int, bytes]]) -> list[dict[str, Any]]:
    return [{"level": lv, "index": ix, "hash": h} for lv, ix, h in nodes]


async def load_nodes(session: AsyncSession, coords: Iterable[Coord]) -> dict[Coord, bytes]:
    """The stored perfect-subtree hashes at these coordinates, in one query."""
    wanted = set(coords)
    if not wanted:
        return {}
    levels = sorted({level for level, _ in wanted})
    indices = sorted({index for _, index in wanted})
    rows = await session.execute(_NODES_AT, {"levels": levels, "indices": indices})
    return {(lv, ix): h for lv, ix, h in rows if (lv, ix) in wanted}


class SessionBatch:
    """A batch in an ORM write transaction (SQLite's BEGIN IMMEDIATE is its lock)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> bool:
        """The advisory lock on PostgreSQL; on SQLite the write transaction already is."""
        if (await self.session.connection()).dialect.name != "postgresql":
            return True
        return bool(await self.session.scalar(_LOCK, {"k": LOCK_KEY}))

    async def pending(self, limit: int) -> tuple[list[Queued], int]:
        """Up to `limit` queued entries in queue order, and the tree's size."""
        rows = (await self.session.execute(_PENDING, {"batch": limit})).all()
        if not rows:
            return [], 0
        return [(i, leaf, digest) for i, leaf, digest, _ in rows], _size(rows[0].top)

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        """The stored perfect-subtree hashes at these coordinates."""
        return await load_nodes(self.session, coords)

    async def write(
        self,
        indices: Sequence[tuple[int, int]],
        nodes: Sequence[tuple[int, int, bytes]],
        checkpoint: dict[str, Any],
    ) -> None:
        """Three statements (executemany for the indices and the nodes)."""
        await self.session.execute(_ASSIGN, _index_rows(indices))
        await self.session.execute(_ADD_NODES, _node_rows(nodes))
        await self.session.execute(_ADD_CHECKPOINT, checkpoint)


# --------------------------------------------------------------------------- driver

# The same statements as the ORM path's, compiled once for asyncpg.
_PG_LOCK = RawRead(_LOCK)
_PG_PENDING = RawRead(_PENDING)
_PG_NODES = (
    'SELECT n.level, n."index", n.hash FROM log_nodes n '
    'JOIN unnest($1::integer[], $2::bigint[]) AS w(level, "index") '
    'ON n.level = w.level AND n."index" = w."index"'
)
_PG_WRITE = (
    "WITH a AS (UPDATE log_entries SET leaf_index = v.leaf_index "
    "FROM unnest($1::bigint[], $2::bigint[]) AS v(id, leaf_index) "
    "WHERE log_entries.id = v.id), "
    'n AS (INSERT INTO log_nodes (level, "index", hash) '
    "SELECT * FROM unnest($3::integer[], $4::bigint[], $5::bytea[])) "
    "INSERT INTO log_checkpoints (size, root_hash, note, created_at) "
    "VALUES ($6, $7, $8, $9)"
)


class DriverBatch:
    """A batch on one asyncpg connection, in its transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def lock(self) -> bool:
        """The transaction-scoped advisory lock (released at COMMIT or ROLLBACK)."""
        return bool(await self.conn.fetchval(_PG_LOCK.sql, LOCK_KEY))

    async def pending(self, limit: int) -> tuple[list[Queued], int]:
        """Up to `limit` queued entries in queue order, and the tree's size."""
        rows = await self.conn.fetch(_PG_PENDING.sql, limit)
        if not rows:
            return [], 0
        return [(r[0], bytes(r[1]), r[2]) for r in rows], _size(rows[0][3])

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        """The stored perfect-subtree hashes at these coordinates."""
        wanted = sorted(set(coords))
        if not wanted:
            return {}
        rows = await self.conn.fetch(_PG_NODES, [lv for lv, _ in wanted], [ix for _, ix in wanted])
        return {(r[0], r[1]): bytes(r[2]) for r in rows}

    async def write(
        self,
        indices: Sequence[tuple[int, int]],
        nodes: Sequence[tuple[int, int, bytes]],
        checkpoint: dict[str, Any],
    ) -> None:
        """One statement: the indices, the nodes and the checkpoint."""
        created_at: datetime = checkpoint["created_at"]
        await self.conn.execute(
            _PG_WRITE,
            [i for i, _ in indices],
            [index for _, index in indices],
            [lv for lv, _, _ in nodes],
            [ix for _, ix, _ in nodes],
            [h for _, _, h in nodes],
            checkpoint["size"],
            checkpoint["root_hash"],
            checkpoint["note"],
            created_at,
        )


# --------------------------------------------------------------------------- SQLite file

# The same statements as the ORM path's, compiled once for sqlite3 (with SQLAlchemy's
# conversions where a column needs one).
_SQLITE_PENDING = SqliteRead(_PENDING)
_SQLITE_NODE = SqliteRead(
    select(_NODES.c.hash).where(
        _NODES.c.level == bindparam("level"), _NODES.c.index == bindparam("index")
    )
)
_SQLITE_ASSIGN = SqliteRead(_ASSIGN)
_SQLITE_ADD_NODE = SqliteRead(
    insert(_NODES).values({k: bindparam(k) for k in ("level", "index", "hash")})
)
_SQLITE_CHECKPOINT = SqliteRead(
    insert(cast(Table, LogCheckpointRow.__table__)).values(
        {k: bindparam(k) for k in ("size", "root_hash", "note", "created_at")}
    )
)


class SqliteBatch:
    """A batch on the SQLite writer thread's connection, inside its BEGIN IMMEDIATE
    (sqlite_moves.SqliteWriter.run_batch): synchronous, one hand-off for all of it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def lock(self) -> bool:
        """The write transaction already is the lock."""
        return True

    def pending(self, limit: int) -> tuple[list[Queued], int]:
        """Up to `limit` queued entries in queue order, and the tree's size."""
        rows = self.conn.execute(
            _SQLITE_PENDING.sql, _SQLITE_PENDING.arguments({"batch": limit})
        ).fetchall()
        if not rows:
            return [], 0
        return [(r[0], bytes(r[1]), r[2]) for r in rows], _size(rows[0][3])

    def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        """The stored perfect-subtree hashes at these coordinates (a few dozen at most)."""
        found: dict[Coord, bytes] = {}
        for coord in set(coords):
            level, index = coord
            args = _SQLITE_NODE.arguments({"level": level, "index": index})
            row = self.conn.execute(_SQLITE_NODE.sql, args).fetchone()
            if row is not None:
                found[coord] = bytes(row[0])
        return found

    def write(
        self,
        indices: Sequence[tuple[int, int]],
        nodes: Sequence[tuple[int, int, bytes]],
        checkpoint: dict[str, Any],
    ) -> None:
        """The indices, the nodes and the checkpoint."""
        for statement, rows in (
            (_SQLITE_ASSIGN, _index_rows(indices)),
            (_SQLITE_ADD_NODE, _node_rows(nodes)),
        ):
            self.conn.executemany(statement.sql, [statement.arguments(r) for r in rows])
        self.conn.execute(_SQLITE_CHECKPOINT.sql, _SQLITE_CHECKPOINT.arguments(checkpoint))


def drive_now(steps: Steps, batch: SqliteBatch) -> Done | None:
    """Run a batch's steps against a synchronous batch (on the SQLite writer thread)."""
    answer: Any = None
    try:
        while True:
            name, *args = steps.send(answer)
            answer = getattr(batch, name)(*args)
    except StopIteration as finished:
        done: Done | None = finished.value
        return done


# --------------------------------------------------------------------------- driver transaction


@contextlib.asynccontextmanager
async def driver_transaction(engine: AsyncEngine) -> AsyncIterator[DriverBatch]:
    """A batch on a connection of the engine's direct pool, in a transaction.

    Requires a direct pool (direct_pool_of(engine)). As with the hot statements
    (raw_reads.py), the connection is lent again only after an error the server answered;
    a dead server is DatabaseUnavailable."""
    pool = direct_pool_of(engine)
    if pool is None:
        raise RuntimeError("no direct pool here: use SessionBatch")
    conn = await pool.acquire()
    try:
        async with conn.transaction():
            yield DriverBatch(conn)
    except BaseException as exc:
        give_back(pool, conn, exc)
        if gone(exc):
            raise unavailable(exc) from exc
        raise
    give_back(pool, conn, None)
