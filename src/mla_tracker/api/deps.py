"""Dependencies: the workflow context and the authenticated principal."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from ..workflows.context import Context
from ..workflows.principals import Principal, authenticate


def provide_context(state: State) -> Context:
    """The workflow context built at start-up."""
    ctx: Context = state.ctx
    return ctx


async def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    """Authenticate the bearer token; raises AuthenticationFailed (401) otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return await authenticate(state.ctx, token.strip() if scheme.lower() == "bearer" else None)
