"""Agencies and their keys (docs/keys.md): the operator bootstraps, the agency controls.

The operator registers an agency and its first key, revokes keys from now on, and may add
a recovery key that signs nothing before a delay. Every further key is added by the agency
itself with a key event signed by a current key. Each change is a signed key event, checked
by the same `KeyHistory` code an offline verifier runs, then projected into `agency_keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto import dsse
from ..crypto.errors import KeyFormatError
from ..crypto.keyevents import (
    EventKind,
    digest,
    encode_key_event,
    parse_key_event,
    payload_of,
    sign_key_event,
)
from ..crypto.keyhistory import KeyHistory, KeyRecord, RecordedEvent
from ..crypto.keys import SigningKey, VerifyingKey
from ..domain.countries import resolve_timezone
from ..domain.model import SERVER_ACTOR
from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.tables import AgencyKeyRow, AgencyRow, KeyEventRow
from . import log
from .commands import NewKey, RegisterAgency
from .context import Context
from .errors import AlreadyExists, Forbidden, KeyRejected, NotFound, StaleHead, StatementRejected
from .principals import Principal

_TICK = timedelta(microseconds=1)


class OperatorCannotAddKey(Forbidden):
    """Only an agency adds its own keys once it has had one; the operator may not."""

    problem: ClassVar[str] = "operator-cannot-add-key"
    title: ClassVar[str] = "The operator cannot add this agency's keys"


class OperatorOnly(Forbidden):
    """Agency administration is the operator's alone."""

    problem: ClassVar[str] = "operator-only"
    title: ClassVar[str] = "Operator only"


@dataclass(frozen=True)
class AgencyView:
    """An agency with its keys, as the directory shows it."""

    agency: AgencyRow
    keys: Sequence[AgencyKeyRow]


@dataclass(frozen=True)
class KeyEventView:
    """A recorded key event, and whether this call recorded it or it was already there."""

    row: KeyEventRow
    duplicate: bool = False


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise OperatorOnly("only the hub operator registers agencies and administers their keys")


def _parse_key(text: str) -> VerifyingKey:
    try:
        return VerifyingKey.from_base64(text)
    except KeyFormatError as exc:
        raise StatementRejected(f"public_key: {exc}") from exc


def _server_key(ctx: Context) -> SigningKey:
    if ctx.server_key is None:
        raise RuntimeError("the hub has no server key; key events cannot be signed")
    return ctx.server_key


async def _history(ctx: Context, session: AsyncSession, agency_id: str) -> KeyHistory:
    """The agency's key history, re-verified from its stored events."""
    rows = await repo.key_events_of(session, agency_id)
    envelopes = [dsse.parse_envelope(r.envelope) for r in rows]
    return KeyHistory.from_events(envelopes, _server_key(ctx).public)


async def _store(
    ctx: Context, session: AsyncSession, history: KeyHistory, envelope: dsse.Envelope
) -> KeyEventRow:
    """Verify the event as the next of its chain, store it, and project it into agency_keys."""
    recorded: RecordedEvent = history.append(envelope)
    ev = recorded.event
    now = ctx.clock()
    row = KeyEventRow(
        agency_id=ev.agency,
        seq=ev.seq,
        digest=recorded.digest,
        prev=ev.prev,
        event=ev.event,
        key_id=ev.key_id,
        signer_key_id=recorded.signer,
        issued_at=ev.issued_at,
        recorded_at=now,
        envelope=envelope.to_json(),
    )
    session.add(row)
    await log.queue(session, envelope, ctx, agency_id=ev.agency)
    record = history.get(ev.key_id)
    assert record is not None  # append() just added or revoked it
    if ev.event == "revoke":
        key = await repo.get_key(session, ev.key_id)
        assert key is not None and key.agency_id == ev.agency
        key.revoked_at = record.revoked_at
        await repo.revoke_tokens_of_key(session, ev.key_id, now)
    else:
        session.add(_key_row(record, now))
    await session.flush()
    return row


def _key_row(record: KeyRecord, now: datetime) -> AgencyKeyRow:
    return AgencyKeyRow(
        key_id=record.key_id,
        agency_id=record.agency_id,
        public_key=record.key.raw,
        valid_from=record.valid_from,
        usable_from=record.usable_from,
        revoked_at=None,
        created_at=now,
        origin=record.origin,
    )


