"""Deadlines, computed on read: per request, and across requests soonest due first."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from ...domain.deadline_clock import Status
from ...domain.deadline_file import load_rules
from ...domain.deadlines import DEFAULTS, DeadlineRules
from ...workflows import deadlines, queries
from ...workflows.context import Context
from ...workflows.errors import Forbidden
from ...workflows.principals import Principal
from ..openapi import raises
from ..schemas import (
    DeadlineList,
    DeadlineOut,
    RequestDeadlinesOut,
    deadline_out,
    request_summary,
)

#: The environment variable naming the operator's deadline file (docs/deadlines.md).
DEADLINES_FILE_ENV = "MLA_DEADLINES_FILE"
#: Where create_app keeps the rules in force, in the application state.
STATE_KEY = "deadline_rules"


def configured_rules(environ: Mapping[str, str] = os.environ) -> DeadlineRules:
    """The built-in rules, or MLA_DEADLINES_FILE over them (raises DeadlineRulesInvalid)."""
    path = environ.get(DEADLINES_FILE_ENV, "").strip()
    return load_rules(Path(path)) if path else DEFAULTS


def rules_in_force(state: State) -> DeadlineRules:
    """The rules read and checked when the app was built."""
    rules: DeadlineRules = state.get(STATE_KEY, DEFAULTS)
    return rules


class RequestDeadlineController(Controller):
    """`/v1/requests/{id}/deadlines`."""

    path = "/v1/requests"
    tags = ("deadlines",)

    @get("/{request_id:uuid}/deadlines", opt=raises(Forbidden))
    async def of_request(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        state: State,
        request_id: FromPath[uuid.UUID],
    ) -> RequestDeadlinesOut:
        """A request's deadlines: rule, source, due (UTC and local), who, pending/met/missed.

        Auditors see those computed from signed metadata: no respond_by, no preservation
        expiry (their dates are in bodies).
        """
        found = await deadlines.deadlines_of(ctx, principal, request_id, rules_in_force(state))
        bodies = queries.reads_bodies(principal)
        return RequestDeadlinesOut(
            request_summary(found.request, bodies=bodies),
            [deadline_out(found.request, d) for d in found.deadlines],
        )


class DeadlineController(Controller):
    """`/v1/deadlines`."""

    path = "/v1/deadlines"
    tags = ("deadlines",)

    @get("/", opt=raises(Forbidden))
    async def list_deadlines(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        state: State,
        agency: FromQuery[str | None] = None,
        status: Annotated[Status | None, QueryParameter(name="state")] = None,
        due_before: FromQuery[datetime | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> DeadlineList:
        """Deadlines of the requests you may see, soonest due first, paginated.

        `agency` is the responsible agency; `state` is pending, met or missed;
        `due_before` an ISO 8601 instant with offset. Stopped clocks come last.
        """
        page = await deadlines.list_deadlines(
            ctx,
            principal,
            responsible_agency=agency,
            status=status,
            due_before=due_before,
            cursor=cursor,
            limit=limit,
            rules=rules_in_force(state),
        )
        items: list[DeadlineOut] = [deadline_out(i.request, i.deadline) for i in page.items]
        return DeadlineList(items, page.next_cursor)
