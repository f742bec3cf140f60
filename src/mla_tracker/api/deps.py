"""Dependencies: the workflow context and the authenticated principal."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request

from ..storage.request_reads import PageFilter
from ..workflows.context import Context
from ..workflows.errors import AuthenticationFailed
from ..workflows.principals import (
    FailedAuthLimiter,
    Prefetched,
    PrefetchedPage,
    Principal,
    authenticate,
    authenticate_with_move,
    authenticate_with_page,
    authenticate_with_request,
)


def provide_context(request: Request[Any, Any, Any]) -> Context:
    """The workflow context built at start-up."""
    # Not a `state: State` parameter: litestar would build a State copy of the app's
    # state for each dependency asking for it, on every request.
    ctx: Context = request.app.state.ctx
    return ctx


#: Handler `opt` key: read the path's `request_id` with the token, in one round trip.
PREFETCH_OPT = "prefetch_request"
#: Handler `opt` key, with PREFETCH_OPT: also read the key that signed the body's statement.
PREFETCH_SIGNER_OPT = "prefetch_signer_key"
#: Handler `opt` key: read the first page a party would list with the token.
PREFETCH_PAGE_OPT = "prefetch_page"
#: The list's page size when the query names none (the list route's default too).
DEFAULT_PAGE_SIZE = 50
_PREFETCHED = "mla_prefetched_request"
_PAGE_FILTERS = ("counterparty", "kind", "state", "urgency")


def _first_page(request: Request[Any, Any, Any]) -> tuple[PageFilter, int] | None:
    """The page filter and row limit the list route will read, from the query as litestar
    has already validated it; None for a later page (a cursor), which is read as usual.

    The workflow compares this with the page it wants, so a guess here that differs is a
    wasted read, never a wrong answer.
    """
    query = request.query_params
    if "cursor" in query:
        return None
    try:
        limit = int(query.get("limit", DEFAULT_PAGE_SIZE))
    except ValueError:
        return None
    found = {name: query.get(name) for name in _PAGE_FILTERS}
    return PageFilter(**found), limit + 1  # one more row says whether a next page exists


async def _signer_key_id(request: Request[Any, Any, Any]) -> str | None:
    """The key id of the body's one statement signature, if the body has that shape.

    litestar decoded the body before resolving dependencies (this is its cached value);
    anything else is the handler's to refuse, with its own error.
    """
    body = await request.json()
    envelope = body.get("envelope") if isinstance(body, dict) else None
    signatures = envelope.get("signatures") if isinstance(envelope, dict) else None
    if isinstance(signatures, list) and len(signatures) == 1 and isinstance(signatures[0], dict):
        key_id = signatures[0].get("keyid")
        return key_id if isinstance(key_id, str) else None
    return None


def prefetched(request: Request[Any, Any, Any]) -> Prefetched | None:
    """The request `provide_principal` read with the token, if the route asked for it."""
    found = request.scope["state"].get(_PREFETCHED)
    return found if isinstance(found, Prefetched) else None


def prefetched_page(request: Request[Any, Any, Any]) -> PrefetchedPage | None:
    """The page `provide_principal` read with the token, if the route asked for it."""
    found = request.scope["state"].get(_PREFETCHED)
    return found if isinstance(found, PrefetchedPage) else None


async def provide_principal(request: Request[Any, Any, Any], ctx: Context) -> Principal:
    """Authenticate the bearer token; AuthenticationFailed (401) otherwise, or
    TooManyAuthFailures (429) when this address sent too many wrong tokens lately."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else None
    try:
        request_id = request.path_params.get("request_id")
        opt = request.route_handler.opt
        page = _first_page(request) if opt.get(PREFETCH_PAGE_OPT) else None
        if page is not None:
            principal, first = await authenticate_with_page(ctx, presented, *page)
            request.scope["state"][_PREFETCHED] = first
            return principal
        if isinstance(request_id, uuid.UUID) and opt.get(PREFETCH_OPT):
            key_id = await _signer_key_id(request) if opt.get(PREFETCH_SIGNER_OPT) else None
            if key_id is None:
                principal, found = await authenticate_with_request(ctx, presented, request_id)
            else:
                principal, found = await authenticate_with_move(ctx, presented, request_id, key_id)
            request.scope["state"][_PREFETCHED] = found
            return principal
        return await authenticate(ctx, presented)
    except AuthenticationFailed:
        limiter: FailedAuthLimiter | None = request.app.state.get("auth_limiter")
        # Only a presented token counts: a missing one is a client that forgot to log in.
        if presented and limiter is not None:
            limiter.failed(request.client.host if request.client else "unknown")
        raise
