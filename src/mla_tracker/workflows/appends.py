"""Appending a signed statement to a request: verify, ask the Request aggregate, store.

Of N concurrent statements on one head exactly one wins: the projection only advances
`WHERE head_seq = expected`, and (request_id, seq) is unique. An append reads the
request with the signing key, then stores the move at once: one statement on PostgreSQL
(storage/move_writes.py), one hand-off to a writer thread on an SQLite file
(storage/sqlite_moves.py); elsewhere (an in-memory database, a move announcing an
evidence package) one ORM transaction.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto import dsse
from ..crypto.statement import SignedStatement
from ..domain import request as aggregate
from ..storage import move_writes, request_reads
from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.facts import Reads, load_facts, reads_in, request_facts
from ..storage.move_rows import MoveRows
from ..storage.raw_reads import HotRead
from ..storage.request_reads import KeyView, RequestView
from ..storage.tables import AgencyKeyRow, RequestRow, StatementRow
from . import events, evidence, log
from .context import Context
from .errors import NotFound, StaleHead, StatementRejected
from .principals import Prefetched, Principal
from .statements import (
    Accepted,
    Verified,
    actor_of,
    duplicate_of,
    head_of,
    signer_key_id,
    statement_row,
    verify_signed,
)


def head_values(
    decision: aggregate.Decision, statement: StatementRow, now: datetime
) -> dict[str, Any]:
    """The projection's UPDATE for an accepted move (the one home of what a move changes)."""
    values: dict[str, Any] = {
        "state": decision.state.value,
        "head_seq": statement.seq,
        "head_digest": statement.digest,
        "updated_at": now,
        # The worker recomputes this request's due rows (workflows/deadline_worker.py).
        "deadlines_stale": True,
        **decision.changes,
    }
    if decision.binds_conditions:
        values["conditions_digest"] = statement.digest
    return values


async def store_move(
    session: AsyncSession,
    ctx: Context,
    row: RequestRow,
    statement: StatementRow,
    values: dict[str, Any],
    envelope: dsse.Envelope,
) -> bool:
    """Inside a transaction: move the head if it is still `row`'s (else False), then insert
    the statement, its log entry and its events."""
    if not await repo.advance_head(session, row.id, expected_seq=row.head_seq, values=values):
        return False
    await repo.insert_statement(session, statement)
    await log.queue(session, envelope, ctx, request_id=row.id)
    after = events.after_move(row, values)  # assign: the new executor hears of it
    await events.statement_accepted(
        session, request=after, statement=statement, state=values["state"]
    )
    return True


def _reads_on_demand(ctx: Context, stack: contextlib.AsyncExitStack) -> Reads:
    """An AUTOCOMMIT read session, opened on the first call (in `stack`) and reused after."""
    opened: list[AsyncSession] = []

    async def session() -> AsyncSession:
        if not opened:
            opened.append(await stack.enter_async_context(transaction(ctx.sessions, write=False)))
        return opened[0]

    return session


@dataclass(frozen=True)
class _Planned:
    """A verified and decided move, ready to store: the projection's UPDATE in `values`."""

    row: RequestRow | RequestView
    verified: Verified
    statement: StatementRow
    values: dict[str, Any]
    announced: Any


async def _plan(
    ctx: Context,
    reads: Reads,
    actor: str,
    request_id: uuid.UUID,
    signed: SignedStatement,
    row: RequestRow | RequestView | None,
    key_row: AgencyKeyRow | KeyView | None,
) -> Accepted | _Planned:
    """Verify and decide a move on `row` as read; an Accepted if it is a re-sent duplicate."""
    current = None if row is None else request_facts(row)
    party = None if current is None else current.party_of(actor)
    if row is None or current is None or party is None:
        raise NotFound(f"no request {request_id}")
    verified = verify_signed(ctx, signed, actor, key_row)
    st = verified.statement
    if st.request_id != request_id:
        raise StatementRejected("the statement names a different request_id")
    if st.seq != row.head_seq + 1 or st.prev != row.head_digest:
        # A re-sent accepted statement is always behind the head: look only then.
        if (done := await duplicate_of(await reads(), st, verified.payload)) is not None:
            return done
        raise StaleHead(
            f"the request's head is seq {row.head_seq}; sign seq "
            f"{row.head_seq + 1} with prev = the head digest",
            head_seq=row.head_seq,
            head_digest=row.head_digest,
        )
    facts = await load_facts(
        reads,
        aggregate.references(verified.move.action, verified.move.body, current),
        request_id=request_id,
        max_package_bytes=ctx.policy.max_package_bytes,
        dual_criminality_reservations=ctx.legal.dual_criminality_reservations,
    )
    decision = aggregate.decide(current, party, verified.move, facts)
    now = ctx.clock()
    statement = statement_row(verified, signed.envelope.to_json(), now)
    return _Planned(
        row, verified, statement, head_values(decision, statement, now), decision.announced
    )


