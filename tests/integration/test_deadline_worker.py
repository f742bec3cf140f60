"""The deadline worker on SQLite and PostgreSQL, on a hand-moved clock (issue 10 item 4).

Warnings, misses and expiry are the hub's own signed statements in the request's chain:
each test verifies the chain offline, as an auditor would, after the worker acted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.domain.deadlines import DEFAULTS
from mla_tracker.domain.legal_profile import DEFAULT_PROFILE
from mla_tracker.storage.db import create_engine
from mla_tracker.workflows import deadline_worker
from mla_tracker.workflows.context import Context
from mla_tracker.workflows.runtime import context_for
from tests.integration.test_deadlines_api import START, Clock, Frozen
from tests.support import (
    Agency,
    Hub,
    envelope_json,
    mla_content,
    preservation_content,
    verify_offline,
)


@pytest.fixture
async def frozen(settings: Settings) -> AsyncIterator[Frozen]:
    """The service on a hand-moved clock, built-in deadline rules."""
    clock = Clock()
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        yield Frozen(Hub(client), clock)


@pytest.fixture
async def workers(settings: Settings, frozen: Frozen) -> AsyncIterator[Context]:
    """What a worker process runs with: its own engine, the hub's key, the same clock.

    (The test client runs the app on a loop of its own, so its engine is not ours to use.)
    """
    engine = create_engine(settings.resolved_database_url)
    yield context_for(
        settings, engine, legal=DEFAULT_PROFILE, deadline_rules=DEFAULTS, clock=frozen.clock
    )
    await engine.dispose()


async def _chain(frozen: Frozen, reader: Agency, rid: str) -> list[dict[str, Any]]:
    resp = await frozen.hub.client.get(f"/v1/requests/{rid}/statements", headers=reader.auth)
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()
    return rows


def _hub_moves(rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None]]:
    """The hub's statements: action and decoded body (None where withheld)."""
    return [
        (r["action"], json.loads(base64.b64decode(r["body"])) if r["body"] else None)
        for r in rows
        if r["actor"] == "server"
    ]


async def _cast(frozen: Frozen) -> tuple[Agency, Agency, Agency]:
    return (
        await frozen.register("la-mps", "LA", "central_authority"),
        await frozen.register("th-oag", "TH", "central_authority"),
        await frozen.register("asean-audit", "SG", "auditor"),
    )


@dataclass(frozen=True)
class Case:
    """A Lao request to Thailand, with the auditor, whose deadlines a first sweep planned."""

    lao: Agency
    thai: Agency
    auditor: Agency
    rid: str


#: What the preserved request is preserved until: Wed 10 June 2026.
UNTIL = (START + timedelta(days=61)).date()


@pytest.fixture
async def mla_case(frozen: Frozen, workers: Context) -> Case:
    """An MLA request transmitted at START, planned by a sweep as worker w1."""
    lao, thai, auditor = await _cast(frozen)
    rid = await frozen.submit(lao, mla_content(lao.id, thai.id))
    # Nothing is due on the day of transmission: the sweep only plans.
    report = await deadline_worker.sweep(workers, "w1")
    assert report.refreshed == 1 and report.acted == 0
    return Case(lao, thai, auditor, rid)


@pytest.fixture
async def preserved(frozen: Frozen, workers: Context) -> Case:
    """A preservation request Thailand preserved until UNTIL, planned by a sweep as w1."""
    lao, thai, auditor = await _cast(frozen)
    rid = await frozen.submit(lao, preservation_content(lao.id, thai.id))
    await frozen.act(thai, rid, "preserve", {"until": UNTIL.isoformat()})
    await deadline_worker.sweep(workers, "w1")
    return Case(lao, thai, auditor, rid)


