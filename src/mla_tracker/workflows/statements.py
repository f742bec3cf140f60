"""Accepting a signed statement: verify it, and create a request from its `transmit`.

Appending to an existing request is in appends.py. Every rule about what a move may do
lives in `domain/request.py`; this module verifies signatures, keys, times and body
digests, and stores a new request in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto import wire
from ..crypto.errors import SignatureError
from ..crypto.keyhistory import unusable_reason
from ..crypto.keys import VerifyingKey
from ..crypto.statement import (
    GENESIS,
    SignedStatement,
    Statement,
    check_body,
    digest,
    parse_statement,
    verify_statement,
)
from ..domain import request as aggregate
from ..domain.bodies import decode_body
from ..domain.model import Action, AgencyRole
from ..domain.transitions import INITIAL_ACTION
from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.facts import load_facts, reads_in
from ..storage.request_reads import KeyView, RequestView
from ..storage.tables import AgencyKeyRow, RequestRow, StatementRow
from . import events, log
from .context import Context
from .errors import Forbidden, KeyRejected, StaleHead, StatementRejected
from .principals import Principal


@dataclass(frozen=True)
class Accepted:
    """The outcome of an accepted (or idempotently re-sent) statement."""

    request: RequestRow | RequestView
    statement: StatementRow
    duplicate: bool


@dataclass(frozen=True)
class Verified:
    """A statement whose signature, key, time and body digest all checked out."""

    statement: Statement
    payload: bytes
    body: bytes
    move: aggregate.Move


def actor_of(principal: Principal) -> str:
    """The agency a principal acts as; Forbidden for the operator and auditors."""
    if principal.agency_id is None or principal.agency_role is None:
        raise Forbidden("the operator cannot act in an agency's name")
    if principal.agency_role is AgencyRole.AUDITOR:
        raise Forbidden("auditors read; they do not act on requests")
    return principal.agency_id


def signer_key_id(signed: SignedStatement) -> str:
    """The key id of a statement's one signature."""
    if len(signed.envelope.signatures) != 1:
        raise StatementRejected("a statement carries exactly one signature")
    return signed.envelope.signatures[0].keyid


def verify_signed(
    ctx: Context, signed: SignedStatement, actor: str, key_row: AgencyKeyRow | KeyView | None
) -> Verified:
    """Verify against the signer's key row (None: unknown key), then the detached body."""
    if key_row is None:
        raise KeyRejected(f"unknown signing key {signer_key_id(signed)}")
    if key_row.agency_id != actor:
        raise KeyRejected("the signing key belongs to another agency")

    def key_for(_key_id: str) -> VerifyingKey:
        return VerifyingKey(key_row.public_key)

    body = signed.body_bytes()
    try:
        st, payload = verify_statement(signed.envelope, key_for)
    except SignatureError as exc:
        raise StatementRejected(f"bad signature: {exc}") from exc
    if st.actor != actor:
        raise Forbidden(f"statement actor '{st.actor}' is not the authenticated agency")
    _check_time(ctx, st.issued_at, key_row)
    check_body(st, body)
    action = _action(st)
    move = aggregate.Move(
        action=action,
        actor=actor,
        issued_at=st.issued_at,
        meta={k: v for k, v in msgspec.structs.asdict(st.meta).items() if v is not None},
        body=decode_body(action, wire.loads(body, "body")),
    )
    return Verified(st, payload, body, move)


def _check_time(ctx: Context, issued_at: datetime, key: AgencyKeyRow | KeyView) -> None:
    now = ctx.clock()
    if issued_at > now + ctx.policy.max_future_skew:
        raise StatementRejected("issued_at lies in the future; check the signer's clock")
    if issued_at < now - ctx.policy.max_statement_age:
        raise StatementRejected("issued_at is too old; sign a fresh statement")
    # Usable both when it says it was signed and now: a statement signed just before a
    # revocation but arriving after it is refused too.
    for at in (issued_at, now):
        reason = unusable_reason(
            key.key_id,
            valid_from=key.valid_from,
            usable_from=key.usable_from,
            revoked_at=key.revoked_at,
            at=at,
        )
        if reason is not None:
            raise KeyRejected(reason)


def _action(st: Statement) -> Action:
    try:
        return Action(st.action)
    except ValueError as exc:
        raise StatementRejected(f"unknown action '{st.action}'") from exc


