"""Baselines for the benchmarks: a bare litestar app over the same database, no ORM, no auth.

What it does is the least a service with the same endpoints must do, so the ratio
service / baseline measures what the service adds on top of HTTP + JSON + one query:

- `POST /rows`: insert the posted JSON as one row (the append's baseline);
- `GET /rows/{id}`: select one row by primary key (reading one request);
- `GET /rows?limit=50`: select the newest page of rows (listing requests);
- `POST /signed`: the floor of a signed append. Find the caller's key by the SHA-256 of
  its bearer token (one query), verify the DSSE envelope's Ed25519 signature over its
  PAE with it, and insert the posted JSON (a second query). No statement parsing, no
  chain, no state, no log, no events: what no authenticated, signed append can skip;
- `POST /keys`: register a bearer token's public key for `/signed` (set-up, untimed);
- `GET /health`: for the benchmark's readiness probe.

PostgreSQL through asyncpg (BENCH_PG_DSN), or SQLite through aiosqlite (BENCH_SQLITE_PATH)
with the service's own pragmas (WAL, synchronous=NORMAL), so a backend is compared with
itself.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, NotFoundException, ValidationException
from litestar.params import JSONBody

Row = dict[str, Any]


class Store(Protocol):
    """The three queries the baseline runs."""

    async def insert(self, body: str) -> int: ...
    async def add_key(self, token_hash: bytes, public_key: bytes) -> None: ...
    async def key_for(self, token_hash: bytes) -> bytes | None: ...
    async def one(self, row_id: int) -> Row | None: ...
    async def page(self, limit: int) -> list[Row]: ...
    async def close(self) -> None: ...


class PgStore:
    """asyncpg with a pool (sized like the service's: 10 + overflow)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PgStore:
        import asyncpg

        pool = await asyncpg.create_pool(dsn, min_size=4, max_size=16)
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, body jsonb)"
            )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_keys"
                " (token_hash bytea PRIMARY KEY, public_key bytea NOT NULL)"
            )
        return cls(pool)

    async def add_key(self, token_hash: bytes, public_key: bytes) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO bench_keys VALUES ($1, $2) ON CONFLICT DO NOTHING",
                token_hash,
                public_key,
            )

    async def key_for(self, token_hash: bytes) -> bytes | None:
        async with self.pool.acquire() as conn:
            found = await conn.fetchval(
                "SELECT public_key FROM bench_keys WHERE token_hash = $1", token_hash
            )
        return None if found is None else bytes(found)

    async def insert(self, body: str) -> int:
        async with self.pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "INSERT INTO bench_rows (body) VALUES ($1::jsonb) RETURNING id", body
                )
            )

    async def one(self, row_id: int) -> Row | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT id, body FROM bench_rows WHERE id = $1", row_id)
        # jsonb comes back as text: decoded so the answer is JSON, as the service's is.
        return None if row is None else {"id": row["id"], "body": json.loads(row["body"])}

    async def page(self, limit: int) -> list[Row]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, body FROM bench_rows ORDER BY id DESC LIMIT $1", limit
            )
        return [{"id": r["id"], "body": json.loads(r["body"])} for r in rows]

    async def close(self) -> None:
        await self.pool.close()


