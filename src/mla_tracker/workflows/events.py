"""Events: queued with each accepted statement, published in commit order, read by agencies.

`statement_accepted` runs inside the statement's transaction and inserts one event per
party agency (metadata only: bodies are confidential and webhooks leave the hub). Nothing
is locked there. `publish` then gives committed events dense positions, the ids agencies
resume from, and fans them out to webhook deliveries; one publisher at a time (a PostgreSQL
advisory lock, SQLite's single writer), so positions are handed out in commit order, each
range visible before the next, and an event is fanned out once however many dispatchers and
stream readers call it (docs/notifications.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, cast

import msgspec
from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.event_tables import DeliveryRow, EventRow, WebhookRow
from ..storage.tables import StatementRow
from .context import Context
from .errors import Forbidden
from .principals import Principal

#: The advisory lock key of the publisher ("mla-evts" in ASCII).
_LOCK_KEY = 0x6D6C612D65767473
#: Events published per transaction.
BATCH = 1000
#: The hub's own statements are signed by this actor (workflows/deadlines' worker).
SERVER_ACTOR = "server"


class EventType(StrEnum):
    """What happened: an agency's accepted statement, or one of the hub's own moves."""

    STATEMENT_ACCEPTED = "statement.accepted"
    DEADLINE_WARNING = "deadline.warning"
    DEADLINE_MISSED = "deadline.missed"
    PRESERVATION_EXPIRED = "preservation.expired"


#: The hub's actions and their event types (strings: the domain's enum grows elsewhere).
_HUB_ACTIONS: Mapping[str, EventType] = {
    "deadline_warning": EventType.DEADLINE_WARNING,
    "deadline_missed": EventType.DEADLINE_MISSED,
    "expire": EventType.PRESERVATION_EXPIRED,
}


def event_type(action: str, actor: str) -> EventType:
    """The event type of an accepted statement."""
    if actor == SERVER_ACTOR:
        return _HUB_ACTIONS.get(action, EventType.STATEMENT_ACCEPTED)
    return EventType.STATEMENT_ACCEPTED


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """An event's data: the statement's metadata, never its body."""

    request_id: uuid.UUID
    seq: int
    action: str
    actor: str
    digest: str
    #: The request's state after the statement.
    state: str
    received_at: datetime
    #: The statement's signed `meta` (kind, urgency, requested/executing agency, deadline).
    meta: dict[str, str]


class _MetaOnly(msgspec.Struct):
    meta: dict[str, str] = {}


_meta = msgspec.json.Decoder(_MetaOnly)
_encode = msgspec.json.Encoder().encode


class RequestParties(Protocol):
    """Who is party to a request: a RequestRow, or its values after a move (`after_move`)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def requesting_agency(self) -> str: ...
    @property
    def requested_agency(self) -> str: ...
    @property
    def executing_agency(self) -> str | None: ...


@dataclass(frozen=True)
class Parties:
    """A request's parties as they stand after a move not yet applied to the loaded row."""

    id: uuid.UUID
    requesting_agency: str
    requested_agency: str
    executing_agency: str | None


def after_move(request: RequestParties, values: Mapping[str, Any]) -> Parties:
    """The parties once `values` (the projection's UPDATE) apply: `assign` names an executor."""
    return Parties(
        request.id,
        request.requesting_agency,
        request.requested_agency,
        values.get("executing_agency", request.executing_agency),
    )


_INSERT_EVENT = insert(cast(Table, EventRow.__table__))


def accepted_rows(
    *, request: RequestParties, statement: StatementRow, state: str
) -> list[dict[str, Any]]:
    """The events of an accepted statement: one per party agency, metadata only."""
    payload = _encode(
        Payload(
            request_id=statement.request_id,
            seq=statement.seq,
            action=statement.action,
            actor=statement.actor,
            digest=statement.digest,
            state=state,
            received_at=statement.received_at,
            meta=_meta.decode(statement.payload).meta,
        )
    ).decode()
    kind = event_type(statement.action, statement.actor).value
    parties = (request.requesting_agency, request.requested_agency, request.executing_agency)
    return [
        {
            "agency_id": agency,
            "request_id": statement.request_id,
            "type": kind,
            "payload": payload,
            "created_at": statement.received_at,
        }
        for agency in dict.fromkeys(p for p in parties if p)
    ]


