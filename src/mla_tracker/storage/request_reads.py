"""The request projection as the API reads it: one request, or a page of them.

These are the hottest reads after the token lookup, so they return plain `RequestView`
records built from columns, not ORM entities (identity map and instrumentation cost more
than the query), and on PostgreSQL run on the driver directly (raw_reads.py). A page's
SELECT depends on which filters are given; each shape is built and compiled once.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from .db import transaction
from .raw_reads import HotRead
from .repositories import SESSION_PRINCIPAL, SessionFacts
from .tables import AgencyKeyRow, RequestRow, TokenRow


class RequestView(NamedTuple):
    """A request's projection as read, in RequestRow's attribute names.

    `content` is None in a page (pages never carry it) and once deleted after retention.
    A tuple, not a dataclass: a page builds fifty, and a frozen dataclass's __init__ set
    each field through object.__setattr__ (an eighth of a page's CPU).
    """

    id: uuid.UUID
    kind: str
    state: str
    urgency: str
    requesting_agency: str
    requested_agency: str
    executing_agency: str | None
    case_reference: str
    respond_by: date | None
    preserved_until: date | None
    linked_request_id: uuid.UUID | None
    conditions_digest: str | None
    head_seq: int
    head_digest: str
    created_at: datetime
    updated_at: datetime
    content: dict[str, Any] | None = None


_SUMMARY = tuple(getattr(RequestRow, name) for name in RequestView._fields if name != "content")
#: How many leading columns of a row read with the token are the session's (SESSION_PRINCIPAL).
_SESSION_COLUMNS = len(SessionFacts.__dataclass_fields__)
_ONE = select(*_SUMMARY, RequestRow.content).where(RequestRow.id == bindparam("request_id"))
_ONE_HOT = HotRead(_ONE)


async def one_request(
    sessions: async_sessionmaker[AsyncSession], request_id: uuid.UUID
) -> RequestView | None:
    """One request with its content, or None."""
    if HotRead.available(sessions):
        row = await _ONE_HOT.one_or_none(sessions, request_id=request_id)
    else:
        async with transaction(sessions, write=False) as session:
            row = (await session.execute(_ONE, {"request_id": request_id})).one_or_none()
    return None if row is None else RequestView._make(row)


@dataclass(frozen=True)
class PageFilter:
    """A page's filters; `party=None` means every request (auditors)."""

    party: str | None = None
    counterparty: str | None = None
    kind: str | None = None
    state: str | None = None
    urgency: str | None = None
    after: tuple[datetime, uuid.UUID] | None = None


def _involves(agency: Any) -> Any:
    return or_(
        RequestRow.requesting_agency == agency,
        RequestRow.requested_agency == agency,
        RequestRow.executing_agency == agency,
    )


def _filters(counterparty: bool, kind: bool, state: bool, urgency: bool, after: bool) -> list[Any]:
    """A page's conditions besides the party, as bound parameters."""
    conditions = []
    if counterparty:
        conditions.append(_involves(bindparam("counterparty")))
    for given, column in ((kind, "kind"), (state, "state"), (urgency, "urgency")):
        if given:
            conditions.append(getattr(RequestRow, column) == bindparam(column))
    if after:
        created: Any = bindparam("after_created")
        rid: Any = bindparam("after_id")
        conditions.append(
            or_(
                RequestRow.created_at < created,
                and_(RequestRow.created_at == created, RequestRow.id < rid),
            )
        )
    return conditions


_NEWEST_FIRST = (RequestRow.created_at.desc(), RequestRow.id.desc())


@functools.cache
def _page(
    party: bool, counterparty: bool, kind: bool, state: bool, urgency: bool, after: bool
) -> tuple[Select[Any], HotRead]:
    """The page query of one filter shape, and its compiled forms for the drivers."""
    query = select(*_SUMMARY)
    if party:
        query = query.where(_involves(bindparam("party")))
    query = query.where(*_filters(counterparty, kind, state, urgency, after))
    query = query.order_by(*_NEWEST_FIRST).limit(bindparam("limit"))
    return query, HotRead(query)


@functools.cache
def _session_and_page(
    counterparty: bool, kind: bool, state: bool, urgency: bool, after: bool
) -> HotRead:
    """A token's session facts joined to a page of its own agency's requests: one row per
    request (the session's columns on each), or one row without a request.

    The page is its own subquery with its LIMIT, the agency a scalar subquery on the token:
    the database plans it as the ordinary page (newest first down the index, stop at the
    limit). A plain join of tokens to requests made PostgreSQL sort every request of the
    agency before the limit.
    """
    agency: Any = (
        select(TokenRow.agency_id)
        .where(TokenRow.token_hash == bindparam("token_hash"))
        .scalar_subquery()
    )
    page = (
        select(*_SUMMARY)
        .where(_involves(agency), *_filters(counterparty, kind, state, urgency, after))
        .order_by(*_NEWEST_FIRST)
        .limit(bindparam("limit"))
        .subquery("page")
    )
    return HotRead(
        SESSION_PRINCIPAL.outerjoin(page, true())
        .add_columns(*page.c)
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


def _shape(flt: PageFilter) -> tuple[bool, bool, bool, bool, bool]:
    """Which of the conditions besides the party a page has (`_filters`' arguments)."""
    return (
        flt.counterparty is not None,
        flt.kind is not None,
        flt.state is not None,
        flt.urgency is not None,
        flt.after is not None,
    )


def _page_params(flt: PageFilter, limit: int) -> dict[str, Any]:
    return {
        "party": flt.party,
        "counterparty": flt.counterparty,
        "kind": flt.kind,
        "state": flt.state,
        "urgency": flt.urgency,
        "after_created": flt.after[0] if flt.after else None,
        "after_id": flt.after[1] if flt.after else None,
        "limit": limit,
    }


async def request_page(
    sessions: async_sessionmaker[AsyncSession], flt: PageFilter, *, limit: int
) -> Sequence[RequestView]:
    """Requests newest first (created_at, then id), filtered, at most `limit`."""
    query, hot = _page(flt.party is not None, *_shape(flt))
    params = _page_params(flt, limit)
    rows: Sequence[Sequence[Any]]
    if HotRead.available(sessions):
        rows = await hot.all(sessions, **params)
    else:
        async with transaction(sessions, write=False) as session:
            rows = (await session.execute(query, params)).all()
    return [RequestView(*row) for row in rows]


async def session_and_page(
    sessions: async_sessionmaker[AsyncSession], token_hash: str, flt: PageFilter, *, limit: int
) -> tuple[SessionFacts, Sequence[RequestView]] | None:
    """A token's session facts and `request_page` for the token's own agency (`flt.party`
    is ignored), in one query (see `reads_in_one`). None when no such token.

    Whether that is the page the caller may list is the workflow's question (an auditor
    lists every request, the operator none).
    """
    hot = _session_and_page(*_shape(flt))
    rows = await hot.all(sessions, token_hash=token_hash, **_page_params(flt, limit))
    if not rows:
        return None
    facts = SessionFacts(*rows[0][:_SESSION_COLUMNS])
    # Without a matching request the outer join gives one row whose request part is NULL.
    return facts, [
        RequestView(*row[_SESSION_COLUMNS:]) for row in rows if row[_SESSION_COLUMNS] is not None
    ]


class KeyView(NamedTuple):
    """A signing key as an append checks it, in AgencyKeyRow's attribute names."""

    key_id: str
    agency_id: str
    public_key: bytes
    valid_from: datetime
    usable_from: datetime
    revoked_at: datetime | None


_KEY = tuple(getattr(AgencyKeyRow, name) for name in KeyView._fields)
_REQUEST_AND_KEY_HOT = HotRead(
    select(*_SUMMARY, *_KEY)
    .outerjoin(AgencyKeyRow, AgencyKeyRow.key_id == bindparam("key_id"))
    .where(RequestRow.id == bindparam("request_id"))
)


async def request_and_key(
    sessions: async_sessionmaker[AsyncSession], request_id: uuid.UUID, key_id: str
) -> tuple[RequestView | None, KeyView | None]:
    """A request (without content) and a signing key, in one query (needs HotRead.available)."""
    row = await _REQUEST_AND_KEY_HOT.one_or_none(sessions, request_id=request_id, key_id=key_id)
    return (None, None) if row is None else _request_and_key_of(row)


def _request_and_key_of(part: Sequence[Any]) -> tuple[RequestView | None, KeyView | None]:
    """A row part of the request's summary columns, then the key's (outer-joined)."""
    split = len(_SUMMARY)
    request = None if part[0] is None else RequestView(*part[:split])
    key = None if part[split] is None else KeyView._make(part[split:])
    return request, key


_PRINCIPAL_AND_REQUEST = SESSION_PRINCIPAL.outerjoin(
    RequestRow, RequestRow.id == bindparam("request_id")
).add_columns(*_SUMMARY, RequestRow.content)
_PRINCIPAL_AND_REQUEST_HOT = HotRead(_PRINCIPAL_AND_REQUEST)


def reads_in_one(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Whether `session_and_request` can read token and request in one query here."""
    return HotRead.available(sessions)


async def session_and_request(
    sessions: async_sessionmaker[AsyncSession], token_hash: str, request_id: uuid.UUID
) -> tuple[SessionFacts, RequestView | None] | None:
    """A token's session facts and one request, in one query (see `reads_in_one`).

    None when no such token; the request is None when there is no such request. Whether
    the caller may see it is the workflow's question.
    """
    row = await _PRINCIPAL_AND_REQUEST_HOT.one_or_none(
        sessions, token_hash=token_hash, request_id=request_id
    )
    if row is None:
        return None
    facts = SessionFacts(*row[:_SESSION_COLUMNS])
    part = row[_SESSION_COLUMNS:]
    request = None if part[0] is None else RequestView._make(part)
    return facts, request


# The signer's key under its own name: SESSION_PRINCIPAL joins the token's key already.
_SIGNER = aliased(AgencyKeyRow, name="signer_key")
_PRINCIPAL_REQUEST_AND_KEY_HOT = HotRead(
    SESSION_PRINCIPAL.outerjoin(RequestRow, RequestRow.id == bindparam("request_id"))
    .outerjoin(_SIGNER, _SIGNER.key_id == bindparam("key_id"))
    .add_columns(*_SUMMARY, *(getattr(_SIGNER, name) for name in KeyView._fields))
)


async def session_request_and_key(
    sessions: async_sessionmaker[AsyncSession], token_hash: str, request_id: uuid.UUID, key_id: str
) -> tuple[SessionFacts, RequestView | None, KeyView | None] | None:
    """A token's session facts, one request (without content) and one signing key, in one
    query (see `reads_in_one`): what an append reads before it decides.

    None when no such token; the request or key is None when there is none such.
    """
    row = await _PRINCIPAL_REQUEST_AND_KEY_HOT.one_or_none(
        sessions, token_hash=token_hash, request_id=request_id, key_id=key_id
    )
    if row is None:
        return None
    return SessionFacts(*row[:_SESSION_COLUMNS]), *_request_and_key_of(row[_SESSION_COLUMNS:])
