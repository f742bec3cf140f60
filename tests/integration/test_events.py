"""Events: written in the statement's transaction, one per party, read by that agency only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from mla_tracker.storage.event_tables import EventRow
from mla_tracker.workflows import events
from mla_tracker.workflows.context import Context
from tests.integration.conftest import Cast, in_execution
from tests.support import Hub, envelope_json, mla_content, preservation_content
from tests.webhook_support import count, events_of, local_context


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[Context]:
    """A workflow context on the test's loop, on the hub's database."""
    async with local_context(database_url) as found:
        yield found


PAYLOAD_KEYS = {"request_id", "seq", "action", "actor", "digest", "state", "received_at", "meta"}


async def _page(hub: Hub, auth: dict[str, str], after: int = 0) -> dict:  # type: ignore[type-arg]
    resp = await hub.client.get("/v1/events", params={"after": after}, headers=auth)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_one_event_per_party_including_the_executor_after_assign(
    hub: Hub, cast: Cast, ctx: Context
) -> None:
    rid = await in_execution(hub, cast)  # transmit, acknowledge, accept, assign
    assert await events_of(ctx, cast.lao.id) == 4
    assert await events_of(ctx, cast.thai.id) == 4
    # The executor hears of its own assignment, not of what came before it.
    assert await events_of(ctx, cast.thai_police.id) == 1
    assert await events_of(ctx, cast.outsider.id) == 0
    assert await events_of(ctx, cast.auditor.id) == 0

    lao = await _page(hub, cast.lao.auth)
    assert [e["data"]["action"] for e in lao["items"]] == [
        "transmit",
        "acknowledge",
        "accept",
        "assign",
    ]
    assert [e["data"]["seq"] for e in lao["items"]] == [1, 2, 3, 4]
    ids = [e["id"] for e in lao["items"]]
    assert ids == sorted(ids) and lao["next_after"] == ids[-1]
    assign = lao["items"][-1]
    assert assign["type"] == "statement.accepted"
    assert set(assign["data"]) == PAYLOAD_KEYS  # metadata only: never a body
    assert assign["data"]["state"] == "in_execution"
    assert assign["data"]["meta"] == {"executing_agency": cast.thai_police.id}
    assert assign["data"]["request_id"] == rid
    police = await _page(hub, cast.thai_police.auth)
    assert [e["data"]["action"] for e in police["items"]] == ["assign"]
    # Positions are shared by every agency's events: resume after the last one seen.
    assert (await _page(hub, cast.lao.auth, after=ids[1]))["items"] == lao["items"][2:]
    assert (await _page(hub, cast.lao.auth, after=ids[-1]))["items"] == []


async def test_a_refused_statement_writes_no_event(hub: Hub, cast: Cast, ctx: Context) -> None:
    rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    before = await count(ctx, EventRow)
    assert before == 2
    # Not the requester's move; then a stale head; then a bad signature.
    assert (await hub.act(cast.lao, rid, "acknowledge")).status_code == 403
    stale = envelope_json(cast.thai, uuid.UUID(rid), 1, "0" * 64, "acknowledge", {})
    resp = await hub.client.post(
        f"/v1/requests/{rid}/statements", json=stale, headers=cast.thai.auth
    )
    assert resp.status_code == 409
    forged = envelope_json(
        cast.thai, uuid.UUID(rid), 2, "0" * 64, "acknowledge", {}, key=cast.lao.key
    )
    resp = await hub.client.post(
        f"/v1/requests/{rid}/statements", json=forged, headers=cast.thai.auth
    )
    assert resp.status_code == 422
    assert await count(ctx, EventRow) == before


async def test_preservation_events_and_publication_order(
    hub: Hub, cast: Cast, ctx: Context
) -> None:
    content = preservation_content(cast.lao.id, cast.thai.id)
    rid = (await hub.submit(cast.lao, content))["id"]
    assert (await hub.act(cast.thai, rid, "acknowledge")).status_code == 201
    assert await count(ctx, EventRow, EventRow.position.is_(None)) == 4
    assert await events.publish(ctx) == 4
    assert await events.publish(ctx) == 0  # each event is published once
    thai = await _page(hub, cast.thai.auth)
    assert [e["data"]["state"] for e in thai["items"]] == ["transmitted", "acknowledged"]
    assert thai["items"][0]["data"]["meta"]["kind"] == "preservation"


async def test_only_the_agency_reads_its_events(hub: Hub, cast: Cast, ctx: Context) -> None:
    await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id))
    for headers in (hub.operator, cast.auditor.auth):
        for path in ("/v1/events", "/v1/events/stream"):
            resp = await hub.client.get(path, headers=headers)
            assert resp.status_code == 403, (path, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await _page(hub, cast.outsider.auth))["items"] == []
    assert (await hub.client.get("/v1/events")).status_code == 401


async def test_bad_positions_are_problems(hub: Hub, cast: Cast, ctx: Context) -> None:
    for params in ({"after": -1}, {"after": str(10**30)}, {"limit": 0}, {"after": "x"}):
        resp = await hub.client.get("/v1/events", params=params, headers=cast.lao.auth)
        assert resp.status_code == 400, (params, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    for value in ("abc", "-1", "1.5", str(2**63), "0x10"):
        resp = await hub.client.get(
            "/v1/events/stream", headers={**cast.lao.auth, "Last-Event-ID": value}
        )
        assert resp.status_code == 400, (value, resp.text)
        assert resp.json()["type"].endswith("/invalid-query")
