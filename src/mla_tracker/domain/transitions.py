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
    """One allowed move: the state it leads to and who may make it."""

    target: State
    parties: frozenset[Party]


def _rows(
    rows: Iterable[tuple[Iterable[State], Action, State, Iterable[Party]]],
) -> Mapping[tuple[State, Action], Move]:
    table: dict[tuple[State, Action], Move] = {}
    for sources, action, target, parties in rows:
        for source in sources:
            key = (source, action)
            if key in table:  # a duplicate row would silently shadow another
                raise ValueError(f"duplicate transition {key}")
            table[key] = Move(target, frozenset(parties))
    return table


_MLA_OPEN = (
    State.TRANSMITTED,
    State.ACKNOWLEDGED,
    State.INFO_REQUESTED,
    State.ACCEPTED,
    State.POSTPONED,
    State.IN_EXECUTION,
    State.PARTIALLY_EXECUTED,
    State.EXECUTED,
)

MLA_TABLE = _rows(
    [
        ((State.TRANSMITTED,), Action.ACKNOWLEDGE, State.ACKNOWLEDGED, (Q,)),
        ((State.ACKNOWLEDGED,), Action.REQUEST_INFO, State.INFO_REQUESTED, (Q,)),
        ((State.INFO_REQUESTED,), Action.PROVIDE_INFO, State.ACKNOWLEDGED, (R,)),
        ((State.ACKNOWLEDGED, State.POSTPONED), Action.ACCEPT, State.ACCEPTED, (Q,)),
        ((State.ACKNOWLEDGED, State.POSTPONED), Action.REFUSE, State.REFUSED, (Q,)),
        ((State.ACKNOWLEDGED,), Action.POSTPONE, State.POSTPONED, (Q,)),
        ((State.ACCEPTED,), Action.ASSIGN, State.IN_EXECUTION, (Q,)),
        (
            (State.IN_EXECUTION, State.PARTIALLY_EXECUTED),
            Action.DELIVER_EVIDENCE,
            State.PARTIALLY_EXECUTED,
            (X,),
        ),
        (
            (State.PARTIALLY_EXECUTED,),
            Action.COMPLETE_EXECUTION,
            State.EXECUTED,
            (X, Q),
        ),
        # A receipt records that the requester opened a package; the state stays.
        ((State.PARTIALLY_EXECUTED,), Action.RECEIVE_EVIDENCE, State.PARTIALLY_EXECUTED, (R,)),
        ((State.EXECUTED,), Action.RECEIVE_EVIDENCE, State.EXECUTED, (R,)),
        ((State.EXECUTED,), Action.CLOSE, State.CLOSED, (R,)),
        (_MLA_OPEN, Action.WITHDRAW, State.WITHDRAWN, (R,)),
    ]
)

_HELD = (State.PRESERVED, State.EXTENDED)

PRESERVATION_TABLE = _rows(
    [
        ((State.TRANSMITTED,), Action.ACKNOWLEDGE, State.ACKNOWLEDGED, (Q,)),
        ((State.TRANSMITTED, State.ACKNOWLEDGED), Action.PRESERVE, State.PRESERVED, (Q,)),
        ((State.TRANSMITTED, State.ACKNOWLEDGED), Action.REFUSE, State.REFUSED, (Q,)),
        (_HELD, Action.EXTEND, State.EXTENDED, (Q,)),
        (_HELD, Action.SUPERSEDE, State.SUPERSEDED, (R,)),
        ((State.TRANSMITTED, State.ACKNOWLEDGED, *_HELD), Action.RELEASE, State.RELEASED, (R,)),
        (_HELD, Action.EXPIRE, State.EXPIRED, (S,)),
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