async def append_statement(
    ctx: Context,
    principal: Principal,
    request_id: uuid.UUID,
    signed: SignedStatement,
    prefetched: Prefetched | None = None,
) -> Accepted:
    """Append a signed statement to a request's chain and move its state.

    `prefetched`: the request and signing key as read with the caller's token
    (principals.authenticate_with_move), if they were.
    """
    actor = actor_of(principal)
    store = move_writes.direct_store(ctx.sessions)
    if store is not None and HotRead.available(ctx.sessions):
        accepted = await _append_direct(ctx, store, actor, request_id, signed, prefetched)
        if accepted is not None:
            return accepted
    return await _append_in_transaction(ctx, actor, request_id, signed)


async def _append_direct(
    ctx: Context,
    store: move_writes.Store,
    actor: str,
    request_id: uuid.UUID,
    signed: SignedStatement,
    prefetched: Prefetched | None,
) -> Accepted | None:
    """Read the request and key, then store the move at once: one statement on PostgreSQL
    (storage/move_writes.py), one hand-off to the writer thread on SQLite
    (storage/sqlite_moves.py). None for a move that announces an evidence package: its
    package row is written in the transaction path."""
    key_id = signer_key_id(signed)
    if (
        prefetched is not None
        and prefetched.request_id == request_id
        and prefetched.key_id == key_id
    ):
        row, key_row = prefetched.request, prefetched.key
    else:
        row, key_row = await request_reads.request_and_key(ctx.sessions, request_id, key_id)
    # AUTOCOMMIT reads for the facts a move refers to, opened only if it refers to any
    # (most refer to none: not even a session is made).
    async with contextlib.AsyncExitStack() as stack:
        reads = _reads_on_demand(ctx, stack)
        planned = await _plan(ctx, reads, actor, request_id, signed, row, key_row)
    if isinstance(planned, Accepted):
        return planned
    if planned.announced is not None:
        return None
    values = planned.values
    stored = await store(
        MoveRows(
            request_id=request_id,
            expected_seq=planned.row.head_seq,
            head=values,
            statement=repo.statement_values(planned.statement),
            log_entry=log.entry_values(signed.envelope, ctx, request_id=request_id),
            events=events.accepted_rows(
                request=events.after_move(planned.row, values),
                statement=planned.statement,
                state=values["state"],
            ),
        ),
    )
    if not stored:
        head_seq, head_digest = await head_of(ctx, request_id)
        raise StaleHead(
            "another statement was accepted first", head_seq=head_seq, head_digest=head_digest
        )
    assert isinstance(planned.row, RequestView)
    moved = {k: v for k, v in values.items() if k in RequestView._fields}
    return Accepted(planned.row._replace(**moved), planned.statement, duplicate=False)


async def _append_in_transaction(
    ctx: Context, actor: str, request_id: uuid.UUID, signed: SignedStatement
) -> Accepted:
    """The move in one transaction (SQLite's BEGIN IMMEDIATE serialises writers)."""
    try:
        async with transaction(ctx.sessions, write=True) as session:
            # One round trip for the request and the signing key: this is the hot path.
            row, key_row = await repo.request_and_key(session, request_id, signer_key_id(signed))
            planned = await _plan(ctx, reads_in(session), actor, request_id, signed, row, key_row)
            if isinstance(planned, Accepted):
                return planned
            assert isinstance(row, RequestRow)
            statement, values = planned.statement, planned.values
            if not await store_move(session, ctx, row, statement, values, signed.envelope):
                fresh = await repo.get_request(session, request_id)
                assert fresh is not None
                raise StaleHead(
                    "another statement was accepted first",
                    head_seq=fresh.head_seq,
                    head_digest=fresh.head_digest,
                )
            if planned.announced is not None:
                evidence.register_package(
                    session, request_id, planned.announced, statement.digest, statement.received_at
                )
    except IntegrityError as exc:
        head_seq, head_digest = await head_of(ctx, request_id)
        raise StaleHead(
            "another statement was accepted first", head_seq=head_seq, head_digest=head_digest
        ) from exc
    # Mirror the UPDATE on the loaded object only now: inside the transaction the ORM
    # would take the change for a second UPDATE.
    for name, value in values.items():
        setattr(row, name, value)
    return Accepted(row, statement, duplicate=False)
