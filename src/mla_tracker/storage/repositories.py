"""Queries over the tables; workflows call these inside their unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from .tables import AgencyKeyRow, AgencyRow, RequestRow, StatementRow, TokenRow


async def get_agency(session: AsyncSession, agency_id: str) -> AgencyRow | None:
    """One agency by id."""
    return await session.get(AgencyRow, agency_id)


async def list_agencies(session: AsyncSession) -> Sequence[AgencyRow]:
    """Every agency, by id."""
    return (await session.scalars(select(AgencyRow).order_by(AgencyRow.id))).all()


async def keys_of(session: AsyncSession, agency_ids: Sequence[str]) -> Sequence[AgencyKeyRow]:
    """Every key of these agencies, oldest first."""
    query = (
        select(AgencyKeyRow)
        .where(AgencyKeyRow.agency_id.in_(agency_ids))
        .order_by(AgencyKeyRow.valid_from, AgencyKeyRow.key_id)
    )
    return (await session.scalars(query)).all()


async def get_key(session: AsyncSession, key_id: str) -> AgencyKeyRow | None:
    """One key by key id."""
    return await session.get(AgencyKeyRow, key_id)


async def token_with_agency(
    session: AsyncSession, token_hash: str
) -> tuple[TokenRow, AgencyRow | None] | None:
    """A token and its agency in one round trip."""
    query = (
        select(TokenRow, AgencyRow)
        .outerjoin(AgencyRow, AgencyRow.id == TokenRow.agency_id)
        .where(TokenRow.token_hash == token_hash)
    )
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1])


async def get_request(
    session: AsyncSession, request_id: uuid.UUID, *, for_update: bool = False
) -> RequestRow | None:
    """One request's projection."""
    query = select(RequestRow).where(RequestRow.id == request_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def request_and_key(
    session: AsyncSession, request_id: uuid.UUID, key_id: str
) -> tuple[RequestRow | None, AgencyKeyRow | None]:
    """A request (without its content) and a signing key, in one round trip."""
    query = (
        select(RequestRow, AgencyKeyRow)
        .outerjoin(AgencyKeyRow, AgencyKeyRow.key_id == key_id)
        .where(RequestRow.id == request_id)
        .options(defer(RequestRow.content, raiseload=True))
    )
    row = (await session.execute(query)).one_or_none()
    return (None, None) if row is None else (row[0], row[1])


async def insert_statement(session: AsyncSession, statement: StatementRow) -> None:
    """Insert an accepted statement (Core insert: no ORM bookkeeping on the hot path)."""
    table = StatementRow.__table__
    values = {c.key: getattr(statement, c.key) for c in table.columns if c.key != "id"}
    await session.execute(insert(table).values(**values))


async def advance_head(
    session: AsyncSession,
    request_id: uuid.UUID,
    *,
    expected_seq: int,
    values: dict[str, object],
) -> bool:
    """Move the projection on only if its head is still `expected_seq`; False if it moved."""
    result = await session.execute(
        update(RequestRow)
        .where(RequestRow.id == request_id, RequestRow.head_seq == expected_seq)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def statement_by_digest(session: AsyncSession, digest: str) -> StatementRow | None:
    """An accepted statement by its digest (for idempotent re-sends)."""
    query = select(StatementRow).where(StatementRow.digest == digest)
    return (await session.scalars(query)).one_or_none()


async def statements_of(session: AsyncSession, request_id: uuid.UUID) -> Sequence[StatementRow]:
    """A request's statements in chain order."""
    query = (
        select(StatementRow).where(StatementRow.request_id == request_id).order_by(StatementRow.seq)
    )
    return (await session.scalars(query)).all()


async def search_requests(
    session: AsyncSession,
    *,
    party: str | None,
    kind: str | None,
    state: str | None,
    urgency: str | None,
    counterparty: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[RequestRow]:
    """Requests newest first, filtered; `party=None` means every request (auditors)."""
    query = select(RequestRow).options(defer(RequestRow.content, raiseload=True))
    for agency in (party, counterparty):
        if agency is not None:
            query = query.where(
                or_(
                    RequestRow.requesting_agency == agency,
                    RequestRow.requested_agency == agency,
                    RequestRow.executing_agency == agency,
                )
            )
    for column, value in (
        (RequestRow.kind, kind),
        (RequestRow.state, state),
        (RequestRow.urgency, urgency),
    ):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        created, rid = after
        query = query.where(
            or_(
                RequestRow.created_at < created,
                and_(RequestRow.created_at == created, RequestRow.id < rid),
            )
        )
    query = query.order_by(RequestRow.created_at.desc(), RequestRow.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
