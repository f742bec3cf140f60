"""The PostgreSQL pool has no overflow (storage/db.py): a task beyond the pool waits for a
connection. That is safe only if no task ever holds one connection while asking for a
second; with a pool of ONE connection, any such path would wait for itself until the pool
timeout and answer 503. This runs the busy paths, concurrently, on a pool of one, then on
two split between the hot statements' direct pool and SQLAlchemy's (one each).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mla_tracker.config import Settings
from mla_tracker.storage import db
from tests.integration.conftest import Cast, in_execution
from tests.support import OPERATOR_TOKEN, Hub, mla_content, verify_offline

OBSTACLE = {"reason": "significant_delay", "reasons": "a backlog at the provider"}


@pytest.fixture(params=[1, 2], ids=["pool-of-one", "one-direct-one-sqlalchemy"])
def settings(
    request: pytest.FixtureRequest,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """One pooled connection (or one for the hot statements and one for SQLAlchemy:
    storage/direct_pool.py), an in-process worker sharing them, a short pool timeout."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection pool to exhaust (one writer, no server)")
    monkeypatch.setattr(db, "POOL_TIMEOUT", 5.0)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        operator_token=OPERATOR_TOKEN,
        db_pool_size=request.param,
        in_process_worker=True,
        worker_interval_seconds=0.05,
    )


async def test_busy_paths_never_hold_two_connections(hub: Hub, cast: Cast) -> None:
    # Six requests driven through submit and three appends at once, beside the worker.
    rids = await asyncio.gather(*(in_execution(hub, cast) for _ in range(6)))
    assert len(set(rids)) == 6
    # Concurrent appends on ONE head too: one wins, the rest are told the head moved.
    racing = await asyncio.gather(
        *(hub.act(cast.thai, rids[0], "report_obstacle", OBSTACLE) for _ in range(4))
    )
    assert sorted(r.status_code for r in racing).count(201) == 1
    assert {r.status_code for r in racing} <= {201, 409}
    second = await hub.submit(cast.thai, mla_content(cast.thai.id, cast.lao.id))
    reads = await asyncio.gather(
        hub.client.get("/v1/requests?limit=50", headers=cast.lao.auth),
        hub.client.get(f"/v1/requests/{rids[1]}", headers=cast.lao.auth),
        hub.client.get(f"/v1/requests/{rids[2]}/statements", headers=cast.auditor.auth),
        hub.client.get(f"/v1/requests/{rids[3]}/deadlines", headers=cast.thai.auth),
        hub.client.get("/v1/deadlines", headers=cast.thai.auth),
        hub.client.get("/v1/events", headers=cast.lao.auth),
        hub.client.get("/v1/log/checkpoint"),
        hub.client.get(f"/v1/log/requests/{second['id']}", headers=cast.thai.auth),
        hub.client.get("/v1/agencies", headers=cast.auditor.auth),
    )
    assert [r.status_code for r in reads] == [200] * len(reads), [r.text for r in reads]
    verified = await verify_offline(hub, cast.lao, rids[4])
    assert len(verified.statements) == 4
