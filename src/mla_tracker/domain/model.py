"""Vocabulary of the domain: kinds, urgency, roles, parties, states and actions."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a request asks for."""

    MLA = "mla"
    PRESERVATION = "preservation"


class Urgency(StrEnum):
    """How fast the requester needs an answer."""

    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class AgencyRole(StrEnum):
    """What an agency is, independent of any one request."""

    CENTRAL_AUTHORITY = "central_authority"
    EXECUTING_AUTHORITY = "executing_authority"
    AUDITOR = "auditor"


class Party(StrEnum):
    """The part an actor plays in one request; the transition table speaks in these."""

    REQUESTER = "requester"
    REQUESTED = "requested"
    EXECUTOR = "executor"
    SERVER = "server"


class State(StrEnum):
    """Every state either kind of request can be in."""

    TRANSMITTED = "transmitted"
    ACKNOWLEDGED = "acknowledged"
    INFO_REQUESTED = "info_requested"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    POSTPONED = "postponed"
    IN_EXECUTION = "in_execution"
    PARTIALLY_EXECUTED = "partially_executed"
    EXECUTED = "executed"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    PRESERVED = "preserved"
    EXTENDED = "extended"
    SUPERSEDED = "superseded"
    RELEASED = "released"
    EXPIRED = "expired"


class Action(StrEnum):
    """Every move a statement can make."""

    TRANSMIT = "transmit"
    ACKNOWLEDGE = "acknowledge"
    REQUEST_INFO = "request_info"
    PROVIDE_INFO = "provide_info"
    ACCEPT = "accept"
    REFUSE = "refuse"
    POSTPONE = "postpone"
    ASSIGN = "assign"
    DELIVER_EVIDENCE = "deliver_evidence"
    RECEIVE_EVIDENCE = "receive_evidence"
    COMPLETE_EXECUTION = "complete_execution"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    PRESERVE = "preserve"
    EXTEND = "extend"
    SUPERSEDE = "supersede"
    RELEASE = "release"
    EXPIRE = "expire"