def statement_row(verified: Verified, envelope_json: bytes, received_at: datetime) -> StatementRow:
    """The row that stores a verified statement (an agency's or the hub's own)."""
    st = verified.statement
    return StatementRow(
        request_id=st.request_id,
        seq=st.seq,
        digest=digest(verified.payload),
        prev=st.prev,
        action=st.action,
        actor=st.actor,
        key_id=st.key_id,
        issued_at=st.issued_at,
        received_at=received_at,
        payload=verified.payload,
        envelope=envelope_json,
        body_sha256=st.body_sha256,
        body=verified.body,
    )


async def duplicate_of(session: AsyncSession, st: Statement, payload: bytes) -> Accepted | None:
    """The stored outcome if this very statement was accepted on this request before."""
    seen = await repo.statement_by_digest(session, digest(payload))
    if seen is None or seen.request_id != st.request_id:
        return None
    request = await repo.get_request(session, st.request_id)
    assert request is not None  # a statement never exists without its request
    return Accepted(request, seen, duplicate=True)


async def submit_request(ctx: Context, principal: Principal, signed: SignedStatement) -> Accepted:
    """Create a request from its signed `transmit` statement (seq 1, prev GENESIS)."""
    actor = actor_of(principal)
    try:
        async with transaction(ctx.sessions, write=True) as session:
            key_row = await repo.get_key(session, signer_key_id(signed))
            verified = verify_signed(ctx, signed, actor, key_row)
            st = verified.statement
            if (done := await duplicate_of(session, st, verified.payload)) is not None:
                return done
            if verified.move.action is not INITIAL_ACTION or st.seq != 1 or st.prev != GENESIS:
                raise StatementRejected(
                    f"a new request starts with action '{INITIAL_ACTION}', seq 1 and "
                    "prev = GENESIS; append other actions to an existing request"
                )
            existing = await repo.get_request(session, st.request_id)
            if existing is not None:
                raise StaleHead(
                    "a request with this id exists already",
                    head_seq=existing.head_seq,
                    head_digest=existing.head_digest,
                )
            refs = aggregate.references(verified.move.action, verified.move.body, None)
            facts = await load_facts(
                reads_in(session),
                aggregate.References(agencies=refs.agencies | {actor}, requests=refs.requests),
                request_id=None,
                max_package_bytes=ctx.policy.max_package_bytes,
            )
            opened, _ = aggregate.open_request(
                st.request_id, facts.agencies[actor], verified.move, facts
            )
            now = ctx.clock()
            statement = statement_row(verified, signed.envelope.to_json(), now)
            request = _new_row(opened, verified, statement.digest, now)
            session.add(request)
            await session.flush()
            session.add(statement)
            await log.queue(session, signed.envelope, ctx, request_id=st.request_id)
            await events.statement_accepted(
                session, request=request, statement=statement, state=request.state
            )
    except IntegrityError as exc:
        head_seq, head_digest = await head_of(ctx, parse_statement(signed.envelope.payload_bytes()))
        raise StaleHead(
            "a request with this id was created concurrently",
            head_seq=head_seq,
            head_digest=head_digest,
        ) from exc
    return Accepted(request, statement, duplicate=False)


def _new_row(
    opened: aggregate.RequestFacts, verified: Verified, head_digest: str, now: datetime
) -> RequestRow:
    content = verified.move.body
    return RequestRow(
        id=opened.id,
        kind=opened.kind.value,
        state=opened.state.value,
        urgency=opened.urgency.value,
        requesting_agency=opened.requesting_agency,
        requested_agency=opened.requested_agency,
        executing_agency=None,
        case_reference=getattr(content, "case_reference", ""),
        content=wire.loads(verified.body, "body"),
        respond_by=getattr(content, "respond_by", None),
        preserved_until=None,
        linked_request_id=opened.linked_request_id,
        head_seq=1,
        head_digest=head_digest,
        created_at=now,
        updated_at=now,
    )


async def head_of(ctx: Context, request: uuid.UUID | Statement) -> tuple[int, str]:
    """A request's head as it is now (seq 0 and GENESIS if there is no such request)."""
    request_id = request if isinstance(request, uuid.UUID) else request.request_id
    async with transaction(ctx.sessions, write=False) as session:
        found = await repo.get_request(session, request_id)
    return (0, GENESIS) if found is None else (found.head_seq, found.head_digest)


async def log_position(ctx: Context, accepted: Accepted) -> int | None:
    """The accepted statement's leaf index once integrated, waiting up to the policy's limit.

    None means it is durable but still queued: poll its inclusion proof by digest.
    """
    if ctx.integrator is None:
        return await log.index_of(ctx, accepted.statement.digest)
    found: int | None = await ctx.integrator.wait_for(
        accepted.statement.digest, ctx.policy.log_wait_seconds
    )
    return found