async def statement_accepted(
    session: AsyncSession, *, request: RequestParties, statement: StatementRow, state: str
) -> None:
    """Inside the statement's transaction: one event per party agency, metadata only."""
    rows = accepted_rows(request=request, statement=statement, state=state)
    # A Core INSERT built once (no ORM bookkeeping, no statement rebuilt per call).
    await session.execute(_INSERT_EVENT, rows)


async def _take_lock(session: AsyncSession) -> bool:
    if (await session.connection()).dialect.name != "postgresql":
        return True  # SQLite: the write transaction (BEGIN IMMEDIATE) is the lock
    taken = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    return bool(taken)


async def publish(ctx: Context, *, batch: int = BATCH) -> int:
    """Give committed events their positions and fan them out to deliveries; how many."""
    async with transaction(ctx.sessions, write=False) as session:
        # Look before taking SQLite's write lock: an idle hub should not contend with appends.
        waiting = await session.scalar(
            select(EventRow.id).where(EventRow.position.is_(None)).limit(1)
        )
    if waiting is None:
        return 0
    async with transaction(ctx.sessions, write=True) as session:
        if not await _take_lock(session):
            return 0  # another process is publishing these right now
        rows = (
            await session.execute(
                select(EventRow.id, EventRow.agency_id, EventRow.type)
                .where(EventRow.position.is_(None))
                .order_by(EventRow.id)
                .limit(batch)
            )
        ).all()
        if not rows:
            return 0
        top = await session.scalar(select(func.max(EventRow.position))) or 0
        await session.execute(
            update(EventRow),
            [{"id": row.id, "position": top + 1 + n} for n, row in enumerate(rows)],
        )
        await _fan_out(session, rows, ctx.clock())
    return len(rows)


async def _fan_out(session: AsyncSession, events: Sequence[Any], now: datetime) -> None:
    agencies = {e.agency_id for e in events}
    hooks = (
        await session.execute(
            select(WebhookRow.id, WebhookRow.agency_id, WebhookRow.event_types).where(
                WebhookRow.agency_id.in_(agencies)
            )
        )
    ).all()
    if not hooks:
        return
    wanted: dict[str, list[tuple[uuid.UUID, set[str]]]] = {}
    for hook in hooks:
        wanted.setdefault(hook.agency_id, []).append((hook.id, set(hook.event_types)))
    deliveries = [
        {
            "webhook_id": hook_id,
            "event_id": event.id,
            "message_id": "msg_" + uuid.uuid4().hex,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event in events
        for hook_id, types in wanted.get(event.agency_id, ())
        if not types or event.type in types
    ]
    if deliveries:
        await session.execute(insert(DeliveryRow), deliveries)


def reader(principal: Principal) -> str:
    """The agency whose events the caller reads; the operator and auditors have none."""
    if principal.agency_id is None:
        raise Forbidden("events are an agency's own; the operator has none")
    if principal.is_auditor:
        raise Forbidden("auditors are party to no request, so they receive no events")
    return principal.agency_id


async def events_after(ctx: Context, agency_id: str, after: int, limit: int) -> Sequence[EventRow]:
    """An agency's published events after a position, oldest first."""
    async with transaction(ctx.sessions, write=False) as session:
        found = await session.scalars(
            select(EventRow)
            .where(EventRow.agency_id == agency_id, EventRow.position > after)
            .order_by(EventRow.position)
            .limit(limit)
        )
        return found.all()


async def session_alive(ctx: Context, principal: Principal) -> bool:
    """Whether the caller's session still holds (not logged out, expired or its key revoked)."""
    if principal.token_hash is None:
        return True
    async with transaction(ctx.sessions, write=False) as session:
        found = await repo.session_principal(session, principal.token_hash)
    if found is None:
        return False
    now = ctx.clock()
    if found.revoked_at is not None or (found.expires_at is not None and found.expires_at <= now):
        return False
    return found.key_revoked_at is None or found.key_revoked_at > now
