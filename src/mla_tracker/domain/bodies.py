"""Which body each action carries, and how its JSON becomes that typed body.

The rules a body must meet beyond its shape live in the Request aggregate
(`domain/request.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from . import content as c
from .errors import ContentInvalid
from .model import Action

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
    Action.EXPIRE: c.Expiry,
    Action.REPORT_OBSTACLE: c.Obstacle,
    Action.AMEND: c.Amendment,
    Action.ACCEPT_CONDITIONALLY: c.ConditionalAcceptance,
    Action.ACCEPT_CONDITIONS: c.Empty,
    Action.DECLINE_CONDITIONS: c.Empty,
    Action.NOTIFY_CONFIDENTIALITY: c.ConfidentialityNotice,
    Action.PROCEED: c.Empty,
    Action.NOTIFY_PRESERVATION_RISK: c.PreservationRiskNotice,
    Action.CONTINUE_PRESERVATION: c.Empty,
    Action.DISCLOSE_TRAFFIC_DATA: c.TrafficDisclosure,
    Action.DEADLINE_WARNING: c.DeadlineNotice,
    Action.DEADLINE_MISSED: c.DeadlineNotice,
}


def decode_body(action: Action, body: Any) -> msgspec.Struct:
    """Turn a statement's parsed JSON body into the action's typed body, or raise ContentInvalid."""
    if not isinstance(body, dict):
        raise ContentInvalid(f"the body of '{action}' must be a JSON object")
    try:
        return msgspec.convert(body, BODY_TYPES[action], strict=True)
    except msgspec.ValidationError as exc:
        raise ContentInvalid(f"body of '{action}': {exc}") from exc
