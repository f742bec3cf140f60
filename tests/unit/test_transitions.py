"""The transition table, checked exhaustively against design.md §4 written out by hand."""

from __future__ import annotations

import itertools

import pytest

from mla_tracker.domain.errors import PartyRefused, TransitionRefused
from mla_tracker.domain.model import Action, Kind, Party, State
from mla_tracker.domain.transitions import TERMINAL, allowed_actions, next_state, states_of

# design.md §4 as a literal: (kind, state, action) -> (target, parties allowed)
SPEC: dict[tuple[Kind, State, Action], tuple[State, set[Party]]] = {}


def _allow(kind: Kind, states: str, action: Action, target: State, parties: str) -> None:
    for s in states.split():
        SPEC[(kind, State(s), action)] = (target, {Party(p) for p in parties.split()})


M, P = Kind.MLA, Kind.PRESERVATION
_allow(M, "transmitted", Action.ACKNOWLEDGE, State.ACKNOWLEDGED, "requested")
_allow(M, "acknowledged", Action.REQUEST_INFO, State.INFO_REQUESTED, "requested")
_allow(M, "info_requested", Action.PROVIDE_INFO, State.ACKNOWLEDGED, "requester")
_allow(M, "acknowledged postponed", Action.ACCEPT, State.ACCEPTED, "requested")
# Budapest 27(6), 28(2)-(3): conditions are answered by the requester before execution.
_allow(
    M, "acknowledged postponed", Action.ACCEPT_CONDITIONALLY, State.CONDITIONS_PROPOSED, "requested"
)
_allow(M, "conditions_proposed", Action.ACCEPT_CONDITIONS, State.ACCEPTED, "requester")
_allow(M, "conditions_proposed", Action.DECLINE_CONDITIONS, State.ACKNOWLEDGED, "requester")
_allow(M, "acknowledged postponed", Action.REFUSE, State.REFUSED, "requested")
_allow(M, "acknowledged", Action.POSTPONE, State.POSTPONED, "requested")
# Budapest 27(8): a confidentiality the requested side cannot keep is notified first.
_allow(
    M,
    "transmitted acknowledged",
    Action.NOTIFY_CONFIDENTIALITY,
    State.CONFIDENTIALITY_NOTIFIED,
    "requested",
)
_allow(M, "confidentiality_notified", Action.PROCEED, State.ACKNOWLEDGED, "requester")
_allow(M, "accepted", Action.ASSIGN, State.IN_EXECUTION, "requested")
# Budapest 27(7): impossible or delayed execution is reported, then answered.
_allow(
    M,
    "acknowledged accepted postponed in_execution partially_executed",
    Action.REPORT_OBSTACLE,
    State.OBSTACLE_REPORTED,
    "requested executor",
)
_allow(M, "obstacle_reported", Action.PROVIDE_INFO, State.ACKNOWLEDGED, "requester")
_allow(M, "obstacle_reported", Action.AMEND, State.ACKNOWLEDGED, "requester")
_allow(
    M,
    "in_execution partially_executed",
    Action.DELIVER_EVIDENCE,
    State.PARTIALLY_EXECUTED,
    "executor",
)
_allow(M, "partially_executed", Action.COMPLETE_EXECUTION, State.EXECUTED, "executor requested")
_allow(M, "partially_executed", Action.RECEIVE_EVIDENCE, State.PARTIALLY_EXECUTED, "requester")
_allow(M, "executed", Action.RECEIVE_EVIDENCE, State.EXECUTED, "requester")
_allow(M, "executed", Action.CLOSE, State.CLOSED, "requester")
_allow(
    M,
    "transmitted acknowledged info_requested accepted postponed in_execution "
    "partially_executed executed obstacle_reported conditions_proposed confidentiality_notified",
    Action.WITHDRAW,
    State.WITHDRAWN,
    "requester",
)
_allow(P, "transmitted", Action.ACKNOWLEDGE, State.ACKNOWLEDGED, "requested")
_allow(P, "transmitted acknowledged", Action.PRESERVE, State.PRESERVED, "requested")
_allow(P, "transmitted acknowledged", Action.REFUSE, State.REFUSED, "requested")
# Budapest 29(6): the requester decides whether to go on after a risk notice.
_allow(
    P,
    "transmitted acknowledged",
    Action.NOTIFY_PRESERVATION_RISK,
    State.PRESERVATION_AT_RISK,
    "requested",
)
_allow(P, "preservation_at_risk", Action.CONTINUE_PRESERVATION, State.ACKNOWLEDGED, "requester")
_allow(P, "preserved extended", Action.EXTEND, State.EXTENDED, "requested")
# Budapest 30(1): expedited disclosure of traffic data, delivered as a package.
_allow(P, "preserved", Action.DISCLOSE_TRAFFIC_DATA, State.PRESERVED, "requested")
_allow(P, "extended", Action.DISCLOSE_TRAFFIC_DATA, State.EXTENDED, "requested")
_allow(P, "preserved", Action.RECEIVE_EVIDENCE, State.PRESERVED, "requester")
_allow(P, "extended", Action.RECEIVE_EVIDENCE, State.EXTENDED, "requester")
_allow(P, "preserved extended", Action.SUPERSEDE, State.SUPERSEDED, "requester")
_allow(
    P,
    "transmitted acknowledged preserved extended preservation_at_risk",
    Action.RELEASE,
    State.RELEASED,
    "requester",
)
_allow(P, "preserved extended", Action.EXPIRE, State.EXPIRED, "server")
# design.md §5: the hub (only) asserts a deadline near or missed; the state stays.
_OPEN = {
    M: "transmitted acknowledged info_requested accepted postponed in_execution "
    "partially_executed executed obstacle_reported conditions_proposed confidentiality_notified",
    P: "transmitted acknowledged preserved extended preservation_at_risk",
}
for _kind, _states in _OPEN.items():
    for _state in _states.split():
        for _notice in (Action.DEADLINE_WARNING, Action.DEADLINE_MISSED):
            _allow(_kind, _state, _notice, State(_state), "server")

CASES = list(itertools.product(Kind, State, Action, [*Party, None]))


@pytest.mark.parametrize(("kind", "state", "action", "party"), CASES)
def test_every_state_action_party(
    kind: Kind, state: State, action: Action, party: Party | None
) -> None:
    spec = SPEC.get((kind, state, action))
    if spec is None:
        with pytest.raises(TransitionRefused) as refused:
            next_state(kind, state, action, party)
        assert not isinstance(refused.value, PartyRefused)
        assert str(action) in str(refused.value)
    elif party in spec[1]:
        assert next_state(kind, state, action, party) is spec[0]
    else:
        with pytest.raises(PartyRefused):
            next_state(kind, state, action, party)


def test_case_count_covers_the_whole_product() -> None:
    assert len(CASES) == len(Kind) * len(State) * len(Action) * (len(Party) + 1)


@pytest.mark.parametrize("kind", list(Kind))
def test_terminal_states_have_no_way_out(kind: Kind) -> None:
    for state in TERMINAL[kind]:
        assert allowed_actions(kind, state) == []
    reachable = states_of(kind)
    assert TERMINAL[kind] <= reachable
    # Every non-terminal reachable state has at least one move.
    for state in reachable - TERMINAL[kind]:
        assert allowed_actions(kind, state), state


def test_requester_can_withdraw_any_open_mla_request() -> None:
    for state in states_of(Kind.MLA) - TERMINAL[Kind.MLA]:
        assert Action.WITHDRAW in allowed_actions(Kind.MLA, state, Party.REQUESTER)
