"""Database errors never carry SQL parameters (token hashes, bodies) into messages or logs."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mla_tracker.storage.db import create_engine


async def test_error_messages_hide_parameters(database_url: str) -> None:
    engine = create_engine(database_url, pool=False)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failed:
                await conn.execute(
                    text("SELECT * FROM no_such_table WHERE x = :p"), {"p": "mla_SECRET-TOKEN"}
                )
        assert "no_such_table" in str(failed.value)
        assert "SECRET" not in str(failed.value)
    finally:
        await engine.dispose()
