"""Vocabulary of the domain: kinds, urgency, roles, parties, states and actions."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a request asks for."""

    MLA = "mla"
    PRESERVATION = "preservation"


class Urgency(StrEnum):
    """How fast the requester needs an answer.

    `emergency` is the UN Convention against Cybercrime's Art 2 emergency: a situation with a
    significant and imminent risk to a person's life or safety. `urgent` is policy: faster
    than normal without that risk (Budapest 25(3) speaks of "urgent circumstances").
    """

    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class AgencyRole(StrEnum):
    """What an agency is, independent of any one request."""

    CENTRAL_AUTHORITY = "central_authority"
    EXECUTING_AUTHORITY = "executing_authority"
    AUDITOR = "auditor"
    #: Budapest Art 35 / the UN Convention against Cybercrime's 24/7 network: sends and
    #: receives preservation requests for its state, around the clock.
    CONTACT_POINT_24_7 = "contact_point_24_7"


#: The actor name of the hub's own statements, signed with its server key. No agency may
#: take this id (workflows/agencies.py refuses it).
SERVER_ACTOR = "server"


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
    OBSTACLE_REPORTED = "obstacle_reported"
    CONDITIONS_PROPOSED = "conditions_proposed"
    CONFIDENTIALITY_NOTIFIED = "confidentiality_notified"
    PRESERVATION_AT_RISK = "preservation_at_risk"


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
    REPORT_OBSTACLE = "report_obstacle"
    AMEND = "amend"
    ACCEPT_CONDITIONALLY = "accept_conditionally"
    ACCEPT_CONDITIONS = "accept_conditions"
    DECLINE_CONDITIONS = "decline_conditions"
    NOTIFY_CONFIDENTIALITY = "notify_confidentiality"
    PROCEED = "proceed"
    NOTIFY_PRESERVATION_RISK = "notify_preservation_risk"
    CONTINUE_PRESERVATION = "continue_preservation"
    DISCLOSE_TRAFFIC_DATA = "disclose_traffic_data"
    #: The hub's own statements (party SERVER, signed with its server key): a deadline is
    #: near, or has passed (design.md §5); `expire` above ends a lapsed preservation.
    DEADLINE_WARNING = "deadline_warning"
    DEADLINE_MISSED = "deadline_missed"
