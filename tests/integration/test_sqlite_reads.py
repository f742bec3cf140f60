"""The SQLite reader and writer threads (storage/sqlite_reads.py, sqlite_moves.py): rows
exactly as the engine gives them, and no thread left once the app stops."""

from __future__ import annotations

import threading
import uuid

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.storage.db import create_engine, session_factory, transaction
from mla_tracker.storage.request_reads import PageFilter, one_request, request_page
from mla_tracker.storage.sqlite_reads import reader_of
from mla_tracker.storage.tables import RequestRow
from tests.integration.conftest import Cast, in_execution
from tests.support import Hub

_CAST = [
    ("la-mps", "LA", "central_authority"),
    ("th-oag", "TH", "central_authority"),
    ("th-ccib", "TH", "executing_authority"),
    ("asean-audit", "SG", "auditor"),
    ("vn-spp", "VN", "central_authority"),
    ("vn-a05", "VN", "executing_authority"),
]


def _readers() -> int:
    return sum(t.name.startswith("mla-sqlite-") for t in threading.enumerate())


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("the SQLite reader only")
    return database_url


async def test_rows_are_what_the_engine_gives(hub: Hub, cast: Cast, sqlite_url: str) -> None:
    rid = uuid.UUID(await in_execution(hub, cast))
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    try:
        assert reader_of(sessions) is not None
        fast = await one_request(sessions, rid)
        async with transaction(sessions, write=False) as session:
            row = (await session.scalars(select(RequestRow).where(RequestRow.id == rid))).one()
        assert fast is not None
        for name in fast._fields:
            assert getattr(fast, name) == getattr(row, name), name
            assert type(getattr(fast, name)) is type(getattr(row, name)), name
        assert fast.created_at.tzinfo is not None and isinstance(fast.content, dict)
        page = await request_page(sessions, PageFilter(party=cast.thai_police.id), limit=10)
        assert [r.id for r in page] == [rid] and page[0].content is None
    finally:
        await engine.dispose()


async def test_reader_and_writer_threads_end_with_the_app(
    settings: Settings, sqlite_url: str
) -> None:
    before = _readers()
    async with AsyncTestClient(app=create_app(settings)) as client:
        hub = Hub(client)
        cast = Cast(*[await hub.register(*a) for a in _CAST])
        await in_execution(hub, cast)  # reads, and appends through the writer thread
        names = {t.name.rsplit("_", 1)[0] for t in threading.enumerate()}
        assert {"mla-sqlite-read", "mla-sqlite-write"} <= names
    assert _readers() == before
