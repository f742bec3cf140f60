"""The Request aggregate: the one place that decides what a verified statement does.

Given a request's projection, the move a verified statement makes and the facts it refers
to (agencies, other requests, packages; loaded by the caller from `references`), `decide`
returns the new state and what else changes, or raises a domain error. It touches no
database and no signature: workflows load, call and store; the offline verifier replays
the same transition table from signed metadata alone (`domain/replay.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import msgspec

from . import content as c
from .completeness import required_missing
from .errors import ContentInvalid, MetadataMismatch, NotPermitted, RequestIncomplete
from .facts import (
    AgencyFacts,
    Decision,
    Facts,
    Move,
    PackageAnnounced,
    PackageFacts,
    References,
    RequestFacts,
)
from .model import Action, AgencyRole, Kind, Party
from .rules import MIN_PRESERVATION_DAYS, RULES
from .transitions import INITIAL_STATE, next_state

__all__ = [
    "META_FIELDS",
    "MIN_PRESERVATION_DAYS",
    "AgencyFacts",
    "Decision",
    "Facts",
    "Move",
    "PackageAnnounced",
    "PackageFacts",
    "References",
    "RequestFacts",
    "check_request_content",
    "decide",
    "expected_meta",
    "open_request",
    "references",
]


#: The body fields an action repeats in its signed `meta`, so auditors can check
#: transitions without bodies: who the requested and executing agencies are.
META_FIELDS: Mapping[Action, tuple[str, ...]] = {
    Action.TRANSMIT: ("kind", "urgency", "requested_agency"),
    Action.ASSIGN: ("executing_agency",),
    # The hub's moves name the deadline they concern, so an auditor can pair each with the
    # deadline computed from metadata.
    Action.DEADLINE_WARNING: ("deadline",),
    Action.DEADLINE_MISSED: ("deadline",),
    Action.EXPIRE: ("deadline",),
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
    if isinstance(body, c.Supersession) and request is not None:
        return References(
            agencies=frozenset({request.requesting_agency, request.requested_agency}),
            requests=frozenset({body.mla_request_id}),
        )
    if isinstance(body, c.TrafficDisclosure) and request is not None:
        return References(
            agencies=frozenset({request.requested_agency}), packages=frozenset({body.package_id})
        )
    if (
        isinstance(body, c.Refusal)
        and request is not None
        and request.kind is Kind.PRESERVATION
        and c.RefusalGround.DUAL_CRIMINALITY in body.grounds
    ):
        return References(agencies=frozenset({request.requested_agency}), content=True)
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


#: Who may send and receive each kind: central authorities always; a 24/7 point of contact
#: also for preservation (Budapest 35(1)(c), 29; the UN Convention's 24/7 network).
_SENDERS: Mapping[Kind, frozenset[AgencyRole]] = {
    Kind.MLA: frozenset({AgencyRole.CENTRAL_AUTHORITY}),
    Kind.PRESERVATION: frozenset({AgencyRole.CENTRAL_AUTHORITY, AgencyRole.CONTACT_POINT_24_7}),
}


def _roles(roles: frozenset[AgencyRole]) -> str:
    return " or ".join(sorted(r.value.replace("_", " ") for r in roles))


def open_request(
    request_id: uuid.UUID, actor: AgencyFacts, move: Move, facts: Facts
) -> tuple[RequestFacts, Decision]:
    """Decide a `transmit`: the new request's projection, or a domain error."""
    content = move.body
    if move.action is not Action.TRANSMIT or not isinstance(content, c.RequestContent):
        raise ContentInvalid(f"a new request starts with '{Action.TRANSMIT}'")
    senders = _SENDERS[content.kind]
    if actor.role not in senders:
        raise NotPermitted(f"a {content.kind} request is transmitted by {_roles(senders)} only")
    if content.requesting_agency != move.actor:
        raise ContentInvalid("requesting_agency must be the signing agency")
    _check_meta(move)
    check_request_content(content)
    requested = facts.agencies.get(content.requested_agency)
    if requested is None or requested.role not in senders:
        raise ContentInvalid(
            f"requested_agency '{content.requested_agency}' is not a registered {_roles(senders)}"
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


def decide(request: RequestFacts, party: Party | None, move: Move, facts: Facts) -> Decision:
    """Decide a move on an existing request: the new state and changes, or a domain error."""
    target = next_state(request.kind, request.state, move.action, party)
    _check_meta(move)
    rule = RULES.get(move.action)
    return Decision(target) if rule is None else rule(request, target, move, facts)
