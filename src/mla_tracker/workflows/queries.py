"""Read use cases: what a caller may see of requests and their statements."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.parties import party_of
from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.request_reads import PageFilter, RequestView, one_request, request_page
from ..storage.tables import RequestRow, StatementRow
from .context import Context
from .errors import Forbidden, InvalidQuery, NotFound
from .principals import Prefetched, PrefetchedPage, Principal


@dataclass(frozen=True)
class RequestFilter:
    """Filters of the request list."""

    kind: str | None = None
    state: str | None = None
    urgency: str | None = None
    counterparty: str | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class RequestPage:
    """One page of requests and the cursor of the next, if any."""

    items: Sequence[RequestView]
    next_cursor: str | None
    bodies: bool


@dataclass(frozen=True)
class VisibleRequest:
    """A request as one caller may see it: parties read bodies, auditors metadata only."""

    request: RequestView
    bodies: bool


@dataclass(frozen=True)
class VisibleStatements:
    """A request's statements in chain order; `bodies` says whether bodies may be shown."""

    statements: Sequence[StatementRow]
    bodies: bool


def reads_bodies(principal: Principal) -> bool:
    """Parties read statement bodies and request content; auditors verify without them."""
    return not principal.is_auditor and principal.agency_id is not None


def _reader(principal: Principal) -> str | None:
    """The agency whose requests the caller may read; None means all (auditors)."""
    if principal.is_operator or principal.agency_id is None:
        raise Forbidden("the operator manages agencies and cannot read requests")
    return None if principal.is_auditor else principal.agency_id


def can_see(principal: Principal, request: RequestRow | RequestView) -> bool:
    """Parties see their requests; auditors see every request's metadata."""
    if principal.is_auditor:
        return True
    if principal.agency_id is None:
        return False
    return (
        party_of(
            principal.agency_id,
            requesting_agency=request.requesting_agency,
            requested_agency=request.requested_agency,
            executing_agency=request.executing_agency,
        )
        is not None
    )


def encode_cursor(row: RequestRow | RequestView) -> str:
    """An opaque cursor after this row."""
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Parse a cursor made by encode_cursor; raises InvalidQuery when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, rid = raw.split("|")
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(rid)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidQuery("cursor is not one this server issued") from exc


async def list_requests(
    ctx: Context, principal: Principal, flt: RequestFilter, prefetched: PrefetchedPage | None = None
) -> RequestPage:
    """Requests the caller may see, newest first, a page at a time.

    `prefetched`: a page read with the caller's token (principals.py), used only if it is
    exactly the page this reads (same party, filters and limit).
    """
    party = _reader(principal)
    after = decode_cursor(flt.cursor) if flt.cursor else None
    wanted = PageFilter(
        party=party,
        counterparty=flt.counterparty,
        kind=flt.kind,
        state=flt.state,
        urgency=flt.urgency,
        after=after,
    )
    if prefetched is not None and prefetched.filter == wanted and prefetched.limit == flt.limit + 1:
        rows = prefetched.rows
    else:
        rows = await request_page(ctx.sessions, wanted, limit=flt.limit + 1)
    items = rows[: flt.limit]
    more = len(rows) > flt.limit
    cursor = encode_cursor(items[-1]) if more and items else None
    return RequestPage(items, cursor, reads_bodies(principal))


async def visible_request(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> RequestRow:
    """The request if the caller may see it, else NotFound (so existence does not leak)."""
    row = await repo.get_request(session, request_id)
    if row is None or not can_see(principal, row):
        raise NotFound(f"no request {request_id}")
    return row


async def show_request(
    ctx: Context, principal: Principal, request_id: uuid.UUID, prefetched: Prefetched | None = None
) -> VisibleRequest:
    """One request, if the caller may see it (else NotFound, so existence does not leak).

    `prefetched`: the request as read with the caller's token (principals.py), if it was.
    """
    _reader(principal)
    if prefetched is not None and prefetched.request_id == request_id:
        row = prefetched.request
    else:
        row = await one_request(ctx.sessions, request_id)
    if row is None or not can_see(principal, row):
        raise NotFound(f"no request {request_id}")
    return VisibleRequest(row, reads_bodies(principal))


async def request_statements(
    ctx: Context, principal: Principal, request_id: uuid.UUID
) -> VisibleStatements:
    """A request's statements in chain order, for its parties and auditors."""
    _reader(principal)
    bodies = reads_bodies(principal)
    async with transaction(ctx.sessions, write=False) as session:
        await visible_request(session, principal, request_id)
        rows = await repo.statements_of(session, request_id, with_bodies=bodies)
    return VisibleStatements(rows, bodies)
