"""The transition table (design.md §4): the one place that says which move is allowed.

Each row reads: for a request of this kind, in this state, this action by one of these
parties leads to that state. Everything else (workflows, API, docs, tests) asks here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import PartyRefused, TransitionRefused
from .model import Action, Kind, Party, State

R, Q, X, S = Party.REQUESTER, Party.REQUESTED, Party.EXECUTOR, Party.SERVER

#: Creating a request is the `transmit` action from no state at all.
INITIAL_ACTION = Action.TRANSMIT
INITIAL_STATE = State.TRANSMITTED


@dataclass(frozen=True)
class Move:
    """One allowed move: the state it leads to, who may make it, and the rule's source."""

    target: State
    parties: frozenset[Party]
    source: str = "policy"


def _rows(
    rows: Iterable[tuple[Iterable[State], Action, State, Iterable[Party], str]],
) -> Mapping[tuple[State, Action], Move]:
    table: dict[tuple[State, Action], Move] = {}
    for sources, action, target, parties, cited in rows:
        for source in sources:
            key = (source, action)
            if key in table:  # a duplicate row would silently shadow another
                raise ValueError(f"duplicate transition {key}")
            table[key] = Move(target, frozenset(parties), cited)
    return table


def _hub_notices(
    open_states: Iterable[State],
) -> list[tuple[Iterable[State], Action, State, Iterable[Party], str]]:
    """The hub's deadline notices: in every open state, the state stays (design.md §5)."""
    return [
        ((state,), action, state, (S,), "policy (design.md §5: the hub asserts deadlines)")
        for state in open_states
        for action in (Action.DEADLINE_WARNING, Action.DEADLINE_MISSED)
    ]


# Citations name the article of the Budapest Convention (BC) unless they say otherwise;
# "policy" marks a move no instrument prescribes (mla-law.md §2 says which).
_MLA_OPEN = (
    State.TRANSMITTED,
    State.ACKNOWLEDGED,
    State.INFO_REQUESTED,
    State.ACCEPTED,
    State.POSTPONED,
    State.IN_EXECUTION,
    State.PARTIALLY_EXECUTED,
    State.EXECUTED,
    State.OBSTACLE_REPORTED,
    State.CONDITIONS_PROPOSED,
    State.CONFIDENTIALITY_NOTIFIED,
)
_DECIDING = (State.ACKNOWLEDGED, State.POSTPONED)
_EXECUTING = (State.IN_EXECUTION, State.PARTIALLY_EXECUTED)

MLA_TABLE = _rows(
    [
        ((State.TRANSMITTED,), Action.ACKNOWLEDGE, State.ACKNOWLEDGED, (Q,), "policy"),
        (
            (State.ACKNOWLEDGED,),
            Action.REQUEST_INFO,
            State.INFO_REQUESTED,
            (Q,),
            "policy (common practice; ASEAN MLAT Art 6 lists a request's contents)",
        ),
        ((State.INFO_REQUESTED,), Action.PROVIDE_INFO, State.ACKNOWLEDGED, (R,), "policy"),
        (_DECIDING, Action.ACCEPT, State.ACCEPTED, (Q,), "BC 27(4)-(6)"),
        (
            _DECIDING,
            Action.ACCEPT_CONDITIONALLY,
            State.CONDITIONS_PROPOSED,
            (Q,),
            "BC 27(6), 28(2)",
        ),
        ((State.CONDITIONS_PROPOSED,), Action.ACCEPT_CONDITIONS, State.ACCEPTED, (R,), "BC 28(3)"),
        (
            (State.CONDITIONS_PROPOSED,),
            Action.DECLINE_CONDITIONS,
            State.ACKNOWLEDGED,
            (R,),
            "BC 27(6), 28(3)",
        ),
        (_DECIDING, Action.REFUSE, State.REFUSED, (Q,), "BC 27(4), 27(7)"),
        ((State.ACKNOWLEDGED,), Action.POSTPONE, State.POSTPONED, (Q,), "BC 27(5)"),
        (
            (State.TRANSMITTED, State.ACKNOWLEDGED),
            Action.NOTIFY_CONFIDENTIALITY,
            State.CONFIDENTIALITY_NOTIFIED,
            (Q,),
            "BC 27(8)",
        ),
        ((State.CONFIDENTIALITY_NOTIFIED,), Action.PROCEED, State.ACKNOWLEDGED, (R,), "BC 27(8)"),
        ((State.ACCEPTED,), Action.ASSIGN, State.IN_EXECUTION, (Q,), "policy"),
        (
            (State.ACKNOWLEDGED, State.ACCEPTED, State.POSTPONED, *_EXECUTING),
            Action.REPORT_OBSTACLE,
            State.OBSTACLE_REPORTED,
            (Q, X),
            "BC 27(7)",
        ),
        ((State.OBSTACLE_REPORTED,), Action.PROVIDE_INFO, State.ACKNOWLEDGED, (R,), "BC 27(7)"),
        ((State.OBSTACLE_REPORTED,), Action.AMEND, State.ACKNOWLEDGED, (R,), "BC 27(7)"),
        (_EXECUTING, Action.DELIVER_EVIDENCE, State.PARTIALLY_EXECUTED, (X,), "BC 27(7)"),
        (
            (State.PARTIALLY_EXECUTED,),
            Action.COMPLETE_EXECUTION,
            State.EXECUTED,
            (X, Q),
            "BC 27(7)",
        ),
        # A receipt records that the requester opened a package; the state stays.
        (
            (State.PARTIALLY_EXECUTED,),
            Action.RECEIVE_EVIDENCE,
            State.PARTIALLY_EXECUTED,
            (R,),
            "policy",
        ),
        ((State.EXECUTED,), Action.RECEIVE_EVIDENCE, State.EXECUTED, (R,), "policy"),
        ((State.EXECUTED,), Action.CLOSE, State.CLOSED, (R,), "policy"),
        (_MLA_OPEN, Action.WITHDRAW, State.WITHDRAWN, (R,), "policy"),
        *_hub_notices(_MLA_OPEN),
    ]
)

