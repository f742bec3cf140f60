"""Accepting a signed statement: verify, check the chain and the move, update the projection.

One transaction per statement. Of N concurrent statements on one head exactly one wins:
the projection only advances `WHERE head_seq = expected`, and (request_id, seq) is unique.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto import dsse
from ..crypto.errors import CryptoError, SignatureError
from ..crypto.keys import VerifyingKey
from ..crypto.statement import GENESIS, Statement, digest, parse_statement, verify_statement
from ..domain import content as c
from ..domain.bodies import check_body, decode_body
from ..domain.completeness import required_missing
from ..domain.errors import ContentInvalid, RequestIncomplete
from ..domain.model import Action, AgencyRole, Kind, State
from ..domain.parties import party_of
from ..domain.transitions import INITIAL_ACTION, INITIAL_STATE, next_state
from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.tables import AgencyKeyRow, RequestRow, StatementRow
from . import evidence
from .context import Context
from .errors import Forbidden, KeyRejected, NotFound, StaleHead, StatementRejected
from .principals import Principal


@dataclass(frozen=True)
class Accepted:
    """The outcome of an accepted (or idempotently re-sent) statement."""

    request: RequestRow
    statement: StatementRow
    duplicate: bool


def _actor_of(principal: Principal) -> str:
    if principal.agency_id is None or principal.agency_role is None:
        raise Forbidden("the operator cannot act in an agency's name")
    if principal.agency_role is AgencyRole.AUDITOR:
        raise Forbidden("auditors read; they do not act on requests")
    return principal.agency_id


def _signer_key_id(envelope: dsse.Envelope) -> str:
    if len(envelope.signatures) != 1:
        raise StatementRejected("a statement carries exactly one signature")
    return envelope.signatures[0].keyid


def _verify(
    ctx: Context, envelope: dsse.Envelope, actor: str, key_row: AgencyKeyRow | None
) -> tuple[Statement, bytes]:
    """Verify the envelope against the signer's key row (None: the key is unknown)."""
    if key_row is None:
        raise KeyRejected(f"unknown signing key {_signer_key_id(envelope)}")
    if key_row.agency_id != actor:
        raise KeyRejected("the signing key belongs to another agency")

    def key_for(_key_id: str) -> VerifyingKey:
        return VerifyingKey(key_row.public_key)

    try:
        st, payload = verify_statement(envelope, key_for)
    except SignatureError as exc:
        raise StatementRejected(f"bad signature: {exc}") from exc
    except CryptoError as exc:
        raise StatementRejected(str(exc)) from exc
    if st.actor != actor:
        raise Forbidden(f"statement actor '{st.actor}' is not the authenticated agency")
    _check_time(ctx, st.issued_at, key_row)
    return st, payload


def _check_time(ctx: Context, issued_at: datetime, key: AgencyKeyRow) -> None:
    now = ctx.clock()
    if issued_at > now + ctx.policy.max_future_skew:
        raise StatementRejected("issued_at lies in the future; check the signer's clock")
    if issued_at < now - ctx.policy.max_statement_age:
        raise StatementRejected("issued_at is too old; sign a fresh statement")
    if issued_at < key.valid_from:
        raise KeyRejected(f"key {key.key_id} is not valid before {key.valid_from.isoformat()}")
    if key.revoked_at is not None and key.revoked_at <= max(now, issued_at):
        raise KeyRejected(f"key {key.key_id} was revoked at {key.revoked_at.isoformat()}")


def envelope_request_id(envelope: dsse.Envelope) -> uuid.UUID:
    """The request id an (already verified) envelope's statement names."""
    return parse_statement(envelope.payload_bytes()).request_id


def _action(st: Statement) -> Action:
    try:
        return Action(st.action)
    except ValueError as exc:
        raise StatementRejected(f"unknown action '{st.action}'") from exc


