"""Operator use cases: register agencies, their keys and tokens. Never acts for an agency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..crypto.errors import KeyFormatError
from ..crypto.keys import VerifyingKey
from ..domain.countries import resolve_timezone
from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.tables import AgencyKeyRow, AgencyRow, TokenRow
from .commands import NewKey, RegisterAgency, RevokeKey
from .context import Context
from .errors import AlreadyExists, Forbidden, NotFound, StatementRejected
from .principals import Principal, hash_token, new_token


@dataclass(frozen=True)
class AgencyView:
    """An agency with its keys, as the directory shows it."""

    agency: AgencyRow
    keys: Sequence[AgencyKeyRow]


def _require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("only the hub operator manages agencies, keys and tokens")


def _parse_key(text: str) -> VerifyingKey:
    try:
        return VerifyingKey.from_base64(text)
    except KeyFormatError as exc:
        raise StatementRejected(f"public_key: {exc}") from exc


async def register_agency(
    ctx: Context, principal: Principal, cmd: RegisterAgency
) -> tuple[AgencyView, str]:
    """Create an agency (and its first key); return it with a fresh token, shown only once."""
    _require_operator(principal)
    timezone = resolve_timezone(cmd.country, cmd.timezone)
    key = _parse_key(cmd.public_key) if cmd.public_key else None
    now = ctx.clock()
    token = new_token()
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
        keys = []
        if key is not None:
            row = AgencyKeyRow(
                key_id=key.key_id,
                agency_id=cmd.id,
                public_key=key.raw,
                valid_from=now,
                revoked_at=None,
                created_at=now,
            )
            session.add(row)
            keys.append(row)
        session.add(
            TokenRow(
                token_hash=hash_token(token),
                agency_id=cmd.id,
                is_operator=False,
                created_at=now,
                revoked_at=None,
            )
        )
    return AgencyView(agency, keys), token


async def add_key(ctx: Context, principal: Principal, agency_id: str, cmd: NewKey) -> AgencyKeyRow:
    """Register another public key for an agency (key rotation)."""
    _require_operator(principal)
    key = _parse_key(cmd.public_key)
    now = ctx.clock()
    async with transaction(ctx.sessions, write=True) as session:
        if await repo.get_agency(session, agency_id) is None:
            raise NotFound(f"no agency '{agency_id}'")
        if await repo.get_key(session, key.key_id) is not None:
            raise AlreadyExists(f"key {key.key_id} is already registered")
        row = AgencyKeyRow(
            key_id=key.key_id,
            agency_id=agency_id,
            public_key=key.raw,
            valid_from=cmd.valid_from or now,
            revoked_at=None,
            created_at=now,
        )
        session.add(row)
    return row


async def revoke_key(
    ctx: Context, principal: Principal, agency_id: str, key_id: str, cmd: RevokeKey
) -> AgencyKeyRow:
    """Revoke a key from a time on; statements signed with it are refused from then."""
    _require_operator(principal)
    async with transaction(ctx.sessions, write=True) as session:
        row = await repo.get_key(session, key_id)
        if row is None or row.agency_id != agency_id:
            raise NotFound(f"agency '{agency_id}' has no key {key_id}")
        if row.revoked_at is None:
            row.revoked_at = cmd.revoked_at or ctx.clock()
    return row


async def issue_token(ctx: Context, principal: Principal, agency_id: str) -> str:
    """A further bearer token for an agency, shown once."""
    _require_operator(principal)
    token = new_token()
    async with transaction(ctx.sessions, write=True) as session:
        if await repo.get_agency(session, agency_id) is None:
            raise NotFound(f"no agency '{agency_id}'")
        session.add(
            TokenRow(
                token_hash=hash_token(token),
                agency_id=agency_id,
                is_operator=False,
                created_at=ctx.clock(),
                revoked_at=None,
            )
        )
    return token


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
