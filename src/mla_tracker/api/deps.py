"""Dependencies: the workflow context and the authenticated principal."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from ..workflows.context import Context
from ..workflows.errors import AuthenticationFailed
from ..workflows.principals import FailedAuthLimiter, Principal, authenticate


def provide_context(state: State) -> Context:
    """The workflow context built at start-up."""
    ctx: Context = state.ctx
    return ctx


async def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    """Authenticate the bearer token; AuthenticationFailed (401) otherwise, or
    TooManyAuthFailures (429) when this address sent too many wrong tokens lately."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else None
    try:
        return await authenticate(state.ctx, presented)
    except AuthenticationFailed:
        limiter: FailedAuthLimiter | None = state.get("auth_limiter")
        # Only a presented token counts: a missing one is a client that forgot to log in.
        if presented and limiter is not None:
            limiter.failed(request.client.host if request.client else "unknown")
        raise
