"""Of N concurrent statements on one head exactly one wins; the chain stays intact."""

from __future__ import annotations

import asyncio
import uuid

from mla_tracker.storage.event_tables import EventRow
from mla_tracker.storage.log_tables import LogEntryRow
from tests.integration.conftest import Cast
from tests.support import Hub, envelope_json, mla_content
from tests.webhook_support import count, local_context

N = 50


async def test_fifty_concurrent_appends_on_one_head(
    hub: Hub, cast: Cast, database_url: str
) -> None:
    rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    seq, head = await hub.head(cast.thai, rid)
    # Fifty different, individually valid statements all claiming the same next slot.
    envelopes = [
        envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "acknowledge", {"note": f"n{i}"})
        for i in range(N)
    ]
    url = f"/v1/requests/{rid}/statements"
    responses = await asyncio.gather(
        *(hub.client.post(url, json=env, headers=cast.thai.auth) for env in envelopes)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1, codes
    assert codes.count(409) == N - 1, codes
    winner = next(r for r in responses if r.status_code == 201).json()["statement"]["digest"]
    for loser in (r for r in responses if r.status_code == 409):
        body = loser.json()
        assert body["head"]["seq"] == seq + 1
        assert body["head"]["digest"] == winner
    statements = (await hub.client.get(url, headers=cast.auditor.auth)).json()
    assert [s["seq"] for s in statements] == [1, 2]
    assert statements[1]["prev"] == statements[0]["digest"]
    assert statements[1]["digest"] == winner
    shown = (await hub.client.get(f"/v1/requests/{rid}", headers=cast.thai.auth)).json()
    assert shown["state"] == "acknowledged"
    assert shown["head"] == {"seq": 2, "digest": winner}
    # The losers left nothing behind: no log entry, no event (one per party per statement).
    async with local_context(database_url) as ctx:
        request_id = uuid.UUID(rid)
        assert await count(ctx, LogEntryRow, LogEntryRow.request_id == request_id) == 2
        assert await count(ctx, EventRow, EventRow.request_id == request_id) == 4
