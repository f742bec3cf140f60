"""Who is calling: the operator, or one agency with its role; resolved from a bearer token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
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

    @property
    def is_auditor(self) -> bool:
        """Auditors read the metadata of every request."""
        return self.agency_role is AgencyRole.AUDITOR


OPERATOR = Principal(is_operator=True)


async def authenticate(ctx: Context, token: str | None) -> Principal:
    """Resolve a bearer token to a principal or raise AuthenticationFailed."""
    if not token:
        raise AuthenticationFailed("send 'Authorization: Bearer <token>'")
    digest = hash_token(token)
    if ctx.operator_token_hash is not None and hmac.compare_digest(digest, ctx.operator_token_hash):
        return OPERATOR
    now = time.monotonic()
    cached = ctx.principal_cache.get(digest)
    if cached is not None and cached[0] > now:
        principal: Principal = cached[1]
        return principal
    principal = await _lookup(ctx, digest)
    if len(ctx.principal_cache) > 10_000:
        ctx.principal_cache.clear()
    ctx.principal_cache[digest] = (now + ctx.policy.principal_cache_seconds, principal)
    return principal


async def _lookup(ctx: Context, digest: str) -> Principal:
    async with transaction(ctx.sessions, write=False) as session:
        found = await repo.token_with_agency(session, digest)
    if found is None or found[0].revoked_at is not None:
        raise AuthenticationFailed("unknown or revoked token")
    row, agency = found
    if row.is_operator or row.agency_id is None:
        return OPERATOR
    if agency is None:
        raise AuthenticationFailed("token's agency no longer exists")
    return Principal(False, agency.id, AgencyRole(agency.role))
