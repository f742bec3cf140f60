"""Sessions the agency mints (docs/keys.md): sign a one-time challenge with a current key.

The hub hands out a random challenge; the agency signs a login naming it; the hub checks
the key is the agency's and usable now, consumes the challenge, and returns a short-lived
token stored only as its SHA-256 beside the key that minted it. The operator cannot mint one.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime

from ..crypto import dsse
from ..crypto.errors import SignatureError
from ..crypto.keyhistory import unusable_reason
from ..crypto.keys import VerifyingKey
from ..crypto.login import LOGIN_PAYLOAD_TYPE, parse_login
from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.tables import AgencyKeyRow, ChallengeRow, TokenRow
from .context import Context
from .errors import AuthenticationFailed, Forbidden, StatementRejected
from .principals import Principal, hash_token, new_token


@dataclass(frozen=True)
class Challenge:
    """A login challenge: standard base64 of 32 random bytes, single use."""

    challenge: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    """A minted session: the token (shown once) and what it stands for."""

    token: str
    expires_at: datetime
    agency_id: str
    key_id: str
    #: The agency's recovery keys that are not revoked: each one is announced at every login.
    recovery_keys: list[AgencyKeyRow]


async def new_challenge(ctx: Context) -> Challenge:
    """Store and return a fresh challenge, valid for the policy's challenge lifetime."""
    now = ctx.clock()
    value = base64.b64encode(secrets.token_bytes(32)).decode()
    expires = now + ctx.policy.challenge_ttl
    async with transaction(ctx.sessions, write=True) as session:
        await repo.add_challenge(
            session, ChallengeRow(challenge=value, created_at=now, expires_at=expires)
        )
    return Challenge(value, expires)


def _usable(key: AgencyKeyRow | None, agency_id: str, key_id: str, now: datetime) -> AgencyKeyRow:
    if key is None or key.agency_id != agency_id:
        raise AuthenticationFailed(f"agency '{agency_id}' has no key {key_id}")
    reason = unusable_reason(
        key_id,
        valid_from=key.valid_from,
        usable_from=key.usable_from,
        revoked_at=key.revoked_at,
        at=now,
    )
    if reason is not None:
        raise AuthenticationFailed(reason)
    return key


async def login(ctx: Context, envelope: dsse.Envelope) -> Session:
    """Verify a signed login and mint a session token for the key's agency."""
    if envelope.payloadType != LOGIN_PAYLOAD_TYPE:
        raise StatementRejected(f"a login's payloadType is '{LOGIN_PAYLOAD_TYPE}'")
    login_ = parse_login(envelope.payload_bytes())
    if len(envelope.signatures) != 1 or envelope.signatures[0].keyid != login_.key_id:
        raise StatementRejected("a login carries one signature, by the key named in key_id")
    now = ctx.clock()
    skew = ctx.policy.max_future_skew
    if not now - ctx.policy.challenge_ttl - skew <= login_.issued_at <= now + skew:
        raise StatementRejected("login issued_at is far from the hub's clock; check your clock")
    token = new_token()
    expires = now + ctx.policy.session_ttl
    async with transaction(ctx.sessions, write=True) as session:
        key = _usable(await repo.get_key(session, login_.key_id), login_.agency, login_.key_id, now)
        try:
            dsse.verify(envelope, LOGIN_PAYLOAD_TYPE, lambda _kid: VerifyingKey(key.public_key))
        except SignatureError as exc:
            raise AuthenticationFailed(f"login signature: {exc}") from exc
        if not await repo.take_challenge(session, login_.challenge, now):
            raise AuthenticationFailed("unknown, used or expired challenge; ask for a new one")
        session.add(
            TokenRow(
                token_hash=hash_token(token),
                agency_id=login_.agency,
                is_operator=False,
                created_at=now,
                revoked_at=None,
                key_id=key.key_id,
                expires_at=expires,
            )
        )
        keys = await repo.keys_of(session, [login_.agency])
    recovery = [k for k in keys if k.origin == "recovery" and k.revoked_at is None]
    return Session(token, expires, login_.agency, key.key_id, recovery)


async def logout(ctx: Context, principal: Principal) -> None:
    """Revoke the session token the caller presented."""
    if principal.token_hash is None:
        raise Forbidden("the configured operator token is not a session; change it in config")
    async with transaction(ctx.sessions, write=True) as session:
        await repo.revoke_token(session, principal.token_hash, ctx.clock())
