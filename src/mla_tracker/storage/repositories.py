"""Queries over the tables; workflows call these inside their unit of work."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, Update, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer

from .db import transaction
from .raw_reads import HotRead
from .tables import (
    AgencyKeyRow,
    AgencyRow,
    ChallengeRow,
    KeyEventRow,
    RequestRow,
    StatementRow,
    TokenRow,
)


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


@dataclass(frozen=True)
class SessionFacts:
    """What authentication needs of a token: its state, agency role and minting key."""

    is_operator: bool
    agency_id: str | None
    revoked_at: datetime | None
    expires_at: datetime | None
    agency_role: str | None
    key_id: str | None
    key_revoked_at: datetime | None


# The hot path's queries are built once, with bound parameters: building a select costs
# about as much CPU as running it, and a built statement keeps its cache key.
#: A token with its agency's role and minting key (request_reads.py joins a request to it).
SESSION_PRINCIPAL = (
    select(
        TokenRow.is_operator,
        TokenRow.agency_id,
        TokenRow.revoked_at,
        TokenRow.expires_at,
        AgencyRow.role,
        AgencyKeyRow.key_id,
        AgencyKeyRow.revoked_at,
    )
    .outerjoin(AgencyRow, AgencyRow.id == TokenRow.agency_id)
    .outerjoin(AgencyKeyRow, AgencyKeyRow.key_id == TokenRow.key_id)
    .where(TokenRow.token_hash == bindparam("token_hash"))
)
_REQUEST = select(RequestRow).where(RequestRow.id == bindparam("request_id"))
_REQUEST_AND_KEY = (
    select(RequestRow, AgencyKeyRow)
    .outerjoin(AgencyKeyRow, AgencyKeyRow.key_id == bindparam("key_id"))
    .where(RequestRow.id == bindparam("request_id"))
    .options(defer(RequestRow.content, raiseload=True))
)


_SESSION_PRINCIPAL_HOT = HotRead(SESSION_PRINCIPAL)


async def session_facts(
    sessions: async_sessionmaker[AsyncSession], token_hash: str
) -> SessionFacts | None:
    """`session_principal` in its own read: on PostgreSQL by the driver (raw_reads.py), on
    an SQLite file by a reader thread (sqlite_reads.py)."""
    if not HotRead.available(sessions):
        async with transaction(sessions, write=False) as session:
            return await session_principal(session, token_hash)
    row = await _SESSION_PRINCIPAL_HOT.one_or_none(sessions, token_hash=token_hash)
    return None if row is None else SessionFacts(*row)


async def session_principal(session: AsyncSession, token_hash: str) -> SessionFacts | None:
    """A token with its agency's role and the key that minted it, in one round trip.

    Columns, not entities: this runs on every request, and ORM identity bookkeeping for
    three rows cost more than the query.
    """
    found = await session.execute(SESSION_PRINCIPAL, {"token_hash": token_hash})
    row = found.one_or_none()
    return None if row is None else SessionFacts(*row)


async def revoke_token(session: AsyncSession, token_hash: str, at: datetime) -> None:
    """Revoke one token (logout)."""
    await session.execute(
        update(TokenRow)
        .where(TokenRow.token_hash == token_hash, TokenRow.revoked_at.is_(None))
        .values(revoked_at=at)
        .execution_options(synchronize_session=False)
    )


async def revoke_tokens_of_key(session: AsyncSession, key_id: str, at: datetime) -> None:
    """Revoke every session a key minted."""
    await session.execute(
        update(TokenRow)
        .where(TokenRow.key_id == key_id, TokenRow.revoked_at.is_(None))
        .values(revoked_at=at)
        .execution_options(synchronize_session=False)
    )


async def add_challenge(session: AsyncSession, row: ChallengeRow) -> None:
    """Store a login challenge, dropping expired ones so the table stays small."""
    await session.execute(delete(ChallengeRow).where(ChallengeRow.expires_at <= row.created_at))
    session.add(row)


async def take_challenge(session: AsyncSession, challenge: str, now: datetime) -> bool:
    """Consume a live challenge; False if it is unknown, used or expired (single use)."""
    result = await session.execute(
        delete(ChallengeRow).where(
            ChallengeRow.challenge == challenge, ChallengeRow.expires_at > now
        )
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def key_events_of(session: AsyncSession, agency_id: str) -> Sequence[KeyEventRow]:
    """An agency's key events in chain order."""
    query = select(KeyEventRow).where(KeyEventRow.agency_id == agency_id).order_by(KeyEventRow.seq)
    return (await session.scalars(query)).all()


