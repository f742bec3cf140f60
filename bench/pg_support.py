"""PostgreSQL for the benchmarks: fresh databases on the server MLA_TEST_POSTGRES_URL names."""

from __future__ import annotations

import asyncpg


def dsn(url: str) -> str:
    """A SQLAlchemy `postgresql+asyncpg://` URL as asyncpg and libpq spell it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> str:
    """Drop database `name` (its sessions forced out) and create it empty, unless
    `drop_only`; its URL on the server of `admin_url`."""
    conn = await asyncpg.connect(dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name
