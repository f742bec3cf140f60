"""An agency's events: a page to poll, or a server-sent-events stream that resumes.

Both read the events table only, so they work across server processes that share nothing
but the database. The stream polls it (every POLL_SECONDS), publishing first, and ends
when the session does (logout, expiry, key revoked); the client reconnects with
`Last-Event-ID` and misses nothing.

Schemathesis (tests/e2e/test_openapi_live.py) calls the stream with the operator's token
only, which is refused (403) before any stream opens; with an agency's token a stream never
ends by itself, so it must not be given one there without a bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from ...storage.event_tables import EventRow
from ...workflows import events
from ...workflows.context import Context
from ...workflows.errors import Forbidden, InvalidQuery
from ...workflows.events import EventType, Payload
from ...workflows.principals import Principal
from ..openapi import raises

#: Positions fit a 64-bit column; a larger one would fail in the driver as a 500.
_MAX_ID = 2**63 - 1
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
#: How often an open stream checks that its session still holds.
SESSION_CHECK_SECONDS = 60.0
#: Events read per query while catching up.
PAGE = 200


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    """One event of your agency: its position (the id to resume after), type and data."""

    id: int
    type: EventType
    created_at: datetime
    data: Payload


class EventPage(msgspec.Struct, frozen=True):
    """Events after `after`, oldest first."""

    items: list[EventOut]
    #: Pass as `after` to poll for what comes next (the last item's id, or `after` itself).
    next_after: int


def event_out(row: EventRow) -> EventOut:
    """Map a published event."""
    assert row.position is not None  # only published events are read
    data = msgspec.json.decode(row.payload, type=Payload)
    return EventOut(id=row.position, type=EventType(row.type), created_at=row.created_at, data=data)


def resume_point(last_event_id: str | None, after: int | None) -> int:
    """Where a stream starts: after Last-Event-ID (a reconnect) or `after`, else from 0."""
    if last_event_id is None:
        return after or 0
    value = last_event_id.strip()
    if not value.isascii() or not value.isdigit() or int(value) > _MAX_ID:
        raise InvalidQuery(f"Last-Event-ID must be an event id (a whole number), not {value!r}")
    return int(value)


async def _stream(
    ctx: Context, principal: Principal, agency_id: str, after: int
) -> AsyncIterator[ServerSentEventMessage]:
    loop = asyncio.get_running_loop()
    # Sent at once so the client (and any proxy) sees the stream open before the first event.
    yield ServerSentEventMessage(comment="mla-tracker events", data=None, retry=2000)
    last_sent = checked = loop.time()
    while True:
        await events.publish(ctx)
        rows = await events.events_after(ctx, agency_id, after, PAGE)
        for row in rows:
            assert row.position is not None
            after = row.position
            yield ServerSentEventMessage(data=row.payload, event=row.type, id=row.position)
        now = loop.time()
        if rows:
            last_sent = now
            if len(rows) == PAGE:
                continue  # catching up: no pause
        elif now - last_sent >= HEARTBEAT_SECONDS:
            yield ServerSentEventMessage(comment="heartbeat", data=None)
            last_sent = now
        if now - checked >= SESSION_CHECK_SECONDS:
            if not await events.session_alive(ctx, principal):
                return  # the client must log in again before it reconnects
            checked = now
        await asyncio.sleep(POLL_SECONDS)


class EventController(Controller):
    """`/v1/events`."""

    path = "/v1/events"
    tags = ("notifications",)

    @get("/", opt=raises(Forbidden))
    async def list_events(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        after: Annotated[int, QueryParameter(ge=0, le=_MAX_ID)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> EventPage:
        """Your agency's events after `after`, oldest first (poll with `next_after`)."""
        agency_id = events.reader(principal)
        await events.publish(ctx)
        rows = await events.events_after(ctx, agency_id, after, limit)
        items = [event_out(r) for r in rows]
        return EventPage(items, items[-1].id if items else after)

    @get("/stream", opt=raises(Forbidden, InvalidQuery), media_type="text/event-stream")
    async def stream(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        last_event_id: Annotated[str | None, HeaderParameter(name="last-event-id")] = None,
        after: Annotated[int | None, QueryParameter(ge=0, le=_MAX_ID)] = None,
    ) -> ServerSentEvent:
        """Your agency's events as server-sent events: `id:` the event id, `event:` its type,
        `data:` its JSON. Resumes after `Last-Event-ID` (or `?after=`); heartbeats every 15 s.
        """
        agency_id = events.reader(principal)
        start = resume_point(last_event_id, after)
        return ServerSentEvent(_stream(ctx, principal, agency_id, start))
