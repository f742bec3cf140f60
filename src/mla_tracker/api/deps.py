"""Dependencies: the workflow context and the authenticated principal."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request

from ..workflows.context import Context
from ..workflows.errors import AuthenticationFailed
from ..workflows.principals import (
    FailedAuthLimiter,
    Prefetched,
    Principal,
    authenticate,
    authenticate_with_move,
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
_PREFETCHED = "mla_prefetched_request"


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


async def provide_principal(request: Request[Any, Any, Any], ctx: Context) -> Principal:
    """Authenticate the bearer token; AuthenticationFailed (401) otherwise, or
    TooManyAuthFailures (429) when this address sent too many wrong tokens lately."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else None
    try:
        request_id = request.path_params.get("request_id")
        opt = request.route_handler.opt
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