def _record(
    st: Statement, payload: bytes, envelope: dsse.Envelope, received_at: datetime
) -> StatementRow:
    return StatementRow(
        request_id=st.request_id,
        seq=st.seq,
        digest=digest(payload),
        prev=st.prev,
        action=st.action,
        actor=st.actor,
        key_id=st.key_id,
        issued_at=st.issued_at,
        received_at=received_at,
        payload=payload,
        envelope=envelope.to_json(),
    )


async def _duplicate(session: AsyncSession, st: Statement, payload: bytes) -> Accepted | None:
    seen = await repo.statement_by_digest(session, digest(payload))
    if seen is None or seen.request_id != st.request_id:
        return None
    request = await repo.get_request(session, st.request_id)
    assert request is not None  # a statement never exists without its request
    return Accepted(request, seen, duplicate=True)


async def submit_request(ctx: Context, principal: Principal, envelope: dsse.Envelope) -> Accepted:
    """Create a request from its signed `transmit` statement (seq 1, prev GENESIS)."""
    actor = _actor_of(principal)
    try:
        async with transaction(ctx.sessions, write=True) as session:
            key_row = await repo.get_key(session, _signer_key_id(envelope))
            st, payload = _verify(ctx, envelope, actor, key_row)
            if (done := await _duplicate(session, st, payload)) is not None:
                return done
            if _action(st) is not INITIAL_ACTION or st.seq != 1 or st.prev != GENESIS:
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
            body = decode_body(Action.TRANSMIT, st.body)
            assert isinstance(body, c.RequestContent)
            await _check_new_request(session, principal, body, st)
            now = ctx.clock()
            statement = _record(st, payload, envelope, now)
            request = RequestRow(
                id=st.request_id,
                kind=body.kind.value,
                state=INITIAL_STATE.value,
                urgency=body.urgency.value,
                requesting_agency=body.requesting_agency,
                requested_agency=body.requested_agency,
                executing_agency=None,
                case_reference=body.case_reference,
                content=st.body,
                respond_by=body.respond_by,
                preserved_until=None,
                linked_request_id=body.linked_request_id,
                head_seq=1,
                head_digest=statement.digest,
                created_at=now,
                updated_at=now,
            )
            session.add(request)
            await session.flush()
            session.add(statement)
    except IntegrityError as exc:
        head_seq, head_digest = await _head(ctx, envelope_request_id(envelope))
        raise StaleHead(
            "a request with this id was created concurrently",
            head_seq=head_seq,
            head_digest=head_digest,
        ) from exc
    return Accepted(request, statement, duplicate=False)


async def _check_new_request(
    session: AsyncSession, principal: Principal, body: c.RequestContent, st: Statement
) -> None:
    if principal.agency_role is not AgencyRole.CENTRAL_AUTHORITY:
        raise Forbidden("only a central authority transmits requests")
    if body.requesting_agency != st.actor:
        raise ContentInvalid("requesting_agency must be the signing agency")
    check_body(body.kind, Action.TRANSMIT, body, issued_at=st.issued_at, preserved_until=None)
    requested = await repo.get_agency(session, body.requested_agency)
    if requested is None or requested.role != AgencyRole.CENTRAL_AUTHORITY.value:
        raise ContentInvalid(
            f"requested_agency '{body.requested_agency}' is not a registered central authority"
        )
    if body.linked_request_id is not None:
        linked = await repo.get_request(session, body.linked_request_id)
        if linked is None or linked.requesting_agency != st.actor:
            raise ContentInvalid("linked_request_id names no request of yours")
    missing = required_missing(body)
    if missing:
        raise RequestIncomplete(missing)


