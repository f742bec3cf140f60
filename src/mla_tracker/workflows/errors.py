"""Errors of the use-case layer (beyond domain and crypto errors); the API maps each."""

from __future__ import annotations


class WorkflowError(Exception):
    """Base of the errors raised by workflows."""

    title = "Request failed"


class NotFound(WorkflowError):
    """No such thing, or not visible to the caller (the two look the same on purpose)."""

    title = "Not found"


class AuthenticationFailed(WorkflowError):
    """No token, or a token that is unknown or revoked."""

    title = "Authentication required"


class Forbidden(WorkflowError):
    """The caller is known but may not do this."""

    title = "Forbidden"


class AlreadyExists(WorkflowError):
    """Something with that identity is already registered."""

    title = "Already exists"


class KeyRejected(WorkflowError):
    """The signing key is unknown, someone else's, not yet valid or revoked."""

    title = "Signing key rejected"


class StatementRejected(WorkflowError):
    """The statement is malformed, badly signed or out of place."""

    title = "Statement rejected"


class StaleHead(WorkflowError):
    """The statement's seq/prev does not extend the current head: re-read and re-sign."""

    title = "Stale head"

    def __init__(self, message: str, *, head_seq: int, head_digest: str) -> None:
        super().__init__(message)
        self.head_seq = head_seq
        self.head_digest = head_digest


class InvalidQuery(WorkflowError):
    """A query parameter (cursor, filter) is not one the server understands."""

    title = "Invalid query"


class NotReady(WorkflowError):
    """The service cannot reach its database."""

    title = "Not ready"