async def test_warning_then_miss_signed_by_the_hub_once(
    frozen: Frozen, workers: Context, mla_case: Case
) -> None:
    lao, thai, auditor, rid = mla_case.lao, mla_case.thai, mla_case.auditor, mla_case.rid
    ctx = workers
    planned = await deadline_worker.pending_moves(ctx, [uuid.UUID(rid)])
    # Acknowledge within 5 Thai business days across Songkran: due Wed 22 April, warned
    # 2 business days before, at the end of Mon 20 April in Bangkok.
    assert [(p.deadline_id, p.move, p.act_at) for p in planned] == [
        ("acknowledge-1", "warn-1", datetime(2026, 4, 20, 16, 59, 59, 999999, tzinfo=UTC)),
        ("acknowledge-1", "missed", datetime(2026, 4, 22, 16, 59, 59, 999999, tzinfo=UTC)),
    ]

    frozen.clock.now = datetime(2026, 4, 21, 2, 0, tzinfo=UTC)
    assert (await deadline_worker.sweep(ctx, "w1")).outcomes == {"warned": 1}
    assert (await deadline_worker.sweep(ctx, "w1")).acted == 0  # once only
    frozen.clock.now = datetime(2026, 4, 23, 2, 0, tzinfo=UTC)
    await frozen.relogin(lao, thai, auditor)
    assert (await deadline_worker.sweep(ctx, "w2")).outcomes == {"missed": 1}
    assert (await deadline_worker.sweep(ctx, "w1")).acted == 0

    rows = await _chain(frozen, lao, rid)
    moves = _hub_moves(rows)
    assert [a for a, _ in moves] == ["deadline_warning", "deadline_missed"]
    notice = moves[1][1]
    assert notice is not None
    assert notice["deadline"] == "acknowledge-1" and notice["responsible_agency"] == "th-oag"
    assert notice["due_at"] == "2026-04-22T16:59:59.999999Z"
    assert [r["seq"] for r in rows] == [1, 2, 3]
    # The hub's statements verify like any other, for the parties and the auditor.
    verified = await verify_offline(frozen.hub, auditor, rid)
    assert [st.actor for st in verified.statements] == ["la-mps", "server", "server"]
    await verify_offline(frozen.hub, lao, rid)

    # The requested side acknowledges late on the new head: the deadline closes as missed
    # and the decision clock plans its own moves.
    await frozen.act(thai, rid, "acknowledge", {})
    await deadline_worker.sweep(ctx, "w1")
    planned = await deadline_worker.pending_moves(ctx, [uuid.UUID(rid)])
    by_status = {(p.deadline_id, p.move): p.status for p in planned}
    assert by_status[("acknowledge-1", "missed")] == "done"
    assert by_status[("decide-4", "missed")] == "pending"


async def test_preservation_expires_when_its_date_passes(
    frozen: Frozen, workers: Context, preserved: Case
) -> None:
    lao, thai, auditor, rid = preserved.lao, preserved.thai, preserved.auditor, preserved.rid
    ctx = workers

    # The worker was down for months: both warnings are stale, only the expiry is signed.
    frozen.clock.now = datetime(2026, 6, 11, 0, 0, tzinfo=UTC)  # 07:00 on 11 June, Bangkok
    await frozen.relogin(lao, thai, auditor)
    report = await deadline_worker.sweep(ctx, "w1")
    assert report.outcomes == {"obsolete": 2, "expired": 1}
    request = await frozen.get(lao, f"/v1/requests/{rid}")
    assert request["state"] == "expired"
    (expiry,) = _hub_moves(await _chain(frozen, lao, rid))
    assert expiry == ("expire", {"deadline": "preservation_expiry-2", "until": UNTIL.isoformat()})
    verified = await verify_offline(frozen.hub, auditor, rid)
    assert verified.states[-1] == "expired"
    # Expired is terminal: the requested side can no longer extend it.
    seq, digest = await frozen.hub.head(thai, rid)
    assert seq == 3
    late = envelope_json(
        thai,
        uuid.UUID(rid),
        seq + 1,
        digest,
        "extend",
        {"until": "2026-09-01"},
        issued_at=frozen.clock.now,
    )
    resp = await frozen.hub.client.post(
        f"/v1/requests/{rid}/statements", json=late, headers=thai.auth
    )
    assert resp.status_code == 409, resp.text
    assert "expired" in resp.json()["detail"]


