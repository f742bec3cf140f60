"""The outermost middleware: a request id, one log line, and the metrics of each request.

One log line per request (request id, caller's agency, route template, status, latency),
as JSON or text (api/logs.py); never a header, token, key, query string or body. Metrics
(api/metrics.py) are labelled by route template, status and problem type only.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final

from litestar import Request
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from ..workflows.context import Context
from ..workflows.principals import Principal
from . import metrics
from .deps import provide_principal
from .logs import request_id
from .problems import MEDIA_TYPE, PROBLEM_BASE

access_log = logging.getLogger("mla_tracker.access")

_STATE_KEY: Final = "mla_observed"
#: An incoming X-Request-ID is kept only if it is this tame: it goes into every log line.
_INCOMING_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Our own ids: 64 random bits per process, then a counter (32 hex digits in all). uuid4 per
# request read the OS's random source each time, 4% of a read's CPU under load.
# A forked child draws its own prefix, so two workers never share one.
_ids = {"prefix": secrets.token_hex(8)}
_ID_COUNTER = itertools.count()
os.register_at_fork(after_in_child=lambda: _ids.update(prefix=secrets.token_hex(8)))
#: 200 on these routes means "already had it" (a re-sent statement, a re-uploaded package).
_SUCCESS: Final = {
    "statements": {201: "accepted", 200: "duplicate"},
    "uploads": {201: "stored", 200: "duplicate"},
}


# -- the per-request record ----------------------------------------------------------------


@dataclass(slots=True)
class _Observed:
    """What the middleware learns about one request while it runs."""

    request_id: str
    agency: str | None = None
    operator: bool = False
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    #: Whether to keep the response body: an error problem on a route with a counter.
    collect: bool = False
    problem: bytearray = field(default_factory=bytearray)


async def provide_observed_principal(
    request: Request[Any, Any, Any], ctx: NamedDependency[Context]
) -> Principal:
    """`provide_principal`, also noting the caller's agency for the request's log line.

    Depending on `ctx` also puts the two in sequence: litestar resolves a batch of
    independent dependencies in an anyio task group, which cost more than the dependency
    itself on every request.
    """
    principal = await provide_principal(request, ctx)
    observed = request.scope["state"].get(_STATE_KEY)
    if isinstance(observed, _Observed):
        observed.agency, observed.operator = principal.agency_id, principal.is_operator
    return principal


def _problem_slug(body: bytes) -> str:
    try:
        kind = json.loads(body).get("type", "")
    except (ValueError, AttributeError):
        return "unknown"
    # Slugs come from code (a fixed set), so they are safe as label values; anything else
    # is folded into one value rather than copied.
    if isinstance(kind, str) and kind.startswith(PROBLEM_BASE):
        slug = kind.removeprefix(PROBLEM_BASE)
        if re.fullmatch(r"[a-z0-9-]{1,64}", slug):
            return slug
    return "unknown"


class ObservabilityMiddleware:
    """Outermost ASGI wrapper: request id, one log line, outcome counters.

    It wraps litestar's whole handler (not one route), so unrouted 404s and 405s are logged
    too; it reads the route template and handler from the scope once routing has run.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = incoming.decode("latin-1")
        rid = text if _INCOMING_ID.fullmatch(text) else f"{_ids['prefix']}{next(_ID_COUNTER):016x}"
        observed = _Observed(rid)
        scope["state"][_STATE_KEY] = observed
        start = time.perf_counter()
        running = metrics.in_progress(scope["method"])
        running.inc()

        def metric() -> str | None:
            handler = scope.get("route_handler")
            name = handler.opt.get(metrics.METRIC_OPT) if handler is not None else None
            return name if isinstance(name, str) else None

        async def observed_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                observed.bytes_in += size
                if metric() == "uploads":
                    metrics.UPLOAD_RECEIVED_BYTES.inc(size)
            return message

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                observed.status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                message = {**message, "headers": headers}
                content_type = dict(headers).get(b"content-type", b"")
                # Only a counted route's problem bodies are read, for their problem type.
                observed.collect = (
                    observed.status >= 400
                    and content_type.startswith(MEDIA_TYPE.encode())
                    and metric() is not None
                )
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                observed.bytes_out += len(body)
                if observed.collect and len(observed.problem) < 65_536:
                    observed.problem.extend(body)
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            request_id.reset(token)
            elapsed = time.perf_counter() - start
            running.dec()
            route = scope.get("path_template") if scope.get("route_handler") else None
            status = observed.status or 500  # nothing sent: the server answers 500
            if route is not None:
                metrics.record_request(scope["method"], route, status, elapsed)
            self._count(metric(), observed)
            self._log(scope, observed, route, status, elapsed)

    @staticmethod
    def _count(name: str | None, observed: _Observed) -> None:
        status = observed.status
        if name is None or not status:
            return
        outcome = _SUCCESS[name].get(status)
        if outcome is not None:
            metrics.COUNTERS[name].labels(outcome, "").inc()
        elif status >= 400:
            problem = bytes(observed.problem)
            slug = _problem_slug(problem) if problem else f"http-{status}"
            metrics.COUNTERS[name].labels("refused", slug).inc()

    @staticmethod
    def _log(
        scope: Scope, observed: _Observed, route: str | None, status: int, elapsed: float
    ) -> None:
        method = scope.get("method", "")
        ms = round(elapsed * 1000, 2)
        client = scope.get("client")
        level = logging.ERROR if status >= 500 else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        # makeRecord + handle is what Logger.log does, less its walk up the stack for the
        # caller's file and line, which the access line never shows (a quarter of its cost).
        record = access_log.makeRecord(
            access_log.name,
            level,
            __file__,
            0,
            "%s %s -> %d in %.1f ms",
            (method, route or "(no route)", status, ms),
            None,
            extra={
                "request_id": observed.request_id,
                "agency": observed.agency,
                "operator": observed.operator,
                "method": method,
                "route": route,
                # The path without its query string: ids, never credentials (tokens travel
                # in headers only, and headers are never logged).
                "path": scope.get("path"),
                "status": status,
                "latency_ms": ms,
                "bytes_in": observed.bytes_in,
                "bytes_out": observed.bytes_out,
                "client": client[0] if client else None,
            },
        )
        access_log.handle(record)
