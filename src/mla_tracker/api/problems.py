"""Every error leaves as RFC 9457 problem details (application/problem+json).

Errors raised on purpose are `MlaError`s and carry their own status and problem type, so
this module maps them without a table; litestar's own errors and bugs are handled here too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from ..errors import MlaError
from ..storage.db import DatabaseUnavailable, is_unavailable

PROBLEM_BASE = "https://mla-tracker.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("mla_tracker.api")

#: Litestar's own HTTP errors: status → (problem type slug, title).
_HTTP_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "Body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request[Any, Any, Any],
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """A problem-details response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extra)
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers or {})


class _OutageLog:
    """One short line when the database goes away, then at most one per interval: an outage
    under load must not write a traceback (or even a line) per request."""

    interval = 10.0

    def __init__(self) -> None:
        self.last = -self.interval
        self.suppressed = 0

    def note(self, request: Request[Any, Any, Any], exc: Exception) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            self.suppressed += 1
            return
        more = f" (+{self.suppressed} more since)" if self.suppressed else ""
        log.warning("503 on %s %s: %s%s", request.method, request.url.path, exc, more)
        self.last, self.suppressed = now, 0


_outage = _OutageLog()


def on_app_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Any error raised on purpose, from the status and type it carries."""
    if not isinstance(exc, MlaError):
        return on_unexpected(request, exc)
    if isinstance(exc, DatabaseUnavailable):
        _outage.note(request, exc)
    return problem(
        exc.status,
        exc.problem,
        exc.title,
        str(exc),
        request,
        headers=exc.headers(),
        **exc.extra(),
    )


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (400 validation, 404 route, 405, 413 …) as problems."""
    status = exc.status_code
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    slug, title = _HTTP_PROBLEMS.get(status, ("http-error", exc.__class__.__name__))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(status, slug, title, exc.detail, request, headers=headers, **extra)


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A bug: log it with its trace, tell the caller nothing internal."""
    if is_unavailable(exc):  # the database went away outside a transaction() block
        return on_app_error(request, DatabaseUnavailable("the database is unavailable"))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "the server failed; the error was logged",
        request,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    MlaError: on_app_error,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}
