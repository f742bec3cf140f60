"""Who is calling: the operator, or one agency with its role; resolved from a bearer token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..domain.model import AgencyRole
from ..storage import repositories as repo
from ..storage.db import transaction
from .context import Context
from .errors import AuthenticationFailed

TOKEN_PREFIX = "mla_"


def new_token() -> str:
    """A fresh bearer token (256 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    is_operator: bool
    agency_id: str | None = None
    agency_role: AgencyRole | None = None
    #: The key whose signed login minted this session (agencies only).
    key_id: str | None = None
    #: The presented token's hash, so logout can revoke exactly this session.
    token_hash: str | None = None

    @property
    def is_auditor(self) -> bool:
        """Auditors read the metadata of every request."""
        return self.agency_role is AgencyRole.AUDITOR


OPERATOR = Principal(is_operator=True)


async def authenticate(ctx: Context, token: str | None) -> Principal:
    """Resolve a bearer token to a principal or raise AuthenticationFailed.

    Asks the database every time: a cached answer could outlive a logout or a key
    revocation made through another server process.
    """
    if not token:
        raise AuthenticationFailed("send 'Authorization: Bearer <token>'")
    digest = hash_token(token)
    if ctx.operator_token_hash is not None and hmac.compare_digest(digest, ctx.operator_token_hash):
        return OPERATOR
    async with transaction(ctx.sessions, write=False) as session:
        found = await repo.session_principal(session, digest)
    if found is None or found[0].revoked_at is not None:
        raise AuthenticationFailed("unknown or revoked token")
    row, agency, key = found
    if row.is_operator and row.agency_id is None:
        return Principal(is_operator=True, token_hash=digest)
    now = ctx.clock()
    if agency is None or key is None or row.expires_at is None:
        raise AuthenticationFailed("not a session token; log in by signing a challenge")
    if row.expires_at <= now:
        raise AuthenticationFailed("session expired; log in again")
    if key.revoked_at is not None and key.revoked_at <= now:
        raise AuthenticationFailed("the key that opened this session is revoked; log in again")
    return Principal(False, agency.id, AgencyRole(agency.role), key.key_id, digest)