class SqliteStore:
    """aiosqlite, a few connections handed out through a queue (WAL lets readers overlap)."""

    def __init__(self, conns: list[Any]) -> None:
        self.conns = conns
        self.free: asyncio.Queue[Any] = asyncio.Queue()
        for conn in conns:
            self.free.put_nowait(conn)

    @classmethod
    async def open(cls, path: str, size: int = 4) -> SqliteStore:
        import aiosqlite

        conns = []
        for _ in range(size):
            conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
            # The service's pragmas (storage/db.py), so both pay the same durability.
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA busy_timeout=30000",
                "PRAGMA synchronous=NORMAL",
            ):
                await conn.execute(pragma)
            conns.append(conn)
        await conns[0].execute(
            "CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, body TEXT)"
        )
        await conns[0].execute(
            "CREATE TABLE IF NOT EXISTS bench_keys"
            " (token_hash BLOB PRIMARY KEY, public_key BLOB NOT NULL)"
        )
        return cls(conns)

    async def add_key(self, token_hash: bytes, public_key: bytes) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO bench_keys VALUES (?, ?)", (token_hash, public_key)
            )

    async def key_for(self, token_hash: bytes) -> bytes | None:
        async with self._conn() as conn:
            cursor = await conn.execute(
                "SELECT public_key FROM bench_keys WHERE token_hash = ?", (token_hash,)
            )
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        conn = await self.free.get()
        try:
            yield conn
        finally:
            self.free.put_nowait(conn)

    async def insert(self, body: str) -> int:
        async with self._conn() as conn:
            cursor = await conn.execute("INSERT INTO bench_rows (body) VALUES (?)", (body,))
            return int(cursor.lastrowid)

    async def one(self, row_id: int) -> Row | None:
        async with self._conn() as conn:
            cursor = await conn.execute("SELECT id, body FROM bench_rows WHERE id = ?", (row_id,))
            row = await cursor.fetchone()
        return None if row is None else {"id": row[0], "body": json.loads(row[1])}

    async def page(self, limit: int) -> list[Row]:
        async with self._conn() as conn:
            cursor = await conn.execute(
                "SELECT id, body FROM bench_rows ORDER BY id DESC LIMIT ?", (limit,)
            )
            rows = await cursor.fetchall()
        return [{"id": r[0], "body": json.loads(r[1])} for r in rows]

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    sqlite_path = os.environ.get("BENCH_SQLITE_PATH")
    store: Store
    if sqlite_path:
        store = await SqliteStore.open(sqlite_path)
    else:
        store = await PgStore.open(os.environ["BENCH_PG_DSN"])
    app.state.store = store
    try:
        yield
    finally:
        await store.close()


@post("/rows")
async def insert_row(state: State, data: JSONBody[dict[str, Any]]) -> dict[str, int]:
    """Insert the posted JSON as one row."""
    # Parsed then re-encoded, as the service parses the envelope it stores.
    return {"id": await state.store.insert(json.dumps(data))}


@functools.lru_cache(maxsize=64)
def _verifier(public_key: bytes) -> Ed25519PublicKey:
    """Parsed once per key, as the service keeps its parsed keys."""
    return Ed25519PublicKey.from_public_bytes(public_key)


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@post("/signed")
async def insert_signed(
    request: Request[Any, Any, Any], state: State, data: JSONBody[dict[str, Any]]
) -> dict[str, int]:
    """Look up the caller's key by token hash, verify the envelope's signature, insert."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    public_key = await state.store.key_for(hashlib.sha256(token.encode()).digest())
    if public_key is None:
        raise NotAuthorizedException()
    try:
        envelope = data["envelope"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signatures"][0]["sig"], validate=True)
        _verifier(public_key).verify(signature, _pae(envelope["payloadType"], payload))
    except (KeyError, IndexError, TypeError, ValueError, InvalidSignature) as exc:
        raise ValidationException("bad envelope or signature") from exc
    return {"id": await state.store.insert(json.dumps(data))}


@post("/keys")
async def add_key(state: State, data: JSONBody[dict[str, str]]) -> dict[str, str]:
    """Register a bearer token's Ed25519 public key (base64) for `/signed`."""
    token_hash = hashlib.sha256(data["token"].encode()).digest()
    await state.store.add_key(token_hash, base64.b64decode(data["public_key"]))
    return {}


@get("/rows/{row_id:int}")
async def one_row(state: State, row_id: int) -> Row:
    """One row by primary key."""
    row = await state.store.one(row_id)
    if row is None:
        raise NotFoundException()
    return row


@get("/rows")
async def page_of_rows(state: State, limit: int = 50) -> list[Row]:
    """The newest `limit` rows."""
    return await state.store.page(limit)


@get("/health")
async def health() -> dict[str, str]:
    """Readiness probe."""
    return {"status": "ok"}


app = Litestar(
    route_handlers=[insert_row, insert_signed, add_key, one_row, page_of_rows, health],
    lifespan=[lifespan],
)
