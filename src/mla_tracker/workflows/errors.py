"""Errors of the use-case layer: who may do what, and when. Each carries its HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import MlaError


class WorkflowError(MlaError):
    """Base of the errors raised by workflows."""

    status: ClassVar[int] = 400
    problem: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Request failed"


class NotFound(WorkflowError):
    """No such thing, or not visible to the caller (the two look the same on purpose)."""

    status: ClassVar[int] = 404
    problem: ClassVar[str] = "not-found"
    title: ClassVar[str] = "Not found"


class AuthenticationFailed(WorkflowError):
    """No token, or a token that is unknown, expired or revoked."""

    status: ClassVar[int] = 401
    problem: ClassVar[str] = "unauthenticated"
    title: ClassVar[str] = "Authentication required"

    def headers(self) -> dict[str, str]:
        """RFC 6750: say which scheme to use."""
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(WorkflowError):
    """The caller is known but may not do this."""

    status: ClassVar[int] = 403
    problem: ClassVar[str] = "forbidden"
    title: ClassVar[str] = "Forbidden"


class AlreadyExists(WorkflowError):
    """Something with that identity is already registered."""

    status: ClassVar[int] = 409
    problem: ClassVar[str] = "already-exists"
    title: ClassVar[str] = "Already exists"


class KeyRejected(WorkflowError):
    """The signing key is unknown, someone else's, not yet valid or revoked."""

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "key-rejected"
    title: ClassVar[str] = "Signing key rejected"


class StatementRejected(WorkflowError):
    """The statement is malformed, badly signed or out of place."""

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "statement-rejected"
    title: ClassVar[str] = "Statement rejected"


class StaleHead(WorkflowError):
    """The statement's seq/prev does not extend the current head: re-read and re-sign."""

    status: ClassVar[int] = 409
    problem: ClassVar[str] = "stale-head"
    title: ClassVar[str] = "Stale head"

    def __init__(self, message: str, *, head_seq: int, head_digest: str) -> None:
        super().__init__(message)
        self.head_seq = head_seq
        self.head_digest = head_digest

    def extra(self) -> dict[str, Any]:
        """The current head, so the client can re-sign without another read."""
        return {"head": {"seq": self.head_seq, "digest": self.head_digest}}


class InvalidQuery(WorkflowError):
    """A query parameter (cursor, filter) is not one the server understands."""

    status: ClassVar[int] = 400
    problem: ClassVar[str] = "invalid-query"
    title: ClassVar[str] = "Invalid query"


class UnsupportedMediaType(WorkflowError):
    """The request body is not in the media type the endpoint takes."""

    status: ClassVar[int] = 415
    problem: ClassVar[str] = "unsupported-media-type"
    title: ClassVar[str] = "Unsupported media type"


class NotReady(WorkflowError):
    """The service cannot reach its database."""

    status: ClassVar[int] = 503
    problem: ClassVar[str] = "not-ready"
    title: ClassVar[str] = "Not ready"

    def headers(self) -> dict[str, str]:
        """Tell clients when to try again."""
        return {"Retry-After": "5"}
