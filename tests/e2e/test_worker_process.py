"""`mla worker` as real processes on one database: never twice, nothing lost (issue 10).

Requests are made on a clock 30 days back, so their acknowledge deadlines have passed by
the real clock the worker processes run on: each request must get exactly one
`deadline_missed`, signed by the hub, whatever the workers do to each other.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.storage.db import create_engine, session_factory
from mla_tracker.storage.tables import StatementRow
from tests.e2e.conftest import start_server
from tests.integration.test_deadlines_api import Clock, Frozen
from tests.support import OPERATOR_TOKEN, Hub, mla_content, verify_offline

N = 30
#: Enough that a sweep cannot finish between two looks (a hub statement takes a few ms).
N_KILLED = 150


async def _requests(settings: Settings, count: int = N) -> list[str]:
    """`count` Lao requests to Thailand, transmitted 30 days ago and never acknowledged."""
    clock = Clock()
    clock.now = datetime.now(UTC) - timedelta(days=30)
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        frozen = Frozen(Hub(client), clock)
        lao = await frozen.register("la-mps", "LA", "central_authority")
        thai = await frozen.register("th-oag", "TH", "central_authority")
        return [await frozen.submit(lao, mla_content(lao.id, thai.id)) for _ in range(count)]


async def _missed(url: str) -> dict[uuid.UUID, int]:
    engine = create_engine(url, pool=False)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(StatementRow.request_id, func.count())
                .where(StatementRow.action == "deadline_missed", StatementRow.actor == "server")
                .group_by(StatementRow.request_id)
            )
            return {rid: count for rid, count in rows}
    finally:
        await engine.dispose()


def _worker(settings: Settings, log: Path, lease: int = 60) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MLA_DATA_DIR": str(settings.data_dir),
        "MLA_DATABASE_URL": settings.database_url,
        "MLA_WORKER_INTERVAL_MS": "100",
        "MLA_WORKER_LEASE_SECONDS": str(lease),
        "MLA_LOG_FORMAT": "text",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mla_tracker.cli.main", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _wait_for(url: str, done: int, timeout: float = 90) -> dict[uuid.UUID, int]:
    end = time.monotonic() + timeout
    while True:
        found = await _missed(url)
        if sum(found.values()) >= done or time.monotonic() > end:
            return found
        await asyncio.sleep(0.05)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings shared by the in-process app that makes the requests and the workers."""
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, operator_token=OPERATOR_TOKEN
    )


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes to stop (SIGTERM, then SIGKILL) whatever the test did."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_two_worker_processes_act_once_per_deadline(
    settings: Settings, tmp_path: Path, stopped: list[subprocess.Popen[bytes]]
) -> None:
    rids = await _requests(settings)
    log = tmp_path / "workers.log"
    stopped += [_worker(settings, log), _worker(settings, log)]
    found = await _wait_for(settings.database_url, N)
    await asyncio.sleep(1.0)  # a second worker acting twice would show up by now
    found = await _missed(settings.database_url)
    assert sorted(found.values()) == [1] * N, log.read_text()[-3000:]
    assert set(found) == {uuid.UUID(r) for r in rids}
    for proc in stopped:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()

    # Every chain, with the hub's statements, verifies as an auditor would.
    async with AsyncTestClient(app=create_app(settings)) as client:
        hub = Hub(client)
        auditor = await hub.register("asean-audit", "SG", "auditor")
        for rid in rids[:5]:
            verified = await verify_offline(hub, auditor, rid)
            assert [st.action for st in verified.statements] == ["transmit", "deadline_missed"]


async def test_a_worker_killed_mid_sweep_loses_nothing(
    settings: Settings, tmp_path: Path, stopped: list[subprocess.Popen[bytes]]
) -> None:
    await _requests(settings, N_KILLED)
    log = tmp_path / "workers.log"
    first = _worker(settings, log, lease=2)
    stopped.append(first)
    # Kill it as soon as it has acted at all: it holds a lease on the rest of its batch.
    found = await _wait_for(settings.database_url, 1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    acted_before = sum(found.values())
    # Killed mid-sweep: the rest waits for the lease to lapse.
    assert 1 <= acted_before < N_KILLED, acted_before
    stopped.append(_worker(settings, log, lease=2))
    found = await _wait_for(settings.database_url, N_KILLED)
    await asyncio.sleep(1.0)
    found = await _missed(settings.database_url)
    assert sorted(found.values()) == [1] * N_KILLED, log.read_text()[-3000:]


async def test_mla_serve_runs_a_worker_unless_told_not_to(settings: Settings) -> None:
    await _requests(settings)
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN, "MLA_WORKER_INTERVAL_MS": "100"}
    for _ in start_server(settings.database_url, settings.data_dir, env, ("--no-worker",)):
        await asyncio.sleep(2.0)
        assert await _missed(settings.database_url) == {}
    for _ in start_server(settings.database_url, settings.data_dir, env):
        found = await _wait_for(settings.database_url, N, timeout=60)
        assert sorted(found.values()) == [1] * N