async def test_a_preservation_extended_in_time_does_not_expire(
    frozen: Frozen, workers: Context, preserved: Case
) -> None:
    lao, thai, rid = preserved.lao, preserved.thai, preserved.rid
    ctx = workers
    frozen.clock.now = datetime(2026, 6, 9, 3, 0, tzinfo=UTC)
    await frozen.relogin(lao, thai)
    await frozen.act(thai, rid, "extend", {"until": "2026-08-31"})
    frozen.clock.now = datetime(2026, 6, 12, 3, 0, tzinfo=UTC)
    report = await deadline_worker.sweep(ctx, "w1")
    assert "expired" not in report.outcomes
    await frozen.relogin(lao)
    assert (await frozen.get(lao, f"/v1/requests/{rid}"))["state"] == "extended"


async def test_two_workers_at_once_act_once_per_deadline(frozen: Frozen, workers: Context) -> None:
    lao, thai, auditor = await _cast(frozen)
    rids = [await frozen.submit(lao, mla_content(lao.id, thai.id)) for _ in range(12)]
    ctx = workers
    frozen.clock.now = datetime(2026, 4, 23, 2, 0, tzinfo=UTC)
    await frozen.relogin(lao, auditor)
    reports = await asyncio.gather(
        deadline_worker.sweep(ctx, "w1", limit=5),
        deadline_worker.sweep(ctx, "w2", limit=5),
        deadline_worker.sweep(ctx, "w3", limit=5),
    )
    while (extra := await deadline_worker.sweep(ctx, "w1", limit=5)).claimed:
        reports = (*reports, extra)
    assert sum(r.outcomes.get("missed", 0) for r in reports) == len(rids)
    for rid in rids:
        rows = await _chain(frozen, lao, rid)
        assert [a for a, _ in _hub_moves(rows)] == ["deadline_missed"]  # warning stale
        await verify_offline(frozen.hub, auditor, rid)


async def test_a_claim_abandoned_by_a_killed_worker_returns_after_its_lease(
    frozen: Frozen, workers: Context, mla_case: Case
) -> None:
    lao, rid = mla_case.lao, mla_case.rid
    ctx = workers
    frozen.clock.now = datetime(2026, 4, 23, 2, 0, tzinfo=UTC)
    # Worker A claims and dies before acting.
    claimed = await deadline_worker.claim_due(ctx, "dead", lease=timedelta(seconds=60))
    assert len(claimed) == 2  # warn-1 and missed
    # Worker B finds nothing to take while the lease holds …
    assert (await deadline_worker.sweep(ctx, "w2")).claimed == 0
    # … and everything once it lapsed; the dead worker's late act changes nothing.
    frozen.clock.now += timedelta(seconds=61)
    report = await deadline_worker.sweep(ctx, "w2")
    assert report.outcomes == {"obsolete": 1, "missed": 1}
    assert await deadline_worker.act_on(ctx, "dead", claimed[1]) == "lost"
    await frozen.relogin(lao)
    assert [a for a, _ in _hub_moves(await _chain(frozen, lao, rid))] == ["deadline_missed"]


async def test_an_agency_move_first_wins_and_the_worker_decides_afresh(
    frozen: Frozen, workers: Context, mla_case: Case
) -> None:
    lao, thai, rid = mla_case.lao, mla_case.thai, mla_case.rid
    ctx = workers
    frozen.clock.now = datetime(2026, 4, 21, 2, 0, tzinfo=UTC)
    claimed = await deadline_worker.claim_due(ctx, "w1")
    # Thailand acknowledges after the claim: the warning no longer applies.
    await frozen.relogin(lao, thai)
    await frozen.act(thai, rid, "acknowledge", {})
    assert [await deadline_worker.act_on(ctx, "w1", i) for i in claimed] == ["obsolete"]
    assert _hub_moves(await _chain(frozen, lao, rid)) == []


async def test_the_id_server_is_the_hubs(frozen: Frozen) -> None:
    resp = await frozen.hub.client.post(
        "/v1/agencies",
        json={"id": "server", "name": "Impostor", "country": "TH", "role": "central_authority"},
        headers=frozen.hub.operator,
    )
    assert resp.status_code == 409
    assert "hub" in resp.json()["detail"]
