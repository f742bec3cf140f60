"""Baseline for the append benchmark: a bare litestar + asyncpg endpoint inserting one row."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, post
from litestar.datastructures import State
from litestar.params import JSONBody

DSN = os.environ["BENCH_PG_DSN"]


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(DSN, min_size=4, max_size=16)
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, body jsonb)"
        )
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


@post("/rows")
async def insert_row(state: State, data: JSONBody[dict[str, Any]]) -> dict[str, int]:
    """Insert the posted JSON as one row."""
    async with state.pool.acquire() as conn:
        row_id = await conn.fetchval(
            "INSERT INTO bench_rows (body) VALUES ($1::jsonb) RETURNING id",
            __import__("json").dumps(data),
        )
    return {"id": int(row_id)}


app = Litestar(route_handlers=[insert_row], lifespan=[lifespan])
