"""Shared fixtures: a real SQLite file and a real PostgreSQL database for every DB test.

PostgreSQL comes from MLA_TEST_POSTGRES_URL (set by `make test`), else localhost:5432.
Without one the PostgreSQL half is skipped, except under CI=true where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from mla_tracker.storage.db import create_engine
from mla_tracker.storage.migrate import upgrade
from mla_tracker.storage.tables import Base

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a worker thread.

    Keeps fixture set-up off the thread whose loop pytest-asyncio manages.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _admin_url() -> str:
    url = os.environ.get("MLA_TEST_POSTGRES_URL") or DEFAULT_PG
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


async def _pg_answers(url: str) -> str | None:
    engine = create_engine(url, pool=False)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    finally:
        await engine.dispose()


async def _create_database(admin: str, name: str) -> str:
    engine = create_engine(admin, pool=False)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    url = admin.rsplit("/", 1)[0] + "/" + name
    migrated = create_engine(url, pool=False)
    await upgrade(migrated)
    await migrated.dispose()
    return url


async def _drop_database(admin: str, name: str) -> None:
    engine = create_engine(admin, pool=False)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated, throwaway PostgreSQL database for this test session."""
    admin = _admin_url()
    problem = run_sync(lambda: _pg_answers(admin))
    if problem is not None:
        message = f"PostgreSQL not reachable at {admin}: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: a missing PostgreSQL is a failure)")
        pytest.skip(message)
    name = f"mla_test_{uuid.uuid4().hex[:12]}"
    url = run_sync(lambda: _create_database(admin, name))
    yield url
    run_sync(lambda: _drop_database(admin, name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file each test copies (migrating once is faster)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"

    async def _make() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()

    run_sync(_make)
    return path


async def _truncate(url: str) -> None:
    engine = create_engine(url, pool=False)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A fresh, migrated database: a real SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "mla.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    run_sync(lambda: _truncate(url))
    yield url