async def all_key_events(session: AsyncSession) -> Sequence[KeyEventRow]:
    """Every agency's key events in the order they were recorded."""
    return (await session.scalars(select(KeyEventRow).order_by(KeyEventRow.id))).all()


async def key_event_by_digest(session: AsyncSession, digest: str) -> KeyEventRow | None:
    """A recorded key event by its digest (for idempotent re-sends)."""
    query = select(KeyEventRow).where(KeyEventRow.digest == digest)
    return (await session.scalars(query)).one_or_none()


async def last_statement_time(session: AsyncSession, key_id: str) -> datetime | None:
    """The latest `issued_at` of an accepted statement signed by this key."""
    query = select(func.max(StatementRow.issued_at)).where(StatementRow.key_id == key_id)
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def get_request(
    session: AsyncSession, request_id: uuid.UUID, *, for_update: bool = False
) -> RequestRow | None:
    """One request's projection."""
    query = _REQUEST.with_for_update() if for_update else _REQUEST
    return (await session.scalars(query, {"request_id": request_id})).one_or_none()


async def request_and_key(
    session: AsyncSession, request_id: uuid.UUID, key_id: str
) -> tuple[RequestRow | None, AgencyKeyRow | None]:
    """A request (without its content) and a signing key, in one round trip."""
    found = await session.execute(_REQUEST_AND_KEY, {"key_id": key_id, "request_id": request_id})
    row = found.one_or_none()
    return (None, None) if row is None else (row[0], row[1])


def statement_values(statement: StatementRow) -> dict[str, object]:
    """An accepted statement's column values (its id is the database's)."""
    return {
        c.key: getattr(statement, c.key) for c in StatementRow.__table__.columns if c.key != "id"
    }


# Table (Core) statements, built once: an ORM-enabled insert or update goes through the
# ORM's bulk machinery, and `.values(...)` per call rebuilt and re-hashed the statement.
_INSERT_STATEMENT = insert(cast(Table, StatementRow.__table__))


async def insert_statement(session: AsyncSession, statement: StatementRow) -> None:
    """Insert an accepted statement (Core insert: no ORM bookkeeping on the hot path)."""
    await session.execute(_INSERT_STATEMENT, statement_values(statement))


async def advance_head(
    session: AsyncSession,
    request_id: uuid.UUID,
    *,
    expected_seq: int,
    values: dict[str, object],
) -> bool:
    """Move the projection on only if its head is still `expected_seq`; False if it moved."""
    params = {f"v_{k}": v for k, v in values.items()}
    result = await session.execute(
        advance_head_statement(tuple(sorted(values))),
        {"request_id": request_id, "expected_seq": expected_seq, **params},
    )
    return bool(getattr(result, "rowcount", 0) == 1)


@functools.cache
def advance_head_statement(columns: tuple[str, ...]) -> Update:
    """The head-moving UPDATE setting these columns (few shapes: one per kind of move)."""
    table = cast(Table, RequestRow.__table__).c
    return (
        update(cast(Table, RequestRow.__table__))
        .where(table.id == bindparam("request_id"), table.head_seq == bindparam("expected_seq"))
        # Bound under other names: a SET column's own name is reserved for its value.
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


async def statement_by_digest(session: AsyncSession, digest: str) -> StatementRow | None:
    """An accepted statement by its digest (for idempotent re-sends)."""
    query = select(StatementRow).where(StatementRow.digest == digest)
    return (await session.scalars(query)).one_or_none()


async def statements_of(
    session: AsyncSession, request_id: uuid.UUID, *, with_bodies: bool = True
) -> Sequence[StatementRow]:
    """A request's statements in chain order; bodies are not even loaded without with_bodies."""
    query = (
        select(StatementRow).where(StatementRow.request_id == request_id).order_by(StatementRow.seq)
    )
    if not with_bodies:
        query = query.options(defer(StatementRow.body, raiseload=True))
    return (await session.scalars(query)).all()
