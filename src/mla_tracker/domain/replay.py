"""Replaying a request's transitions from signed metadata alone, as an auditor can.

Bodies are detached and auditors never read them, so each statement's payload carries the
little that decides who is which party: `transmit` names the kind and the requested agency
(the requester is its actor), `assign` names the executing agency. From those, every move
is checked against the same transition table the hub used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from .errors import DomainError, MetadataMismatch
from .model import Action, Kind, State
from .parties import party_of
from .request import META_FIELDS
from .transitions import INITIAL_ACTION, INITIAL_STATE, next_state


class SignedMove(NamedTuple):
    """One statement's action, actor and signed metadata.

    A named tuple: an audit makes one per statement, at half the cost of a frozen dataclass.
    """

    action: str
    actor: str
    meta: Mapping[str, str]


#: Lookups done once: an auditor replays every statement of every request.
_ACTIONS: Mapping[str, Action] = {a.value: a for a in Action}
_KINDS: Mapping[str, Kind] = {k.value: k for k in Kind}
_WANTED: Mapping[Action, frozenset[str]] = {a: frozenset(META_FIELDS.get(a, ())) for a in Action}


def _check_fields(action: Action, meta: Mapping[str, str]) -> None:
    if meta.keys() != _WANTED[action]:
        wanted = META_FIELDS.get(action, ())
        raise MetadataMismatch(
            f"'{action}' meta must name exactly {list(wanted)}, got {sorted(meta)}"
        )


def _kind(meta: Mapping[str, str]) -> Kind:
    kind = _KINDS.get(meta["kind"])
    if kind is None:
        raise MetadataMismatch(f"unknown kind '{meta['kind']}'")
    return kind


def _action(name: str) -> Action:
    action = _ACTIONS.get(name)
    if action is None:
        raise MetadataMismatch(f"unknown action '{name}'")
    return action


def replay(moves: Sequence[SignedMove]) -> list[State]:
    """The state after each move; raises a DomainError noting the seq of the first bad move."""
    states: list[State] = []
    kind = Kind.MLA
    requester = requested = ""
    executor: str | None = None
    state = INITIAL_STATE
    for seq, move in enumerate(moves, start=1):
        try:
            action = _action(move.action)
            _check_fields(action, move.meta)
            if seq == 1:
                if action is not INITIAL_ACTION:
                    raise MetadataMismatch(f"a request starts with '{INITIAL_ACTION}'")
                kind = _kind(move.meta)
                requester, requested = move.actor, move.meta["requested_agency"]
                state = INITIAL_STATE
            else:
                if action is INITIAL_ACTION:
                    raise MetadataMismatch(f"'{INITIAL_ACTION}' may only open a request")
                party = party_of(
                    move.actor,
                    requesting_agency=requester,
                    requested_agency=requested,
                    executing_agency=executor,
                )
                state = next_state(kind, state, action, party)
                if action is Action.ASSIGN:
                    executor = move.meta["executing_agency"]
        except DomainError as exc:
            exc.add_note(f"statement seq {seq}")
            raise
        states.append(state)
    return states
