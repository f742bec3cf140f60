"""Webhook subscriptions: an agency manages its own; the operator re-drives dead deliveries.

A subscription's secret is shown once, when it is made or rotated. It is stored as issued:
an HMAC is computed with the secret itself, so it cannot be kept as a hash the way bearer
tokens are (docs/notifications.md). No read answer carries it.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..storage.db import transaction
from ..storage.event_tables import DeliveryRow, EventRow, WebhookRow
from .context import Context
from .errors import Forbidden, NotFound, WorkflowError
from .events import EventType
from .principals import Principal

SECRET_PREFIX = "whsec_"
#: Random bytes in a secret (Standard Webhooks: 24 to 64).
SECRET_BYTES = 32
#: Subscriptions one agency may hold.
MAX_PER_AGENCY = 20
#: How long the previous secret keeps signing after a rotation, at most (and by default).
MAX_OVERLAP = timedelta(days=7)
DEFAULT_OVERLAP = timedelta(hours=24)


class InvalidWebhook(WorkflowError):
    """A subscription field the hub cannot accept; the problem names the field."""

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "invalid-webhook"
    title: ClassVar[str] = "Invalid webhook subscription"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field

    def extra(self) -> dict[str, Any]:
        """Name the offending field."""
        return {"field": self.field}


class NotDead(WorkflowError):
    """Only a dead delivery can be re-driven; a pending one is still being tried."""

    status: ClassVar[int] = 409
    problem: ClassVar[str] = "delivery-not-dead"
    title: ClassVar[str] = "Delivery not dead"


@dataclass(frozen=True)
class Issued:
    """A subscription and the secret just issued for it (shown this once)."""

    webhook: WebhookRow
    secret: str


@dataclass(frozen=True)
class DeliveryView:
    """A delivery with the event it carries."""

    delivery: DeliveryRow
    event_position: int | None
    event_type: str


@dataclass(frozen=True)
class DeliveryPage:
    """A page of a subscription's delivery log, newest first."""

    items: Sequence[DeliveryView]
    next_cursor: int | None


def new_secret() -> str:
    """A fresh `whsec_<base64>` secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _owner(principal: Principal) -> str:
    if principal.agency_id is None:
        raise Forbidden("subscriptions are an agency's own; log in as the agency")
    if principal.is_auditor:
        raise Forbidden("auditors are party to no request, so they receive no events")
    return principal.agency_id


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_loopback_http: bool) -> str:
    """The URL if the hub may post to it: https, or http to loopback when the operator allows."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise InvalidWebhook("url", f"not a URL ({exc})") from exc
    if not host:
        raise InvalidWebhook("url", "needs a host, as in https://hooks.example.org/mla")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhook("url", "no credentials in the URL: verify the signature instead")
    if parts.fragment:
        raise InvalidWebhook("url", "no fragment (#…): it is never sent")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_loopback_http and _is_loopback(host):
        return url
    allowed = " (or http:// to a loopback address)" if allow_loopback_http else ""
    raise InvalidWebhook("url", f"deliveries go to https:// URLs only{allowed}, not {url!r}")


async def _mine(session: AsyncSession, agency_id: str, webhook_id: uuid.UUID) -> WebhookRow:
    found = await session.get(WebhookRow, webhook_id)
    if found is None or found.agency_id != agency_id:
        raise NotFound(f"no webhook {webhook_id}")  # someone else's looks the same
    return found


async def create(
    ctx: Context,
    principal: Principal,
    *,
    url: str,
    event_types: Sequence[EventType],
    allow_loopback_http: bool,
) -> Issued:
    """Subscribe the caller's agency; events published from now on are delivered."""
    agency_id = _owner(principal)
    check_url(url, allow_loopback_http=allow_loopback_http)
    secret = new_secret()
    async with transaction(ctx.sessions, write=True) as session:
        held = await session.scalar(
            select(func.count()).select_from(WebhookRow).where(WebhookRow.agency_id == agency_id)
        )
        if (held or 0) >= MAX_PER_AGENCY:
            raise InvalidWebhook("url", f"an agency holds at most {MAX_PER_AGENCY} webhooks")
        row = WebhookRow(
            id=uuid.uuid4(),
            agency_id=agency_id,
            url=url,
            event_types=sorted({t.value for t in event_types}),
            secret=secret,
            created_at=ctx.clock(),
        )
        session.add(row)
    return Issued(row, secret)


