"""Read use cases for deadlines: computed on read from the statement timeline, never stored.

Each request's deadlines come from its accepted statements (received_at, action, actor),
the agencies' countries and zones, and the rules in force (built-in, or the operator's
MLA_DEADLINES_FILE over them), at the frozen `ctx.clock()`. Auditors read metadata only:
their deadlines ignore the requester's `respond_by` and omit preservation expiry, whose
date is in a body.

The list computes every visible request's deadlines, then filters, sorts and pages them:
fine at the scale of a central authority's caseload. The worker does not sweep this way:
it keeps due rows with an index (workflows/deadline_worker.py) and computes one request's
deadlines with `compute_for` when a row comes due.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import content as c
from ..domain.bodies import decode_body
from ..domain.calendars import Calendar
from ..domain.deadline_clock import Deadline, Side, Status, Step, compute
from ..domain.deadlines import DEFAULTS, DeadlineRules
from ..domain.model import Action, Kind, Party, Urgency
from ..domain.transitions import TERMINAL
from ..storage.db import transaction
from ..storage.tables import AgencyRow, RequestRow, StatementRow
from .context import Context
from .errors import Forbidden, InvalidQuery
from .principals import Principal
from .queries import reads_bodies, visible_request

#: Statements whose body carries a date the clock needs (a preservation's `until`).
_DATED = {Action.PRESERVE: c.Preservation, Action.EXTEND: c.Extension}
_FAR = datetime.max.replace(tzinfo=UTC)
_CHUNK = 500
T = TypeVar("T")


@dataclass(frozen=True)
class RequestDeadlines:
    """One request's deadlines as one caller may see them."""

    request: RequestRow
    deadlines: Sequence[Deadline]


@dataclass(frozen=True)
class Listed:
    """One deadline in the cross-request list, with its request."""

    request: RequestRow
    deadline: Deadline


@dataclass(frozen=True)
class DeadlinePage:
    """A page of deadlines, soonest due first, and the cursor of the next page."""

    items: Sequence[Listed]
    next_cursor: str | None


def _reader(principal: Principal) -> None:
    if principal.is_operator or principal.agency_id is None:
        raise Forbidden("the operator manages agencies and cannot read requests")


async def deadlines_of(
    ctx: Context, principal: Principal, request_id: uuid.UUID, rules: DeadlineRules = DEFAULTS
) -> RequestDeadlines:
    """A request's deadlines for its parties and auditors (else NotFound)."""
    _reader(principal)
    bodies = reads_bodies(principal)
    async with transaction(ctx.sessions, write=False) as session:
        row = await visible_request(session, principal, request_id)
        found = await compute_for(session, [row], rules, ctx.clock(), bodies)
    return RequestDeadlines(row, found[row.id])


async def list_deadlines(
    ctx: Context,
    principal: Principal,
    *,
    responsible_agency: str | None = None,
    status: Status | None = None,
    due_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
    rules: DeadlineRules = DEFAULTS,
) -> DeadlinePage:
    """Deadlines of every request the caller may see, filtered, soonest due first."""
    _reader(principal)
    if due_before is not None and due_before.tzinfo is None:
        raise InvalidQuery("due_before needs a UTC offset or 'Z'")
    after = _decode_cursor(cursor) if cursor else None
    bodies = reads_bodies(principal)
    party = None if principal.is_auditor else principal.agency_id
    async with transaction(ctx.sessions, write=False) as session:
        query = select(RequestRow)
        for agency in (party, responsible_agency):
            if agency is not None:
                query = query.where(
                    or_(
                        RequestRow.requesting_agency == agency,
                        RequestRow.requested_agency == agency,
                        RequestRow.executing_agency == agency,
                    )
                )
        if status is Status.PENDING:  # a request at rest owes nothing
            closed = {s.value for states in TERMINAL.values() for s in states}
            query = query.where(RequestRow.state.not_in(closed))
        requests = (await session.scalars(query)).all()
        found = await compute_for(session, requests, rules, ctx.clock(), bodies)
    listed = [
        Listed(row, d)
        for row in requests
        for d in found[row.id]
        if (responsible_agency is None or d.responsible_agency == responsible_agency)
        and (status is None or d.status is status)
        and (due_before is None or (d.due_at is not None and d.due_at < due_before))
    ]
    listed.sort(key=_key)
    if after is not None:
        listed = [item for item in listed if _key(item) > after]
    page = listed[:limit]
    more = len(listed) > limit
    return DeadlinePage(page, _encode_cursor(_key(page[-1])) if more and page else None)


