"""The webhook dispatcher: publish events, claim due deliveries, send them signed, record.

`dispatch_once` is one tick of a worker (`mla worker`, or the one `mla serve` runs). Each
tick publishes new events (fanning them out into delivery rows, workflows/events.py),
claims up to `limit` due deliveries with a lease in one short transaction (`FOR UPDATE
SKIP LOCKED` on PostgreSQL; SQLite serialises writers), sends them outside any
transaction, then records each outcome only if its claim is still the one in force. A
dispatcher that dies after claiming loses nothing: the lease ends, the delivery is due
again and another dispatcher sends it (at least once; receivers drop repeats by
`webhook-id`). Signatures follow the Standard Webhooks specification, made by the
`standardwebhooks` package itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import msgspec
from sqlalchemy import Table, bindparam, select, update
from standardwebhooks import Webhook

from ..storage.db import transaction
from ..storage.event_tables import DeliveryRow, EventRow, WebhookRow
from . import events
from .context import Context

# Part of this module's interface (dispatch_once takes a config), kept in a module of its own
# so that the Context can carry one without importing the dispatcher.
from .webhook_config import CONCURRENCY as CONCURRENCY
from .webhook_config import WebhookConfig as WebhookConfig

log = logging.getLogger("mla_tracker.webhooks")

USER_AGENT = "mla-tracker-webhooks/1"


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt, with everything needed to send it."""

    id: int
    token: str
    attempts: int
    message_id: str
    url: str
    secrets: Sequence[str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    claimed: Claimed
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """A 2xx answer; anything else is retried."""
        return self.status is not None and 200 <= self.status < 300


class WebhookBody(msgspec.Struct, frozen=True):
    """A delivery's JSON body, in the shape the Standard Webhooks specification suggests."""

    type: str
    timestamp: datetime
    #: The event's position, as in the SSE stream and `GET /v1/events`.
    event_id: int
    data: msgspec.Raw


def body_of(event: EventRow) -> bytes:
    """The exact bytes sent for an event (its stored payload embedded unchanged)."""
    assert event.position is not None
    return msgspec.json.encode(
        WebhookBody(event.type, event.created_at, event.position, msgspec.Raw(event.payload))
    )


def sign(message_id: str, secrets: Sequence[str], body: bytes, at: int) -> dict[str, str]:
    """The Standard Webhooks headers: one `v1,<sig>` per secret, space-separated."""
    when = datetime.fromtimestamp(at, UTC)
    text = body.decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(at),
        "webhook-signature": " ".join(Webhook(s).sign(message_id, when, text) for s in secrets),
    }


async def dispatch_once(
    ctx: Context, *, owner: str, limit: int = 100, config: WebhookConfig | None = None
) -> int:
    """One dispatcher tick: publish, claim due deliveries, send, record; how many were sent.

    `config` defaults to the Context's (the process's MLA_WEBHOOK_* settings).
    """
    config = config or ctx.webhooks
    await events.publish(ctx)
    claimed = await claim(ctx, owner=owner, limit=limit, lease=config.lease(limit))
    if not claimed:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)
    # No redirects: a 3xx is a failed attempt, never a hop to an address nobody checked.
    async with httpx.AsyncClient(
        timeout=config.timeout_seconds,
        follow_redirects=False,
        headers={"user-agent": USER_AGENT, "content-type": "application/json"},
    ) as http:

        async def one(c: Claimed) -> Outcome:
            async with gate:
                return await send(http, c)

        outcomes = await asyncio.gather(*(one(c) for c in claimed))
    await record(ctx, outcomes, config)
    return len(claimed)


async def claim(ctx: Context, *, owner: str, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` due deliveries for one attempt each, committed before returning."""
    now = ctx.clock()
    token = f"{owner[:64]}/{uuid.uuid4().hex[:16]}"
    due = (
        select(DeliveryRow.id)
        .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
        .order_by(DeliveryRow.next_attempt_at)
        .limit(limit)
    )
    async with transaction(ctx.sessions, write=False) as session:
        # Look before taking SQLite's write lock: an idle tick should not contend with appends.
        if await session.scalar(due.limit(1)) is None:
            return []
    async with transaction(ctx.sessions, write=True) as session:
        # PostgreSQL: two dispatchers take disjoint rows. SQLite drops the clause; its write
        # transaction (BEGIN IMMEDIATE) serialises claims instead.
        ids = list(await session.scalars(due.with_for_update(skip_locked=True)))
        if not ids:
            return []
        await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(ids))
            .values(lease_owner=token, next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        rows = (
            await session.execute(
                select(DeliveryRow, EventRow, WebhookRow)
                .join(EventRow, EventRow.id == DeliveryRow.event_id)
                .join(WebhookRow, WebhookRow.id == DeliveryRow.webhook_id)
                .where(DeliveryRow.id.in_(ids))
                .order_by(DeliveryRow.id)
            )
        ).all()
        return [
            Claimed(
                id=d.id,
                token=token,
                attempts=d.attempts,
                message_id=d.message_id,
                url=w.url,
                secrets=w.secrets_at(now),
                body=body_of(e),
            )
            for d, e, w in rows
        ]


async def send(http: httpx.AsyncClient, claimed: Claimed) -> Outcome:
    """One attempt: POST the signed body; never raises."""
    # The wall clock, not ctx.clock: receivers check the timestamp against theirs (±5 min).
    headers = sign(claimed.message_id, claimed.secrets, claimed.body, int(time.time()))
    try:
        response = await http.post(claimed.url, content=claimed.body, headers=headers)
    except httpx.TimeoutException:
        return Outcome(claimed, None, "timeout")
    except httpx.HTTPError as exc:
        # The class and message only: no URL, header or body.
        return Outcome(claimed, None, f"{exc.__class__.__name__}: {exc}"[:300])
    return Outcome(claimed, response.status_code, None)


async def record(ctx: Context, outcomes: Sequence[Outcome], config: WebhookConfig) -> None:
    """Store each outcome, unless its claim has lapsed and another dispatcher took it."""
    now = ctx.clock()
    params: list[dict[str, Any]] = []
    for o in outcomes:
        attempts = o.claimed.attempts + 1
        dead = not o.delivered and attempts >= config.max_attempts
        values = {
            "status": "delivered" if o.delivered else "dead" if dead else "pending",
            "attempts": attempts,
            "next_attempt_at": None if o.delivered or dead else now + config.backoff(attempts),
            "lease_owner": None,
            "last_status": o.status,
            "last_error": o.error,
            "last_attempt_at": now,
            "delivered_at": now if o.delivered else None,
        }
        params.append(
            {"b_id": o.claimed.id, "b_token": o.claimed.token}
            | {f"v_{k}": v for k, v in values.items()}
        )
        if dead:
            log.warning("webhook delivery %d is dead after %d attempts", o.claimed.id, attempts)
    if not params:
        return
    table = cast(Table, DeliveryRow.__table__)
    # A Core executemany: the claim's token in the WHERE makes a lapsed claim a no-op.
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.lease_owner == bindparam("b_token"))
        .values({name: bindparam(f"v_{name}") for name in values})
    )
    async with transaction(ctx.sessions, write=True) as session:
        await session.execute(statement, params)
