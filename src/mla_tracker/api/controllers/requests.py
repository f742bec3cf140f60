"""Requests and their signed statements."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from ...crypto.statement import SignedStatement
from ...domain.bodies import decode_body
from ...domain.content import RequestContent
from ...domain.errors import TransitionRefused
from ...domain.model import Action, Kind, State, Urgency
from ...workflows import appends, queries, statements
from ...workflows import completeness as completeness_workflow
from ...workflows.context import Context
from ...workflows.errors import Forbidden, StaleHead
from ...workflows.principals import Principal
from ..deps import (
    DEFAULT_PAGE_SIZE,
    PREFETCH_OPT,
    PREFETCH_PAGE_OPT,
    PREFETCH_SIGNER_OPT,
    prefetched,
    prefetched_page,
)
from ..metrics import METRIC_OPT
from ..openapi import BODY_OPT, raises
from ..schemas import (
    AcceptedOut,
    CompletenessOut,
    LogPosition,
    MissingOut,
    RequestList,
    RequestOut,
    StatementOut,
    request_out,
    request_summary,
    statement_out,
)


async def _accepted(ctx: Context, result: statements.Accepted) -> Response[AcceptedOut]:
    index = await statements.log_position(ctx, result)
    position = LogPosition(
        index=index,
        pending=index is None,
        poll=f"/v1/log/proof/inclusion?digest={result.statement.digest}",
    )
    body = AcceptedOut(
        request_summary(result.request, bodies=True),
        statement_out(result.statement, bodies=True),
        result.duplicate,
        position,
    )
    return Response(body, status_code=200 if result.duplicate else 201)


class RequestController(Controller):
    """`/v1/requests`."""

    path = "/v1/requests"
    tags = ("requests",)

    @post("/", opt={METRIC_OPT: "statements", **raises(Forbidden, StaleHead)})
    async def submit(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        data: JSONBody[SignedStatement],
    ) -> Response[AcceptedOut]:
        """Create a request from its signed `transmit` statement and body (201; 200 if re-sent)."""
        return await _accepted(ctx, await statements.submit_request(ctx, principal, data))

    @post("/completeness", status_code=200, opt={BODY_OPT: RequestContent})
    async def completeness(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        data: JSONBody[dict[str, Any]],
    ) -> CompletenessOut:
        """Dry run: gaps by severity (required, recommended, warning). Stores nothing."""
        content = decode_body(Action.TRANSMIT, data)
        assert isinstance(content, RequestContent)
        missing = await completeness_workflow.check_request(ctx, content)
        return CompletenessOut(
            complete=not any(m.severity == "required" for m in missing),
            missing=[MissingOut(m.field, m.message, m.severity) for m in missing],
        )

    @get("/", opt={PREFETCH_PAGE_OPT: True, **raises(Forbidden)})
    async def list_requests(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request: Request[Any, Any, Any],
        kind: FromQuery[Kind | None] = None,
        state_filter: Annotated[State | None, QueryParameter(name="state")] = None,
        urgency: FromQuery[Urgency | None] = None,
        counterparty: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = DEFAULT_PAGE_SIZE,
    ) -> RequestList:
        """Requests the caller may see, newest first, with cursor pagination."""
        page = await queries.list_requests(
            ctx,
            principal,
            queries.RequestFilter(
                kind=kind,
                state=state_filter,
                urgency=urgency,
                counterparty=counterparty,
                cursor=cursor,
                limit=limit,
            ),
            prefetched_page(request),
        )
        return RequestList(
            [request_summary(r, bodies=page.bodies) for r in page.items], page.next_cursor
        )

    @get("/{request_id:uuid}", opt={PREFETCH_OPT: True, **raises(Forbidden)})
    async def show(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
    ) -> RequestOut:
        """One request's current state."""
        visible = await queries.show_request(ctx, principal, request_id, prefetched(request))
        return request_out(visible.request, bodies=visible.bodies)

    @get("/{request_id:uuid}/statements", opt=raises(Forbidden))
    async def statements(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
    ) -> list[StatementOut]:
        """A request's statements in chain order, envelopes as verified (bodies for parties)."""
        visible = await queries.request_statements(ctx, principal, request_id)
        return [statement_out(r, bodies=visible.bodies) for r in visible.statements]

    @post(
        "/{request_id:uuid}/statements",
        opt={
            METRIC_OPT: "statements",
            PREFETCH_OPT: True,
            PREFETCH_SIGNER_OPT: True,
            **raises(Forbidden, StaleHead, TransitionRefused),
        },
    )
    async def append(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
        data: JSONBody[SignedStatement],
        request: Request[Any, Any, Any],
    ) -> Response[AcceptedOut]:
        """Append a signed statement and its body (201; 200 if re-sent; 409 with the head)."""
        return await _accepted(
            ctx,
            await appends.append_statement(ctx, principal, request_id, data, prefetched(request)),
        )