def _key(item: Listed) -> tuple[datetime, str, str]:
    # A stopped clock has no due time yet: it sorts after every running one.
    return (item.deadline.due_at or _FAR, str(item.request.id), item.deadline.id)


def _encode_cursor(key: tuple[datetime, str, str]) -> str:
    raw = "|".join((key[0].isoformat(), key[1], key[2])).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, rid, did = raw.split("|")
        due = datetime.fromisoformat(when)
        if due.tzinfo is None:
            raise ValueError("naive")
        return due, str(uuid.UUID(rid)), did
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidQuery("cursor is not one this server issued") from exc


async def compute_for(
    session: AsyncSession,
    requests: Sequence[RequestRow],
    rules: DeadlineRules,
    now: datetime,
    bodies: bool,
) -> dict[uuid.UUID, list[Deadline]]:
    """Every request's deadlines at `now`, loading timelines, dates and agencies in batches."""
    ids = [r.id for r in requests]
    timelines: dict[uuid.UUID, list[tuple[int, str, str, datetime]]] = {i: [] for i in ids}
    untils: dict[tuple[uuid.UUID, int], date | None] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(
            select(
                StatementRow.request_id,
                StatementRow.seq,
                StatementRow.action,
                StatementRow.actor,
                StatementRow.received_at,
            )
            .where(StatementRow.request_id.in_(chunk))
            .order_by(StatementRow.request_id, StatementRow.seq)
        )
        for rid, seq, action, actor, received in rows:
            timelines[rid].append((seq, action, actor, received))
        if bodies:
            dated = await session.execute(
                select(
                    StatementRow.request_id,
                    StatementRow.seq,
                    StatementRow.action,
                    StatementRow.body,
                )
                .where(StatementRow.request_id.in_(chunk))
                .where(StatementRow.action.in_([a.value for a in _DATED]))
            )
            for rid, seq, action, body in dated:
                untils[rid, seq] = _until(Action(action), body)
    names = {a for r in requests for a in _agencies(r)}
    agencies = {
        a.id: a
        for chunk in _chunks(sorted(names))
        for a in (await session.scalars(select(AgencyRow).where(AgencyRow.id.in_(chunk)))).all()
    }
    out: dict[uuid.UUID, list[Deadline]] = {}
    for row in requests:
        steps = _steps(row, timelines[row.id], untils, bodies)
        sides = {
            party: Side(agency, Calendar(agencies[agency].country, agencies[agency].timezone))
            for party, agency in _parties(row)
            if agency in agencies
        }
        kind, urgency = Kind(row.kind), Urgency(row.urgency)
        chosen = rules.for_request(
            kind,
            urgency,
            sides[Party.REQUESTER].calendar.country,
            sides[Party.REQUESTED].calendar.country,
        )
        respond_by = row.respond_by if bodies else None
        out[row.id] = compute(kind, steps, sides, chosen, now, respond_by=respond_by)
    return out


def _steps(
    row: RequestRow,
    timeline: Sequence[tuple[int, str, str, datetime]],
    untils: dict[tuple[uuid.UUID, int], date | None],
    bodies: bool,
) -> list[Step]:
    steps = [
        Step(seq, Action(action), actor, received, untils.get((row.id, seq)))
        for seq, action, actor, received in timeline
    ]
    # A body deleted after retention leaves the projection's date for the latest one.
    dated = [i for i, s in enumerate(steps) if s.action in _DATED]
    if bodies and dated and steps[dated[-1]].until is None and row.preserved_until is not None:
        last = steps[dated[-1]]
        steps[dated[-1]] = Step(
            last.seq, last.action, last.actor, last.received_at, row.preserved_until
        )
    return steps


def _until(action: Action, body: bytes | None) -> date | None:
    if body is None:
        return None
    # The hub decoded this body when it accepted it (domain/bodies.py), so it parses.
    decoded = decode_body(action, msgspec.json.decode(body))
    until: date = getattr(decoded, "until")  # noqa: B009
    return until


def _parties(row: RequestRow) -> list[tuple[Party, str]]:
    found = [(Party.REQUESTER, row.requesting_agency), (Party.REQUESTED, row.requested_agency)]
    if row.executing_agency is not None:
        found.append((Party.EXECUTOR, row.executing_agency))
    return found


def _agencies(row: RequestRow) -> Iterable[str]:
    return (agency for _, agency in _parties(row))


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