_HELD = (State.PRESERVED, State.EXTENDED)
_BEFORE_PRESERVING = (State.TRANSMITTED, State.ACKNOWLEDGED)

PRESERVATION_TABLE = _rows(
    [
        ((State.TRANSMITTED,), Action.ACKNOWLEDGE, State.ACKNOWLEDGED, (Q,), "policy"),
        (_BEFORE_PRESERVING, Action.PRESERVE, State.PRESERVED, (Q,), "BC 29(3), 29(7)"),
        (_BEFORE_PRESERVING, Action.REFUSE, State.REFUSED, (Q,), "BC 29(4)-(5)"),
        (
            _BEFORE_PRESERVING,
            Action.NOTIFY_PRESERVATION_RISK,
            State.PRESERVATION_AT_RISK,
            (Q,),
            "BC 29(6)",
        ),
        (
            (State.PRESERVATION_AT_RISK,),
            Action.CONTINUE_PRESERVATION,
            State.ACKNOWLEDGED,
            (R,),
            "BC 29(6)",
        ),
        (_HELD, Action.EXTEND, State.EXTENDED, (Q,), "BC 29(7)"),
        ((State.PRESERVED,), Action.DISCLOSE_TRAFFIC_DATA, State.PRESERVED, (Q,), "BC 30(1)"),
        ((State.EXTENDED,), Action.DISCLOSE_TRAFFIC_DATA, State.EXTENDED, (Q,), "BC 30(1)"),
        ((State.PRESERVED,), Action.RECEIVE_EVIDENCE, State.PRESERVED, (R,), "policy"),
        ((State.EXTENDED,), Action.RECEIVE_EVIDENCE, State.EXTENDED, (R,), "policy"),
        (_HELD, Action.SUPERSEDE, State.SUPERSEDED, (R,), "BC 29(7)"),
        (
            (*_BEFORE_PRESERVING, *_HELD, State.PRESERVATION_AT_RISK),
            Action.RELEASE,
            State.RELEASED,
            (R,),
            "BC 29(6); policy otherwise",
        ),
        (_HELD, Action.EXPIRE, State.EXPIRED, (S,), "BC 29(7)"),
        *_hub_notices((*_BEFORE_PRESERVING, *_HELD, State.PRESERVATION_AT_RISK)),
    ]
)

TABLES: Mapping[Kind, Mapping[tuple[State, Action], Move]] = {
    Kind.MLA: MLA_TABLE,
    Kind.PRESERVATION: PRESERVATION_TABLE,
}

TERMINAL: Mapping[Kind, frozenset[State]] = {
    Kind.MLA: frozenset({State.REFUSED, State.WITHDRAWN, State.CLOSED}),
    Kind.PRESERVATION: frozenset({State.REFUSED, State.SUPERSEDED, State.RELEASED, State.EXPIRED}),
}


def states_of(kind: Kind) -> frozenset[State]:
    """Every state a request of this kind can reach."""
    table = TABLES[kind]
    found = {INITIAL_STATE}
    for (source, _), move in table.items():
        found.update((source, move.target))
    return frozenset(found)


def allowed_actions(kind: Kind, state: State, party: Party | None = None) -> list[Action]:
    """The actions possible from a state, optionally only those one party may make."""
    return [
        action
        for (source, action), move in TABLES[kind].items()
        if source == state and (party is None or party in move.parties)
    ]


def next_state(kind: Kind, state: State, action: Action, party: Party | None) -> State:
    """The state an action leads to; raises TransitionRefused when the move is not allowed."""
    move = TABLES[kind].get((state, action))
    if move is None:
        possible = ", ".join(allowed_actions(kind, state)) or "none (terminal state)"
        raise TransitionRefused(
            f"a {kind} request in state '{state}' cannot take action '{action}'; "
            f"possible actions: {possible}"
        )
    if party is None or party not in move.parties:
        who = ", ".join(sorted(move.parties))
        raise PartyRefused(
            f"action '{action}' on a {kind} request in state '{state}' may only be taken by "
            f"the {who}; you are {'not a party' if party is None else 'the ' + party}"
        )
    return move.target
