"""Which body each action carries, and the rules a body must meet beyond its shape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from . import content as c
from .errors import ContentInvalid
from .model import Action, Kind

#: Budapest Convention Art 29(7): preservation lasts at least 60 days.
MIN_PRESERVATION_DAYS = 60

BODY_TYPES: Mapping[Action, type[msgspec.Struct]] = {
    Action.TRANSMIT: c.RequestContent,
    Action.ACKNOWLEDGE: c.Empty,
    Action.REQUEST_INFO: c.InfoRequest,
    Action.PROVIDE_INFO: c.InfoProvided,
    Action.ACCEPT: c.Acceptance,
    Action.REFUSE: c.Refusal,
    Action.POSTPONE: c.Postponement,
    Action.ASSIGN: c.Assignment,
    Action.DELIVER_EVIDENCE: c.EvidenceDelivery,
    Action.RECEIVE_EVIDENCE: c.EvidenceReceipt,
    Action.COMPLETE_EXECUTION: c.Empty,
    Action.CLOSE: c.Empty,
    Action.WITHDRAW: c.Empty,
    Action.PRESERVE: c.Preservation,
    Action.EXTEND: c.Extension,
    Action.SUPERSEDE: c.Supersession,
    Action.RELEASE: c.Empty,
    Action.EXPIRE: c.Empty,
}


def decode_body(action: Action, body: Any) -> msgspec.Struct:
    """Turn a statement's JSON body into the action's typed body, or raise ContentInvalid."""
    try:
        return msgspec.convert(body, BODY_TYPES[action], strict=True)
    except msgspec.ValidationError as exc:
        raise ContentInvalid(f"body of '{action}': {exc}") from exc


def check_body(
    kind: Kind,
    action: Action,
    body: msgspec.Struct,
    *,
    issued_at: datetime,
    preserved_until: date | None,
) -> None:
    """Rules that need more than the body's shape; raises ContentInvalid."""
    today = issued_at.date()
    if isinstance(body, c.Refusal) and kind is Kind.PRESERVATION:
        bad = [g for g in body.grounds if g not in c.PRESERVATION_REFUSAL_GROUNDS]
        if bad:
            raise ContentInvalid(
                "preservation may be refused only for a political offence or on grounds "
                f"of sovereignty, security or ordre public (Budapest 29(5)); not: {bad}"
            )
    if isinstance(body, c.Preservation):
        earliest = today + timedelta(days=MIN_PRESERVATION_DAYS)
        if body.until < earliest:
            raise ContentInvalid(
                f"preservation must last at least {MIN_PRESERVATION_DAYS} days "
                f"(Budapest 29(7)): 'until' must be {earliest} or later"
            )
    if (
        isinstance(body, c.Extension)
        and preserved_until is not None
        and body.until <= preserved_until
    ):
        raise ContentInvalid(f"an extension must end after the current date {preserved_until}")
    if isinstance(body, c.Postponement) and body.until <= today:
        raise ContentInvalid("a postponement must run until a future date")
    if isinstance(body, c.RequestContent):
        check_request_content(body)


def check_request_content(content: c.RequestContent) -> None:
    """Consistency rules of a request's content (shape aside)."""
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
