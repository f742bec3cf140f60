"""The SQLite reader's own timestamp conversion (storage/sqlite_reads.utc_datetime) gives
what SQLAlchemy's processor for UTCDateTime gives, for every form SQLite holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect

from mla_tracker.storage.sqlite_reads import SqliteRead, utc_datetime
from mla_tracker.storage.types import UTCDateTime

_DIALECT = aiosqlite_dialect()
_ENGINES = UTCDateTime().dialect_impl(_DIALECT).result_processor(_DIALECT, None)


@pytest.mark.parametrize(
    "stored",
    [
        "2026-11-29 20:06:11.123456",
        "2026-11-29 20:06:11.000001",
        "2026-11-29 20:06:11.000000",
        "2026-11-29 20:06:11",  # CURRENT_TIMESTAMP's form, no fraction
        "1970-01-01 00:00:00.000000",
        "9999-12-31 23:59:59.999999",
    ],
)
def test_as_the_engine_reads_it(stored: str) -> None:
    assert _ENGINES is not None
    ours, theirs = utc_datetime(stored), _ENGINES(stored)
    assert ours == theirs and ours.tzinfo is UTC and theirs.tzinfo is UTC
    assert ours.isoformat() == theirs.isoformat()


def test_the_bind_side_round_trips() -> None:
    """What the engine writes, the reader reads back to the same instant."""
    when = datetime(2026, 11, 29, 20, 6, 11, 5, tzinfo=UTC)
    binder = UTCDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)
    assert binder is not None
    stored = binder(when)
    assert isinstance(stored, str)
    assert utc_datetime(stored) == when


def test_a_read_converts_only_what_needs_converting() -> None:
    from mla_tracker.storage.request_reads import _ONE

    read = SqliteRead(_ONE)
    names = [c.name for c in _ONE.selected_columns]
    converted = {names[i] for i, _ in read.converting}
    assert {"id", "created_at", "updated_at", "content"} <= converted
    assert not {"kind", "state", "head_seq"} & converted
    assert read.results[names.index("created_at")] is utc_datetime
