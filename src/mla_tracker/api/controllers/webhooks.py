"""Webhook subscriptions (the agency's own) and the operator's re-drive of dead deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from ...storage.event_tables import WebhookRow
from ...workflows import subscriptions as wf
from ...workflows.context import Context
from ...workflows.errors import Forbidden
from ...workflows.events import EventType
from ...workflows.principals import Principal
from ...workflows.webhooks import WebhookConfig
from ..openapi import raises

#: Where create_app keeps the webhook configuration, in the application state.
STATE_KEY = "webhook_config"
_DAY = 86_400
#: Ids fit a 64-bit column; a larger one would fail in the driver as a 500.
_MAX_ID = 2**63 - 1


def config_in_force(state: State) -> WebhookConfig:
    """The webhook settings the app was built with."""
    config: WebhookConfig = state.get(STATE_KEY, WebhookConfig())
    return config


class NewWebhook(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Subscribe to your agency's events."""

    url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=2048,
            description="https:// URL the hub posts each event to (Standard Webhooks)",
        ),
    ]
    event_types: Annotated[
        list[EventType], msgspec.Meta(max_length=8, description="empty: every event type")
    ] = []


class RotateSecret(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Issue a new secret; the current one keeps signing beside it for the overlap."""

    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=7 * _DAY)] = _DAY


class WebhookOut(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription (never its secret)."""

    id: uuid.UUID
    url: str
    event_types: list[EventType]
    created_at: datetime
    secret_rotated_at: datetime | None
    #: Until when the secret before the last rotation still signs, if it does.
    previous_secret_expires_at: datetime | None


class WebhookIssued(WebhookOut, frozen=True, kw_only=True):
    """A subscription with its new secret: shown this once, keep it."""

    secret: str


class DeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery of one event to one subscription."""

    id: int
    event_id: int | None
    event_type: str
    #: The `webhook-id` header, the same on every attempt.
    message_id: str
    #: pending, delivered or dead.
    status: str
    attempts: int
    #: The last answer's HTTP status, or None when there was none (see last_error).
    last_status: int | None
    last_error: str | None
    #: When it is tried next (while an attempt is in flight: when its lease ends).
    next_attempt_at: datetime | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


class DeliveryPageOut(msgspec.Struct, frozen=True):
    """A page of the delivery log, newest first."""

    items: list[DeliveryOut]
    #: Pass as `cursor` for the next (older) page; None on the last.
    next_cursor: int | None


def webhook_out(row: WebhookRow) -> WebhookOut:
    """Map a subscription, leaving its secrets behind."""
    return WebhookOut(**_fields(row))


def _fields(row: WebhookRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "event_types": [EventType(t) for t in row.event_types],
        "created_at": row.created_at,
        "secret_rotated_at": row.secret_rotated_at,
        "previous_secret_expires_at": row.previous_secret_until if row.previous_secret else None,
    }


def delivery_out(view: wf.DeliveryView) -> DeliveryOut:
    """Map a delivery with its event."""
    d = view.delivery
    return DeliveryOut(
        id=d.id,
        event_id=view.event_position,
        event_type=view.event_type,
        message_id=d.message_id,
        status=d.status,
        attempts=d.attempts,
        last_status=d.last_status,
        last_error=d.last_error,
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        last_attempt_at=d.last_attempt_at,
        delivered_at=d.delivered_at,
    )


class WebhookController(Controller):
    """`/v1/webhooks`."""

    path = "/v1/webhooks"
    tags = ("notifications",)

    @post("/", opt=raises(Forbidden, wf.InvalidWebhook))
    async def subscribe(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        state: State,
        data: JSONBody[NewWebhook],
    ) -> WebhookIssued:
        """Subscribe your agency (https only); the answer shows the secret, this once."""
        issued = await wf.create(
            ctx,
            principal,
            url=data.url,
            event_types=data.event_types,
            allow_loopback_http=config_in_force(state).allow_loopback_http,
        )
        return WebhookIssued(**_fields(issued.webhook), secret=issued.secret)

    @get("/", opt=raises(Forbidden))
    async def list_webhooks(
        self, ctx: NamedDependency[Context], principal: NamedDependency[Principal]
    ) -> list[WebhookOut]:
        """Your agency's subscriptions."""
        return [webhook_out(r) for r in await wf.listed(ctx, principal)]

    @get("/{webhook_id:uuid}", opt=raises(Forbidden))
    async def show(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        webhook_id: FromPath[uuid.UUID],
    ) -> WebhookOut:
        """One of your agency's subscriptions (another agency's is 404)."""
        return webhook_out(await wf.show(ctx, principal, webhook_id))

    @delete("/{webhook_id:uuid}", status_code=200, opt=raises(Forbidden))
    async def remove(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        webhook_id: FromPath[uuid.UUID],
    ) -> WebhookOut:
        """Delete a subscription and its delivery log; answers what was deleted."""
        return webhook_out(await wf.remove(ctx, principal, webhook_id))

    @post("/{webhook_id:uuid}/rotate-secret", status_code=200, opt=raises(Forbidden))
    async def rotate_secret(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        webhook_id: FromPath[uuid.UUID],
        data: JSONBody[RotateSecret],
    ) -> WebhookIssued:
        """A new secret (shown this once); deliveries carry both signatures for the overlap."""
        overlap = timedelta(seconds=data.overlap_seconds)
        issued = await wf.rotate(ctx, principal, webhook_id, overlap)
        return WebhookIssued(**_fields(issued.webhook), secret=issued.secret)

    @get("/{webhook_id:uuid}/deliveries", opt=raises(Forbidden))
    async def deliveries(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        webhook_id: FromPath[uuid.UUID],
        cursor: Annotated[int | None, QueryParameter(ge=1, le=_MAX_ID)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> DeliveryPageOut:
        """The subscription's delivery log, newest first: attempts, status, last answer."""
        page = await wf.deliveries(ctx, principal, webhook_id, before=cursor, limit=limit)
        return DeliveryPageOut([delivery_out(v) for v in page.items], page.next_cursor)

    @post(
        "/deliveries/{delivery_id:int}/redrive",
        status_code=200,
        opt=raises(Forbidden, wf.NotDead),
    )
    async def redrive(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        delivery_id: Annotated[int, PathParameter(ge=1, le=_MAX_ID)],
    ) -> Response[DeliveryOut]:
        """Operator: a dead delivery goes back to pending with its attempts reset."""
        return Response(delivery_out(await wf.redrive(ctx, principal, delivery_id)))
