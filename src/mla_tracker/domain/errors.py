"""Typed domain errors; the API layer maps each to an RFC 9457 problem."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    title = "Domain rule violated"


class TransitionRefused(DomainError):
    """The action is not allowed from the request's state for the actor's party."""

    title = "Action not allowed"


class PartyRefused(TransitionRefused):
    """The move exists from this state, but not for the actor's party."""

    title = "Not your move"


class ContentInvalid(DomainError):
    """A statement body or request content breaks a domain rule."""

    title = "Invalid content"


@dataclass(frozen=True)
class MissingItem:
    """One missing or weak part of a request, as the completeness check reports it."""

    field: str
    message: str
    severity: str = "required"


class RequestIncomplete(DomainError):
    """The request lacks essentials the requested state needs to act on it."""

    title = "Request incomplete"

    def __init__(self, missing: Sequence[MissingItem]) -> None:
        self.missing = tuple(missing)
        names = ", ".join(m.field for m in self.missing)
        super().__init__(f"request is missing essentials: {names}")