async def listed(ctx: Context, principal: Principal) -> Sequence[WebhookRow]:
    """The caller's subscriptions, oldest first."""
    agency_id = _owner(principal)
    async with transaction(ctx.sessions, write=False) as session:
        found = await session.scalars(
            select(WebhookRow)
            .where(WebhookRow.agency_id == agency_id)
            .order_by(WebhookRow.created_at, WebhookRow.id)
        )
        return found.all()


async def show(ctx: Context, principal: Principal, webhook_id: uuid.UUID) -> WebhookRow:
    """One of the caller's subscriptions."""
    agency_id = _owner(principal)
    async with transaction(ctx.sessions, write=False) as session:
        return await _mine(session, agency_id, webhook_id)


async def remove(ctx: Context, principal: Principal, webhook_id: uuid.UUID) -> WebhookRow:
    """Delete a subscription with its delivery log; nothing more is sent to it."""
    agency_id = _owner(principal)
    async with transaction(ctx.sessions, write=True) as session:
        row = await _mine(session, agency_id, webhook_id)
        await session.execute(delete(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id))
        await session.delete(row)
    return row


async def rotate(
    ctx: Context, principal: Principal, webhook_id: uuid.UUID, overlap: timedelta
) -> Issued:
    """Issue a new secret; the current one keeps signing too until `overlap` has passed."""
    agency_id = _owner(principal)
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidWebhook("overlap_seconds", f"from 0 to {int(MAX_OVERLAP.total_seconds())}")
    secret = new_secret()
    now = ctx.clock()
    async with transaction(ctx.sessions, write=True) as session:
        row = await _mine(session, agency_id, webhook_id)
        # A rotation within an overlap drops the oldest secret: two sign at most.
        row.previous_secret = row.secret if overlap else None
        row.previous_secret_until = now + overlap if overlap else None
        row.secret = secret
        row.secret_rotated_at = now
    return Issued(row, secret)


async def deliveries(
    ctx: Context,
    principal: Principal,
    webhook_id: uuid.UUID,
    *,
    before: int | None,
    limit: int,
) -> DeliveryPage:
    """A subscription's delivery log, newest first; `before` is the previous page's cursor."""
    agency_id = _owner(principal)
    async with transaction(ctx.sessions, write=False) as session:
        await _mine(session, agency_id, webhook_id)
        query = (
            select(DeliveryRow, EventRow.position, EventRow.type)
            .join(EventRow, EventRow.id == DeliveryRow.event_id)
            .where(DeliveryRow.webhook_id == webhook_id)
            .order_by(DeliveryRow.id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            query = query.where(DeliveryRow.id < before)
        rows = (await session.execute(query)).all()
    items = [DeliveryView(d, position, kind) for d, position, kind in rows[:limit]]
    more = len(rows) > limit
    return DeliveryPage(items, items[-1].delivery.id if more and items else None)


async def redrive(ctx: Context, principal: Principal, delivery_id: int) -> DeliveryView:
    """Operator: send a dead delivery again, from a fresh count of attempts."""
    if not principal.is_operator:
        raise Forbidden("only the hub operator re-drives deliveries")
    async with transaction(ctx.sessions, write=True) as session:
        found = (
            await session.execute(
                select(DeliveryRow, EventRow.position, EventRow.type)
                .join(EventRow, EventRow.id == DeliveryRow.event_id)
                .where(DeliveryRow.id == delivery_id)
            )
        ).one_or_none()
        if found is None:
            raise NotFound(f"no delivery {delivery_id}")
        row, position, kind = found
        if row.status != "dead":
            raise NotDead(f"delivery {delivery_id} is {row.status}; only a dead one is re-driven")
        await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=ctx.clock(), lease_owner=None)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(row)
    return DeliveryView(row, position, kind)