def _server_event(
    ctx: Context,
    history: KeyHistory,
    agency_id: str,
    event: EventKind,
    key_id: str,
    at: datetime,
    *,
    public_key: VerifyingKey | None = None,
    usable_from: datetime | None = None,
) -> dsse.Envelope:
    seq, prev = history.head(agency_id)
    events = history.events(agency_id)
    # An agency's event may be signed up to the allowed skew ahead of the hub's clock; the
    # chain's times never go backwards, so the server's next event does not either.
    if events and events[-1].event.issued_at > at:
        at = events[-1].event.issued_at
    payload = encode_key_event(
        agency=agency_id,
        seq=seq + 1,
        prev=prev,
        event=event,
        key_id=key_id,
        issued_at=at,
        public_key=public_key,
        usable_from=usable_from,
    )
    return sign_key_event(payload, _server_key(ctx))


async def _head_conflict(ctx: Context, agency_id: str, exc: IntegrityError) -> StaleHead:
    async with transaction(ctx.sessions, write=False) as session:
        rows = await repo.key_events_of(session, agency_id)
    seq, head = (rows[-1].seq, rows[-1].digest) if rows else (0, "0" * 64)
    stale = StaleHead(
        f"another key event of '{agency_id}' was recorded first; re-read and re-sign",
        head_seq=seq,
        head_digest=head,
    )
    stale.__cause__ = exc
    return stale


async def register_agency(ctx: Context, principal: Principal, cmd: RegisterAgency) -> AgencyView:
    """Create an agency and, with `public_key`, its first key (a server-signed register)."""
    _require_operator(principal)
    if cmd.id == SERVER_ACTOR:
        raise AlreadyExists(f"agency id '{SERVER_ACTOR}' is the hub's own, for its statements")
    timezone = resolve_timezone(cmd.country, cmd.timezone)
    key = _parse_key(cmd.public_key) if cmd.public_key else None
    now = ctx.clock()
    async with transaction(ctx.sessions, write=True) as session:
        if await repo.get_agency(session, cmd.id) is not None:
            raise AlreadyExists(f"agency '{cmd.id}' is already registered")
        if key is not None and await repo.get_key(session, key.key_id) is not None:
            raise AlreadyExists(f"key {key.key_id} is already registered")
        agency = AgencyRow(
            id=cmd.id,
            name=cmd.name,
            country=cmd.country,
            role=cmd.role.value,
            timezone=timezone,
            created_at=now,
        )
        session.add(agency)
        await session.flush()
        if key is not None:
            history = KeyHistory(_server_key(ctx).public)
            envelope = _server_event(
                ctx, history, cmd.id, "register", key.key_id, now, public_key=key
            )
            await _store(ctx, session, history, envelope)
        keys = await repo.keys_of(session, [cmd.id])
    return AgencyView(agency, keys)


async def add_first_key(
    ctx: Context, principal: Principal, agency_id: str, cmd: NewKey
) -> AgencyKeyRow:
    """The operator registers the first key of an agency that never had one; no other."""
    _require_operator(principal)
    key = _parse_key(cmd.public_key)
    now = ctx.clock()
    async with transaction(ctx.sessions, write=True) as session:
        if await repo.get_agency(session, agency_id) is None:
            raise NotFound(f"no agency '{agency_id}'")
        history = await _history(ctx, session, agency_id)
        if history.head(agency_id)[0] > 0:
            raise OperatorCannotAddKey(
                f"agency '{agency_id}' already has keys: further keys are added by the agency "
                "with a key event signed by a current key (mla agency rotate-key); if it lost "
                "them all, add a delayed recovery key (POST …/recovery-keys)"
            )
        if await repo.get_key(session, key.key_id) is not None:
            raise AlreadyExists(f"key {key.key_id} is already registered")
        envelope = _server_event(
            ctx, history, agency_id, "register", key.key_id, now, public_key=key
        )
        await _store(ctx, session, history, envelope)
        row = await repo.get_key(session, key.key_id)
    assert row is not None
    return row


async def add_recovery_key(
    ctx: Context, principal: Principal, agency_id: str, cmd: NewKey
) -> AgencyKeyRow:
    """The operator adds a recovery key, usable only after the recovery delay (announced)."""
    _require_operator(principal)
    key = _parse_key(cmd.public_key)
    now = ctx.clock()
    try:
        async with transaction(ctx.sessions, write=True) as session:
            if await repo.get_agency(session, agency_id) is None:
                raise NotFound(f"no agency '{agency_id}'")
            history = await _history(ctx, session, agency_id)
            if history.head(agency_id)[0] == 0:
                raise Forbidden(
                    f"agency '{agency_id}' never had a key: register its first key "
                    f"(POST /v1/agencies/{agency_id}/keys) instead of a recovery key"
                )
            if await repo.get_key(session, key.key_id) is not None:
                raise AlreadyExists(f"key {key.key_id} is already registered")
            envelope = _server_event(
                ctx,
                history,
                agency_id,
                "recover",
                key.key_id,
                now,
                public_key=key,
                usable_from=now + ctx.policy.recovery_delay,
            )
            await _store(ctx, session, history, envelope)
            row = await repo.get_key(session, key.key_id)
    except IntegrityError as exc:
        raise await _head_conflict(ctx, agency_id, exc) from exc
    assert row is not None
    return row


