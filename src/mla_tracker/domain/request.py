"""The Request aggregate: the one place that decides what a verified statement does.

Given a request's projection, the move a verified statement makes and the facts it refers
to (agencies, other requests, packages; loaded by the caller from `references`), `decide`
returns the new state and what else changes, or raises a domain error. It touches no
database and no signature: workflows load, call and store; the offline verifier replays
the same transition table from signed metadata alone (`domain/replay.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from . import content as c
from .completeness import required_missing
from .errors import ContentInvalid, MetadataMismatch, NotPermitted, RequestIncomplete
from .model import Action, AgencyRole, Kind, Party, State, Urgency
from .parties import party_of
from .transitions import INITIAL_STATE, next_state

#: Budapest Convention Art 29(7): preservation lasts at least 60 days.
MIN_PRESERVATION_DAYS = 60


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


@dataclass(frozen=True)
class Facts:
    """The facts a move refers to, loaded by the caller, plus the hub's limits."""

    agencies: Mapping[str, AgencyFacts] = field(default_factory=dict)
    requests: Mapping[uuid.UUID, RequestFacts] = field(default_factory=dict)
    packages: Mapping[str, PackageFacts] = field(default_factory=dict)
    max_package_bytes: int = 64 * 1024**3


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


@dataclass(frozen=True)
class Decision:
    """The outcome of a move: the new state, changed projection fields, announcements."""

    state: State
    changes: Mapping[str, Any] = field(default_factory=dict)
    announced: PackageAnnounced | None = None


#: The body fields an action repeats in its signed `meta`, so auditors can check
#: transitions without bodies: who the requested and executing agencies are.
META_FIELDS: Mapping[Action, tuple[str, ...]] = {
    Action.TRANSMIT: ("kind", "urgency", "requested_agency"),
    Action.ASSIGN: ("executing_agency",),
}


def expected_meta(action: Action, body: msgspec.Struct) -> dict[str, str]:
    """The signed metadata an action must carry, taken from its body."""
    return {name: str(getattr(body, name)) for name in META_FIELDS.get(action, ())}


def _check_meta(move: Move) -> None:
    expected = expected_meta(move.action, move.body)
    if dict(move.meta) != expected:
        raise MetadataMismatch(
            f"statement meta must be {expected} for '{move.action}' with this body, "
            f"got {dict(move.meta)}"
        )


def references(action: Action, body: msgspec.Struct, request: RequestFacts | None) -> References:
    """The agencies, requests and packages a move refers to."""
    if isinstance(body, c.RequestContent):
        linked = {body.linked_request_id} if body.linked_request_id else set()
        return References(agencies=frozenset({body.requested_agency}), requests=frozenset(linked))
    if isinstance(body, c.Assignment) and request is not None:
        return References(agencies=frozenset({body.executing_agency, request.requested_agency}))
    if isinstance(body, c.Supersession):
        return References(requests=frozenset({body.mla_request_id}))
    if isinstance(body, c.EvidenceDelivery | c.EvidenceReceipt):
        return References(packages=frozenset({body.package_id}))
    return References()


# ---- opening a request ------------------------------------------------------------------


def check_request_content(content: c.RequestContent) -> None:
    """Consistency rules of a request's content (shape aside); raises ContentInvalid."""
    if content.requesting_agency == content.requested_agency:
        raise ContentInvalid("requesting and requested agency must differ")
    for i, item in enumerate(content.data_requested):
        span = item.time_range
        if span is None:
            continue
        for end in ("start", "end"):
            value: datetime = getattr(span, end)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ContentInvalid(
                    f"data_requested[{i}].time_range.{end} needs a UTC offset or 'Z'"
                )
        if span.start >= span.end:
            raise ContentInvalid(f"data_requested[{i}].time_range: start must precede end")
    if content.kind is Kind.PRESERVATION and content.linked_request_id is not None:
        raise ContentInvalid("a preservation request cannot link to an earlier request")


def open_request(
    request_id: uuid.UUID, actor: AgencyFacts, move: Move, facts: Facts
) -> tuple[RequestFacts, Decision]:
    """Decide a `transmit`: the new request's projection, or a domain error."""
    content = move.body
    if move.action is not Action.TRANSMIT or not isinstance(content, c.RequestContent):
        raise ContentInvalid(f"a new request starts with '{Action.TRANSMIT}'")
    if actor.role is not AgencyRole.CENTRAL_AUTHORITY:
        raise NotPermitted("only a central authority transmits requests")
    if content.requesting_agency != move.actor:
        raise ContentInvalid("requesting_agency must be the signing agency")
    _check_meta(move)
    check_request_content(content)
    requested = facts.agencies.get(content.requested_agency)
    if requested is None or requested.role is not AgencyRole.CENTRAL_AUTHORITY:
        raise ContentInvalid(
            f"requested_agency '{content.requested_agency}' is not a registered central authority"
        )
    if content.linked_request_id is not None:
        linked = facts.requests.get(content.linked_request_id)
        if linked is None or linked.requesting_agency != move.actor:
            raise ContentInvalid("linked_request_id names no request of yours")
    missing = required_missing(content)
    if missing:
        raise RequestIncomplete(missing)
    request = RequestFacts(
        id=request_id,
        kind=content.kind,
        state=INITIAL_STATE,
        urgency=content.urgency,
        requesting_agency=content.requesting_agency,
        requested_agency=content.requested_agency,
        linked_request_id=content.linked_request_id,
    )
    return request, Decision(INITIAL_STATE)


