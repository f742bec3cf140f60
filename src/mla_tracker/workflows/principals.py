"""Who is calling: the operator, or one agency with its role; resolved from a bearer token."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import math
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..domain.model import AgencyRole
from ..storage import repositories as repo
from ..storage import request_reads
from ..storage.request_reads import KeyView, RequestView
from .context import Context
from .errors import AuthenticationFailed, WorkflowError

TOKEN_PREFIX = "mla_"
log = logging.getLogger("mla_tracker.auth")


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
    digest = _digest_of(token)
    if _is_operator_token(ctx, digest):
        return OPERATOR
    return _principal(ctx, digest, await repo.session_facts(ctx.sessions, digest))


@dataclass(frozen=True)
class Prefetched:
    """A request read in the same round trip as the caller's token (None: no such request),
    and for an append the signing key its statement names (`key_id`; None: no such key).

    Whether the caller may see it is still the workflow's question (queries.can_see).
    """

    request_id: uuid.UUID
    request: RequestView | None
    key_id: str | None = None
    key: KeyView | None = None


_Found = TypeVar("_Found", bound=tuple[Any, ...])


async def _with_token(
    ctx: Context, token: str | None, read: Callable[[str], Awaitable[_Found | None]]
) -> tuple[Principal, _Found | None]:
    """`authenticate`, where `read(token_hash)` reads the session's facts (first in its
    tuple) with whatever the route needs, in one query. The rows read with the token come
    back only where that query ran; elsewhere the token is read alone (None)."""
    digest = _digest_of(token)
    if _is_operator_token(ctx, digest):
        return OPERATOR, None
    if not request_reads.reads_in_one(ctx.sessions):
        return _principal(ctx, digest, await repo.session_facts(ctx.sessions, digest)), None
    found = await read(digest)
    return _principal(ctx, digest, None if found is None else found[0]), found


async def authenticate_with_request(
    ctx: Context, token: str | None, request_id: uuid.UUID
) -> tuple[Principal, Prefetched | None]:
    """`authenticate`, reading one request in the same query: a GET of one request is then
    one query, not two (issue 13)."""
    principal, found = await _with_token(
        ctx,
        token,
        lambda digest: request_reads.session_and_request(ctx.sessions, digest, request_id),
    )
    return principal, None if found is None else Prefetched(request_id, found[1])


async def authenticate_with_move(
    ctx: Context, token: str | None, request_id: uuid.UUID, key_id: str
) -> tuple[Principal, Prefetched | None]:
    """`authenticate`, reading in the same query the request and the signing key an append
    needs: the append's read before it decides is then one query, not two (issue 13)."""
    principal, found = await _with_token(
        ctx,
        token,
        lambda digest: request_reads.session_request_and_key(
            ctx.sessions, digest, request_id, key_id
        ),
    )
    if found is None:
        return principal, None
    return principal, Prefetched(request_id, found[1], key_id, found[2])


@dataclass(frozen=True)
class PrefetchedPage:
    """A page of the token's own agency's requests, read with the token: what a party
    lists. The workflow uses it only if it is the page it would read (queries.py)."""

    filter: request_reads.PageFilter
    limit: int
    rows: Sequence[RequestView]


async def authenticate_with_page(
    ctx: Context, token: str | None, flt: request_reads.PageFilter, limit: int
) -> tuple[Principal, PrefetchedPage | None]:
    """`authenticate`, reading in the same query the page a party would list: a party's
    list of requests is then one query, not two (issue 13)."""
    principal, found = await _with_token(
        ctx,
        token,
        lambda digest: request_reads.session_and_page(ctx.sessions, digest, flt, limit=limit),
    )
    if found is None:
        return principal, None
    party = dataclasses.replace(flt, party=principal.agency_id)
    return principal, PrefetchedPage(party, limit, found[1])


def _digest_of(token: str | None) -> str:
    if not token:
        raise AuthenticationFailed("send 'Authorization: Bearer <token>'")
    return hash_token(token)


def _is_operator_token(ctx: Context, digest: str) -> bool:
    return ctx.operator_token_hash is not None and hmac.compare_digest(
        digest, ctx.operator_token_hash
    )


def _principal(ctx: Context, digest: str, found: repo.SessionFacts | None) -> Principal:
    """The one home of what makes a stored session valid."""
    if found is None or found.revoked_at is not None:
        raise AuthenticationFailed("unknown or revoked token")
    if found.is_operator and found.agency_id is None:
        return Principal(is_operator=True, token_hash=digest)
    now = ctx.clock()
    if (
        found.agency_id is None
        or found.agency_role is None
        or found.key_id is None
        or found.expires_at is None
    ):
        raise AuthenticationFailed("not a session token; log in by signing a challenge")
    if found.expires_at <= now:
        raise AuthenticationFailed("session expired; log in again")
    if found.key_revoked_at is not None and found.key_revoked_at <= now:
        raise AuthenticationFailed("the key that opened this session is revoked; log in again")
    return Principal(False, found.agency_id, AgencyRole(found.agency_role), found.key_id, digest)


class TooManyAuthFailures(WorkflowError):
    """This client address presented too many wrong tokens lately."""

    status: ClassVar[int] = 429
    problem: ClassVar[str] = "too-many-auth-failures"
    title: ClassVar[str] = "Too many failed authentications"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong tokens from this address; try again in {retry_after} s")
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """When the window ends."""
        return {"Retry-After": str(self.retry_after)}


@dataclass
class _Window:
    start: float
    failures: int = 0
    logged: bool = False


@dataclass
class FailedAuthLimiter:
    """Counts wrong bearer tokens per client address in fixed windows (in this process).

    Past `limit` failures in a window, a wrong token is answered 429 instead of 401 until
    the window ends; a valid token is still accepted (tokens are 256-bit random, so the
    limit is about load and visibility, and it must not lock out an agency's colleagues
    behind the same address).
    """

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)
    #: Addresses tracked at most; past it, expired windows are dropped first.
    max_addresses: ClassVar[int] = 100_000

    def failed(self, address: str) -> None:
        """Record a wrong token; raises TooManyAuthFailures once past the limit."""
        if self.limit <= 0:
            return
        now = self.clock()
        current = self._windows.get(address)
        if current is None or now - current.start >= self.window:
            if len(self._windows) >= self.max_addresses:
                self._prune(now)
            current = self._windows[address] = _Window(now)
        current.failures += 1
        if current.failures <= self.limit:
            return
        retry_after = max(1, math.ceil(current.start + self.window - now))
        if not current.logged:  # once per address and window; never the token
            current.logged = True
            log.warning(
                "%d wrong tokens from %s within %g s; answering 429 for %d s",
                current.failures,
                address,
                self.window,
                retry_after,
            )
        raise TooManyAuthFailures(retry_after)

    def _prune(self, now: float) -> None:
        self._windows = {a: w for a, w in self._windows.items() if now - w.start < self.window}
        if len(self._windows) >= self.max_addresses:  # a flood of addresses: forget them
            self._windows.clear()
