"""Several dispatchers on one database send each delivery once; a dead one loses nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from mla_tracker.config import Settings
from mla_tracker.storage.event_tables import DeliveryRow
from mla_tracker.workflows import events, webhooks
from mla_tracker.workflows.context import Context, utc_now
from tests.integration.conftest import Cast
from tests.integration.test_webhooks import subscribe
from tests.support import Hub, mla_content
from tests.webhook_support import FAST, Receiver, count, local_context, receiving

REQUESTS = 15
#: No attempt times out here: a receiver that got a request the client gave up on is
#: at-least-once delivery working (a retry follows), not two dispatchers sending one claim,
#: which is what this file tests. FAST's 0.5 s timeout did expire on a loaded CI machine.
STEADY = dataclasses.replace(FAST, timeout_seconds=30.0)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The hub accepts http:// to loopback, where the test's receiver listens."""
    return dataclasses.replace(settings, webhook_allow_loopback_http=True)


@pytest.fixture
async def two(database_url: str) -> AsyncIterator[tuple[Context, Context]]:
    """Two dispatchers' contexts, each with its own engine (as two processes would have)."""
    async with local_context(database_url) as one, local_context(database_url) as other:
        yield one, other


async def _dispatch_until_done(ctx: Context, owner: str) -> int:
    sent = 0
    for _ in range(2000):
        sent += await webhooks.dispatch_once(ctx, owner=owner, limit=4, config=STEADY)
        if not await count(ctx, DeliveryRow, DeliveryRow.status == "pending"):
            return sent
        await asyncio.sleep(0.005)
    raise AssertionError("deliveries still pending")


async def test_two_dispatchers_deliver_each_event_exactly_once(
    hub: Hub, cast: Cast, two: tuple[Context, Context]
) -> None:
    with receiving(Receiver()) as rx:
        await subscribe(hub, cast.lao, rx.url)
        await subscribe(hub, cast.thai, rx.url)
        for _ in range(REQUESTS):
            await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id))
        sent = await asyncio.gather(
            _dispatch_until_done(two[0], "one"), _dispatch_until_done(two[1], "two")
        )
    # Two events per request (Laos and Thailand), each to its agency's one subscription.
    assert sum(sent) == len(rx.received) == 2 * REQUESTS
    assert all(sent), f"both dispatchers took a share: {sent}"
    times = Counter(r.headers["webhook-id"] for r in rx.received)
    assert len(times) == 2 * REQUESTS and set(times.values()) == {1}


async def test_a_dispatcher_killed_after_claiming_loses_nothing(
    hub: Hub, cast: Cast, two: tuple[Context, Context]
) -> None:
    doomed, survivor = two
    with receiving(Receiver()) as rx:
        await subscribe(hub, cast.lao, rx.url)
        for _ in range(3):
            await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id))
        assert await events.publish(doomed) == 6  # Laos and Thailand, three each
        lease = timedelta(seconds=30)
        claimed = await webhooks.claim(doomed, owner="doomed", limit=100, lease=lease)
        assert len(claimed) == 3
        # ... and it dies here, before sending. Within the lease nobody else sends them.
        assert await webhooks.dispatch_once(survivor, owner="survivor", config=FAST) == 0
        later = dataclasses.replace(
            survivor, clock=lambda: utc_now() + lease + timedelta(seconds=1)
        )
        assert await webhooks.dispatch_once(later, owner="survivor", config=FAST) == 3
        assert sorted(rx.delivered_ids()) == sorted(c.message_id for c in claimed)
        # Were it only slow, its late report changes nothing: its claim has lapsed.
        lost = [webhooks.Outcome(c, 500, None) for c in claimed]
        await webhooks.record(doomed, lost, FAST)
    assert await count(doomed, DeliveryRow, DeliveryRow.status == "delivered") == 3
    assert await count(doomed, DeliveryRow, DeliveryRow.attempts == 1) == 3
