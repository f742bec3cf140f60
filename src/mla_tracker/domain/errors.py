"""Typed domain errors; each carries its HTTP status and problem type (see mla_tracker.errors)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import MlaError


class DomainError(MlaError):
    """Base of every error the domain raises on purpose."""

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "domain-rule"
    title: ClassVar[str] = "Domain rule violated"


class TransitionRefused(DomainError):
    """The action is not allowed from the request's state for the actor's party."""

    status: ClassVar[int] = 409
    problem: ClassVar[str] = "action-not-allowed"
    title: ClassVar[str] = "Action not allowed"


class PartyRefused(TransitionRefused):
    """The move exists from this state, but not for the actor's party."""

    status: ClassVar[int] = 403
    problem: ClassVar[str] = "not-your-move"
    title: ClassVar[str] = "Not your move"


class ContentInvalid(DomainError):
    """A statement body or request content breaks a domain rule."""

    problem: ClassVar[str] = "invalid-content"
    title: ClassVar[str] = "Invalid content"


class MetadataMismatch(DomainError):
    """A statement's signed metadata disagrees with its body, or lacks what its action needs."""

    problem: ClassVar[str] = "metadata-mismatch"
    title: ClassVar[str] = "Statement metadata does not match"


@dataclass(frozen=True)
class MissingItem:
    """One missing or weak part of a request, as the completeness check reports it."""

    field: str
    message: str
    severity: str = "required"


class RequestIncomplete(DomainError):
    """The request lacks essentials the requested state needs to act on it."""

    problem: ClassVar[str] = "request-incomplete"
    title: ClassVar[str] = "Request incomplete"

    def __init__(self, missing: Sequence[MissingItem]) -> None:
        self.missing = tuple(missing)
        names = ", ".join(m.field for m in self.missing)
        super().__init__(f"request is missing essentials: {names}")

    def extra(self) -> dict[str, Any]:
        """List every missing essential."""
        return {
            "missing": [
                {"field": m.field, "message": m.message, "severity": m.severity}
                for m in self.missing
            ]
        }


class NotPermitted(DomainError):
    """The agency's role does not allow this at all (e.g. an executing authority transmitting)."""

    status: ClassVar[int] = 403
    problem: ClassVar[str] = "forbidden"
    title: ClassVar[str] = "Forbidden"