async def append_statement(
    ctx: Context, principal: Principal, request_id: uuid.UUID, envelope: dsse.Envelope
) -> Accepted:
    """Append a signed statement to a request's chain and move its state."""
    actor = _actor_of(principal)
    try:
        async with transaction(ctx.sessions, write=True) as session:
            # One round trip for the request and the signing key: this is the hot path.
            request, key_row = await repo.request_and_key(
                session, request_id, _signer_key_id(envelope)
            )
            party = (
                None
                if request is None
                else party_of(
                    actor,
                    requesting_agency=request.requesting_agency,
                    requested_agency=request.requested_agency,
                    executing_agency=request.executing_agency,
                )
            )
            if request is None or party is None:
                raise NotFound(f"no request {request_id}")
            st, payload = _verify(ctx, envelope, actor, key_row)
            if st.request_id != request_id:
                raise StatementRejected("the statement names a different request_id")
            if st.seq != request.head_seq + 1 or st.prev != request.head_digest:
                # A re-sent accepted statement is always behind the head: look only then.
                if (done := await _duplicate(session, st, payload)) is not None:
                    return done
                raise StaleHead(
                    f"the request's head is seq {request.head_seq}; sign seq "
                    f"{request.head_seq + 1} with prev = the head digest",
                    head_seq=request.head_seq,
                    head_digest=request.head_digest,
                )
            action = _action(st)
            kind = Kind(request.kind)
            target = next_state(kind, State(request.state), action, party)
            body = decode_body(action, st.body)
            check_body(
                kind, action, body, issued_at=st.issued_at, preserved_until=request.preserved_until
            )
            now = ctx.clock()
            statement = _record(st, payload, envelope, now)
            values: dict[str, Any] = {
                "state": target.value,
                "head_seq": st.seq,
                "head_digest": statement.digest,
                "updated_at": now,
            }
            values.update(await _projection_changes(session, request, body, actor))
            if not await repo.advance_head(
                session, request_id, expected_seq=request.head_seq, values=values
            ):
                fresh = await repo.get_request(session, request_id)
                assert fresh is not None
                raise StaleHead(
                    "another statement was accepted first",
                    head_seq=fresh.head_seq,
                    head_digest=fresh.head_digest,
                )
            await repo.insert_statement(session, statement)
            await evidence.on_evidence_statement(
                session,
                request,
                body,
                actor=actor,
                statement_digest=statement.digest,
                now=now,
                max_package_bytes=ctx.policy.max_package_bytes,
            )
    except IntegrityError as exc:
        head_seq, head_digest = await _head(ctx, request_id)
        raise StaleHead(
            "another statement was accepted first", head_seq=head_seq, head_digest=head_digest
        ) from exc
    # Mirror the UPDATE on the loaded object only now: inside the transaction the ORM
    # would take the change for a second UPDATE.
    for name, value in values.items():
        setattr(request, name, value)
    return Accepted(request, statement, duplicate=False)


async def _head(ctx: Context, request_id: uuid.UUID) -> tuple[int, str]:
    async with transaction(ctx.sessions, write=False) as session:
        request = await repo.get_request(session, request_id)
    return (0, GENESIS) if request is None else (request.head_seq, request.head_digest)


async def _projection_changes(
    session: AsyncSession, request: RequestRow, body: msgspec.Struct, actor: str
) -> dict[str, Any]:
    if isinstance(body, c.Assignment):
        executor = await repo.get_agency(session, body.executing_agency)
        requested = await repo.get_agency(session, request.requested_agency)
        if executor is None or executor.role != AgencyRole.EXECUTING_AUTHORITY.value:
            raise ContentInvalid(
                f"'{body.executing_agency}' is not a registered executing authority"
            )
        if requested is not None and executor.country != requested.country:
            raise ContentInvalid("the executing authority must be in the requested state")
        return {"executing_agency": executor.id}
    if isinstance(body, c.Preservation | c.Extension):
        return {"preserved_until": body.until}
    if isinstance(body, c.Supersession):
        linked = await repo.get_request(session, body.mla_request_id)
        if linked is None or linked.kind != Kind.MLA.value or linked.requesting_agency != actor:
            raise ContentInvalid("mla_request_id names no MLA request of yours")
        return {"linked_request_id": linked.id}
    return {}
