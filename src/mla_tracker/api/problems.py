"""Every error leaves as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from ..crypto.errors import CryptoError
from ..domain.errors import (
    ContentInvalid,
    DomainError,
    PartyRefused,
    RequestIncomplete,
    TransitionRefused,
)
from ..storage.blobs import BlobError, BlobMismatch, BlobMissing, BlobTooLarge
from ..workflows.errors import (
    AlreadyExists,
    AuthenticationFailed,
    Forbidden,
    InvalidQuery,
    KeyRejected,
    NotFound,
    NotReady,
    StaleHead,
    StatementRejected,
    WorkflowError,
)
from ..workflows.evidence import NotUploaded, RangeNotSatisfiable

PROBLEM_BASE = "https://mla-tracker.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("mla_tracker.api")

#: error class → (status, problem type slug); the most specific class wins.
STATUS: list[tuple[type[Exception], int, str]] = [
    (BlobTooLarge, 413, "package-too-large"),
    (BlobMismatch, 422, "package-mismatch"),
    (BlobMissing, 409, "package-missing"),
    (NotUploaded, 409, "package-not-uploaded"),
    (RangeNotSatisfiable, 416, "range-not-satisfiable"),
    (NotReady, 503, "not-ready"),
    (RequestIncomplete, 422, "request-incomplete"),
    (PartyRefused, 403, "not-your-move"),
    (TransitionRefused, 409, "action-not-allowed"),
    (ContentInvalid, 422, "invalid-content"),
    (DomainError, 422, "domain-rule"),
    (StaleHead, 409, "stale-head"),
    (NotFound, 404, "not-found"),
    (AuthenticationFailed, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (AlreadyExists, 409, "already-exists"),
    (KeyRejected, 422, "key-rejected"),
    (StatementRejected, 422, "statement-rejected"),
    (InvalidQuery, 400, "invalid-query"),
    (WorkflowError, 400, "bad-request"),
    (CryptoError, 422, "statement-rejected"),
]


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request[Any, Any, Any],
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
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(extra.get("size"), int) and status == 416:
        headers["Content-Range"] = f"bytes */{extra['size']}"
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _extra(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, RequestIncomplete):
        return {
            "missing": [
                {"field": m.field, "message": m.message, "severity": m.severity}
                for m in exc.missing
            ]
        }
    if isinstance(exc, StaleHead):
        return {"head": {"seq": exc.head_seq, "digest": exc.head_digest}}
    if isinstance(exc, RangeNotSatisfiable):
        return {"size": exc.size}
    return {}


def on_app_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Map a domain, crypto or workflow error to its problem."""
    for cls, status, slug in STATUS:
        if isinstance(exc, cls):
            title = getattr(exc, "title", cls.__name__)
            return problem(status, slug, title, str(exc), request, **_extra(exc))
    return on_unexpected(request, exc)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (400 validation, 404 route, 405, 413 …) as problems."""
    status = exc.status_code
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    slug = {
        400: "bad-request",
        404: "not-found",
        405: "method-not-allowed",
        413: "body-too-large",
        401: "unauthenticated",
        403: "forbidden",
    }.get(status, "http-error")
    title = {400: "Bad request", 413: "Body too large"}.get(status, exc.__class__.__name__)
    return problem(status, slug, title, exc.detail, request, **extra)


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A bug: log it with its trace, tell the caller nothing internal."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "the server failed; the error was logged",
        request,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: on_app_error,
    BlobError: on_app_error,
    WorkflowError: on_app_error,
    CryptoError: on_app_error,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}