async def operator_revoke_key(
    ctx: Context, principal: Principal, agency_id: str, key_id: str
) -> AgencyKeyRow:
    """The operator revokes a key from now on (server-signed); its sessions end at once."""
    _require_operator(principal)
    try:
        async with transaction(ctx.sessions, write=True) as session:
            row = await repo.get_key(session, key_id)
            if row is None or row.agency_id != agency_id:
                raise NotFound(f"agency '{agency_id}' has no key {key_id}")
            if row.revoked_at is not None:
                return row
            history = await _history(ctx, session, agency_id)
            # "From now", but never before a statement already accepted from this key (one
            # signed a little in the future): that would make accepted history look invalid.
            at = ctx.clock()
            last = await repo.last_statement_time(session, key_id)
            if last is not None and last >= at:
                at = last + _TICK
            envelope = _server_event(ctx, history, agency_id, "revoke", key_id, at)
            await _store(ctx, session, history, envelope)
    except IntegrityError as exc:
        raise await _head_conflict(ctx, agency_id, exc) from exc
    return row


async def submit_key_event(ctx: Context, agency_id: str, envelope: dsse.Envelope) -> KeyEventView:
    """Record an `add` or `revoke` the agency signed with a current key (no token needed)."""
    payload = payload_of(envelope)
    ev = parse_key_event(payload)
    if ev.agency != agency_id:
        raise StatementRejected(f"the key event names agency '{ev.agency}', not '{agency_id}'")
    if ev.event not in ("add", "revoke"):
        raise Forbidden(f"a '{ev.event}' key event is the operator's; agencies sign add/revoke")
    now = ctx.clock()
    skew = ctx.policy.max_future_skew
    if not now - skew <= ev.issued_at <= now + skew:
        raise StatementRejected(
            f"issued_at must be within {int(skew.total_seconds())} s of the hub's clock "
            f"({now.isoformat()}); key events take effect when signed and are never back-dated"
        )
    try:
        async with transaction(ctx.sessions, write=True) as session:
            if await repo.get_agency(session, agency_id) is None:
                raise NotFound(f"no agency '{agency_id}'")
            seen = await repo.key_event_by_digest(session, digest(payload))
            if seen is not None and seen.agency_id == agency_id:
                return KeyEventView(seen, duplicate=True)
            history = await _history(ctx, session, agency_id)
            seq, head = history.head(agency_id)
            if (ev.seq, ev.prev) != (seq + 1, head):
                raise StaleHead(
                    f"key event seq {ev.seq} does not extend the chain of '{agency_id}'",
                    head_seq=seq,
                    head_digest=head,
                )
            if ev.event == "revoke":
                last = await repo.last_statement_time(session, ev.key_id)
                if last is not None and ev.issued_at <= last:
                    raise KeyRejected(
                        f"key {ev.key_id} signed a statement at {last.isoformat()}, which was "
                        "accepted; a revocation cannot take effect before it"
                    )
            elif await repo.get_key(session, ev.key_id) is not None:
                raise AlreadyExists(f"key {ev.key_id} is already registered")
            row = await _store(ctx, session, history, envelope)
    except IntegrityError as exc:
        raise await _head_conflict(ctx, agency_id, exc) from exc
    return KeyEventView(row)


async def key_events(ctx: Context, agency_id: str | None = None) -> Sequence[KeyEventRow]:
    """Recorded key events: one agency's in chain order, or every agency's as recorded."""
    async with transaction(ctx.sessions, write=False) as session:
        if agency_id is None:
            return await repo.all_key_events(session)
        if await repo.get_agency(session, agency_id) is None:
            raise NotFound(f"no agency '{agency_id}'")
        return await repo.key_events_of(session, agency_id)


async def directory(ctx: Context) -> list[AgencyView]:
    """Every agency with its keys: the public directory."""
    async with transaction(ctx.sessions, write=False) as session:
        agencies = await repo.list_agencies(session)
        keys = await repo.keys_of(session, [a.id for a in agencies])
    by_agency: dict[str, list[AgencyKeyRow]] = {}
    for key in keys:
        by_agency.setdefault(key.agency_id, []).append(key)
    return [AgencyView(a, by_agency.get(a.id, [])) for a in agencies]


async def show_agency(ctx: Context, agency_id: str) -> AgencyView:
    """One agency with its keys."""
    async with transaction(ctx.sessions, write=False) as session:
        agency = await repo.get_agency(session, agency_id)
        if agency is None:
            raise NotFound(f"no agency '{agency_id}'")
        keys = await repo.keys_of(session, [agency_id])
    return AgencyView(agency, keys)
