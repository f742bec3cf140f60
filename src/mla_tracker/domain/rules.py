"""The rules beyond the transition table, one function per action that has any.

Each takes the request, the state the table leads to, the move and the facts it refers
to, and returns the Decision or raises a domain error citing its source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import msgspec

from . import content as c
from .errors import ContentInvalid
from .facts import Decision, Facts, Move, PackageAnnounced, RequestFacts
from .model import Action, AgencyRole, Kind, State

#: Budapest Convention Art 29(7): preservation lasts at least 60 days.
MIN_PRESERVATION_DAYS = 60

Rule = Callable[[RequestFacts, State, Move, Facts], Decision]


def _body(move: Move, kind: type[msgspec.Struct]) -> Any:
    if not isinstance(move.body, kind):  # decode_body guarantees this; a bug otherwise
        raise ContentInvalid(f"the body of '{move.action}' is not a {kind.__name__}")
    return move.body


def _refuse(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.Refusal = _body(move, c.Refusal)
    if request.kind is not Kind.PRESERVATION:
        return Decision(target)
    allowed = set(c.PRESERVATION_REFUSAL_GROUNDS)
    if c.RefusalGround.DUAL_CRIMINALITY in body.grounds:
        _check_dual_criminality_reservation(request, facts)
        allowed.add(c.RefusalGround.DUAL_CRIMINALITY)
    bad = [g.value for g in body.grounds if g not in allowed]
    if bad:
        raise ContentInvalid(
            "a preservation may be refused only for a political offence or where it would "
            "prejudice sovereignty, security, ordre public or other essential interests "
            f"(Budapest 29(5)); not: {bad}"
        )
    return Decision(target)


def _check_dual_criminality_reservation(request: RequestFacts, facts: Facts) -> None:
    """Budapest 29(3)-(4): no dual criminality unless reserved, never for Arts 2-11."""
    requested = facts.agencies.get(request.requested_agency)
    if requested is None or requested.country not in facts.dual_criminality_reservations:
        raise ContentInvalid(
            "dual criminality is not a ground to refuse a preservation (Budapest 29(3)) "
            "unless the requested state made the 29(4) reservation, and it has not"
        )
    articles = {
        o.budapest_article
        for o in (facts.content.offences if facts.content is not None else [])
        if o.budapest_article is not None
    }
    if articles & set(c.BUDAPEST_OFFENCE_ARTICLES):
        raise ContentInvalid(
            "a 29(4) reservation does not cover offences established under Budapest "
            f"Arts 2-11 (this request names Art {', '.join(map(str, sorted(articles)))})"
        )


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
    if linked is None or linked.kind is not Kind.MLA:
        raise ContentInvalid("mla_request_id names no MLA request (Budapest 29(7))")
    if not (
        _same_side(request.requesting_agency, linked.requesting_agency, facts)
        and _same_side(request.requested_agency, linked.requested_agency, facts)
    ):
        raise ContentInvalid(
            "the MLA request must come from the same requester (or its state's central "
            "authority) to the same requested central authority (or the central authority of "
            "the requested 24/7 contact point's state) (Budapest 29(7))"
        )
    if linked.state in (State.WITHDRAWN, State.REFUSED):
        raise ContentInvalid(
            f"the MLA request was {linked.state}: data stays preserved only while an MLA "
            "request is pending (Budapest 29(7))"
        )
    return Decision(target, {"linked_request_id": linked.id})


def _same_side(preservation_party: str, mla_party: str, facts: Facts) -> bool:
    """The same agency, or a 24/7 contact point's own state's central authority."""
    if preservation_party == mla_party:
        return True
    point, authority = facts.agencies.get(preservation_party), facts.agencies.get(mla_party)
    return (
        point is not None
        and authority is not None
        and point.role is AgencyRole.CONTACT_POINT_24_7
        and authority.role is AgencyRole.CENTRAL_AUTHORITY
        and point.country == authority.country
    )


def _deliver(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    body: c.EvidenceDelivery = _body(move, c.EvidenceDelivery)
    if body.ciphertext_size > facts.max_package_bytes:
        raise ContentInvalid(
            f"package of {body.ciphertext_size} bytes is larger than this hub accepts "
            f"({facts.max_package_bytes} bytes); split the evidence into several packages"
        )
    if body.package_id in facts.packages:
        raise ContentInvalid(f"package '{body.package_id}' was already delivered")
    if isinstance(body, c.TrafficDisclosure):
        requested = facts.agencies.get(request.requested_agency)
        if requested is not None and body.provider_country == requested.country:
            raise ContentInvalid(
                "expedited disclosure identifies a provider in another state (Budapest 30(1)); "
                f"{body.provider_country} is the requested state"
            )
    announced = PackageAnnounced(
        body.package_id,
        body.ciphertext_sha256,
        body.ciphertext_size,
        move.actor,
        request.conditions_digest,
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


def _accept_conditionally(
    request: RequestFacts, target: State, move: Move, facts: Facts
) -> Decision:
    _body(move, c.ConditionalAcceptance)
    return Decision(target, binds_conditions=True)


def _decline_conditions(request: RequestFacts, target: State, move: Move, facts: Facts) -> Decision:
    # Declined conditions bind nobody (Budapest 28(3)); the requested side decides again.
    return Decision(target, {"conditions_digest": None})


#: The rules beyond the transition table, one per action that has any.
RULES: Mapping[Action, Rule] = {
    Action.ACCEPT_CONDITIONALLY: _accept_conditionally,
    Action.DECLINE_CONDITIONS: _decline_conditions,
    Action.DISCLOSE_TRAFFIC_DATA: _deliver,
    Action.REFUSE: _refuse,
    Action.POSTPONE: _postpone,
    Action.PRESERVE: _preserve,
    Action.EXTEND: _extend,
    Action.ASSIGN: _assign,
    Action.SUPERSEDE: _supersede,
    Action.DELIVER_EVIDENCE: _deliver,
    Action.RECEIVE_EVIDENCE: _receive,
}
