"""What the Request aggregate decides on and what it decides: plain, frozen data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import msgspec

from . import content as c
from .model import Action, AgencyRole, Kind, Party, State, Urgency
from .parties import party_of


@dataclass(frozen=True)
class AgencyFacts:
    """What the domain needs to know of a registered agency."""

    id: str
    role: AgencyRole
    country: str


@dataclass(frozen=True)
class RequestFacts:
    """A request's current projection, as the domain sees it."""

    id: uuid.UUID
    kind: Kind
    state: State
    urgency: Urgency
    requesting_agency: str
    requested_agency: str
    executing_agency: str | None = None
    preserved_until: date | None = None
    linked_request_id: uuid.UUID | None = None
    #: Digest of the statement whose conditions bind this request (Budapest 28(3)).
    conditions_digest: str | None = None

    def party_of(self, agency_id: str) -> Party | None:
        """The agency's party in this request, or None."""
        return party_of(
            agency_id,
            requesting_agency=self.requesting_agency,
            requested_agency=self.requested_agency,
            executing_agency=self.executing_agency,
        )


@dataclass(frozen=True)
class PackageFacts:
    """A package already announced on the request."""

    package_id: str
    ciphertext_sha256: str


@dataclass(frozen=True)
class References:
    """What a move refers to, so the caller can load exactly those facts."""

    agencies: frozenset[str] = frozenset()
    requests: frozenset[uuid.UUID] = frozenset()
    packages: frozenset[str] = frozenset()
    #: The request's transmitted content (a preservation refusal looks at its offences).
    content: bool = False


@dataclass(frozen=True)
class Facts:
    """The facts a move refers to, loaded by the caller, plus the hub's limits."""

    agencies: Mapping[str, AgencyFacts] = field(default_factory=dict)
    requests: Mapping[uuid.UUID, RequestFacts] = field(default_factory=dict)
    packages: Mapping[str, PackageFacts] = field(default_factory=dict)
    max_package_bytes: int = 64 * 1024**3
    #: The request's content, when References.content asked for it (None once erased).
    content: c.RequestContent | None = None
    #: States that made the Budapest 29(4) reservation (operator configuration).
    dual_criminality_reservations: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Move:
    """A verified statement as the domain sees it: who did what, when, with which body."""

    action: Action
    actor: str
    issued_at: datetime
    meta: Mapping[str, str]
    body: msgspec.Struct


@dataclass(frozen=True)
class PackageAnnounced:
    """A `deliver_evidence` announced a package the executor will upload."""

    package_id: str
    ciphertext_sha256: str
    ciphertext_size: int
    delivered_by: str
    #: The conditions the evidence was delivered under (Budapest 28(3)), if any.
    conditions_digest: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of a move: the new state, changed projection fields, announcements.

    `binds_conditions` says that this very statement's conditions now bind the request
    (its digest becomes `conditions_digest`, which only the caller knows).
    """

    state: State
    changes: Mapping[str, Any] = field(default_factory=dict)
    announced: PackageAnnounced | None = None
    binds_conditions: bool = False