# ---- every further move -----------------------------------------------------------------

_Rule = Callable[[RequestFacts, State, Move, Facts], Decision]


def decide(request: RequestFacts, party: Party | None, move: Move, facts: Facts) -> Decision:
    """Decide a move on an existing request: the new state and changes, or a domain error."""
    target = next_state(request.kind, request.state, move.action, party)
    _check_meta(move)
    rule = _RULES.get(move.action)
    return Decision(target) if rule is None else rule(request, target, move, facts)


def _body(move: Move, kind: type[msgspec.Struct]) -> Any:
    if not isinstance(move.body, kind):  # decode_body guarantees this; a bug otherwise
        raise ContentInvalid(f"the body of '{move.action}' is not a {kind.__name__}")
    return move.body


def _refuse(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.Refusal = _body(move, c.Refusal)
    if request.kind is Kind.PRESERVATION:
        bad = [g.value for g in body.grounds if g not in c.PRESERVATION_REFUSAL_GROUNDS]
        if bad:
            raise ContentInvalid(
                "preservation may be refused only for a political offence or on grounds "
                f"of sovereignty, security or ordre public (Budapest 29(5)); not: {bad}"
            )
    return Decision(target)


def _postpone(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.Postponement = _body(move, c.Postponement)
    if body.until <= move.issued_at.date():
        raise ContentInvalid("a postponement must run until a future date")
    return Decision(target)


def _preserve(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.Preservation = _body(move, c.Preservation)
    earliest = move.issued_at.date() + timedelta(days=MIN_PRESERVATION_DAYS)
    if body.until < earliest:
        raise ContentInvalid(
            f"preservation must last at least {MIN_PRESERVATION_DAYS} days "
            f"(Budapest 29(7)): 'until' must be {earliest} or later"
        )
    return Decision(target, {"preserved_until": body.until})


def _extend(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.Extension = _body(move, c.Extension)
    if request.preserved_until is not None and body.until <= request.preserved_until:
        raise ContentInvalid(
            f"an extension must end after the current date {request.preserved_until}"
        )
    return Decision(target, {"preserved_until": body.until})


def _assign(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.Assignment = _body(move, c.Assignment)
    executor = facts.agencies.get(body.executing_agency)
    if executor is None or executor.role is not AgencyRole.EXECUTING_AUTHORITY:
        raise ContentInvalid(f"'{body.executing_agency}' is not a registered executing authority")
    requested = facts.agencies.get(request.requested_agency)
    if requested is not None and executor.country != requested.country:
        raise ContentInvalid("the executing authority must be in the requested state")
    return Decision(target, {"executing_agency": executor.id})


def _supersede(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.Supersession = _body(move, c.Supersession)
    linked = facts.requests.get(body.mla_request_id)
    if linked is None or linked.kind is not Kind.MLA or linked.requesting_agency != move.actor:
        raise ContentInvalid("mla_request_id names no MLA request of yours")
    return Decision(target, {"linked_request_id": linked.id})


def _deliver(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.EvidenceDelivery = _body(move, c.EvidenceDelivery)
    if body.ciphertext_size > facts.max_package_bytes:
        raise ContentInvalid(
            f"package of {body.ciphertext_size} bytes is larger than this hub accepts "
            f"({facts.max_package_bytes} bytes); split the evidence into several packages"
        )
    if body.package_id in facts.packages:
        raise ContentInvalid(f"package '{body.package_id}' was already delivered")
    announced = PackageAnnounced(
        body.package_id, body.ciphertext_sha256, body.ciphertext_size, move.actor
    )
    return Decision(target, announced=announced)


def _receive(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.EvidenceReceipt = _body(move, c.EvidenceReceipt)
    package = facts.packages.get(body.package_id)
    if package is None:
        raise ContentInvalid(f"no package '{body.package_id}' was delivered on this request")
    if package.ciphertext_sha256 != body.ciphertext_sha256:
        raise ContentInvalid("the receipt's ciphertext_sha256 differs from the delivery")
    return Decision(target)


#: The rules beyond the transition table, one per action that has any.
_RULES: Mapping[Action, _Rule] = {
    Action.REFUSE: _refuse,
    Action.POSTPONE: _postpone,
    Action.PRESERVE: _preserve,
    Action.EXTEND: _extend,
    Action.ASSIGN: _assign,
    Action.SUPERSEDE: _supersede,
    Action.DELIVER_EVIDENCE: _deliver,
    Action.RECEIVE_EVIDENCE: _receive,
}
