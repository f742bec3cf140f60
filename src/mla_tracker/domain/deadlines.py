"""Deadline rules as data: (kind, urgency, state entered) → deadline, length, unit, who, source.

Every rule names its source: the instrument and article of `mla-law.md` §5 where law sets
a number, else "policy default" (no instrument in §5 sets one for MLA between ASEAN
states; Budapest 25(3), 27(7) and 29(3) say "expedited", "promptly", "expeditiously").
An operator overrides lengths per pair of countries (a bilateral arrangement) with the
TOML file of `domain/deadline_file.py`. The clock itself is `domain/deadline_clock.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from .model import Action, Kind, Party, State, Urgency


class DeadlineKind(StrEnum):
    """What must happen by the deadline."""

    ACKNOWLEDGE = "acknowledge"
    DECIDE = "decide"
    PRESERVE = "preserve"
    EXECUTE = "execute"
    ANSWER_INFO = "answer_info"
    PRESERVATION_EXPIRY = "preservation_expiry"


class Unit(StrEnum):
    """How a deadline's length counts."""

    #: Business days on the calendar of the responsible agency (calendars.py).
    BUSINESS_DAYS = "business_days"
    #: Calendar days, ending at the end of the local day.
    CALENDAR_DAYS = "calendar_days"
    HOURS = "hours"
    #: The end of a date carried by the statement itself (a preservation's `until`).
    UNTIL_DATE = "until_date"


@dataclass(frozen=True)
class Phase:
    """How one deadline kind runs: where its clock runs and stops, and who meets it."""

    #: States in which the clock runs (the rule's start state is one of them).
    runs_in: frozenset[State]
    #: States in which the clock stops and later resumes with what was left.
    stops_in: frozenset[State]
    responsible: Party
    #: Parties whose move out of the running states meets the deadline.
    met_by: frozenset[Party]
    #: Whose calendar and zone the deadline falls on (usually the responsible party's).
    calendar_of: Party
    #: Actions that end the current deadline and start a fresh one (a preservation extended).
    restarts_on: frozenset[Action] = frozenset()
    #: Whether the requester's `respond_by` shortens it when earlier.
    respond_by: bool = False


R, Q, X = Party.REQUESTER, Party.REQUESTED, Party.EXECUTOR
_S = State

PHASES: Final[Mapping[tuple[Kind, DeadlineKind], Phase]] = MappingProxyType(
    {
        (Kind.MLA, DeadlineKind.ACKNOWLEDGE): Phase(
            frozenset({_S.TRANSMITTED}), frozenset(), Q, frozenset({Q}), Q
        ),
        # The decision clock stops while the requester owes an answer (information asked,
        # confidentiality notice) and resumes with what was left.
        (Kind.MLA, DeadlineKind.DECIDE): Phase(
            frozenset({_S.ACKNOWLEDGED}),
            frozenset({_S.INFO_REQUESTED, _S.CONFIDENTIALITY_NOTIFIED}),
            Q,
            frozenset({Q}),
            Q,
        ),
        (Kind.MLA, DeadlineKind.ANSWER_INFO): Phase(
            frozenset({_S.INFO_REQUESTED, _S.OBSTACLE_REPORTED}), frozenset(), R, frozenset({R}), R
        ),
        (Kind.MLA, DeadlineKind.EXECUTE): Phase(
            frozenset({_S.IN_EXECUTION, _S.PARTIALLY_EXECUTED}),
            frozenset(),
            X,
            frozenset({X, Q}),
            X,
            respond_by=True,
        ),
        (Kind.PRESERVATION, DeadlineKind.ACKNOWLEDGE): Phase(
            frozenset({_S.TRANSMITTED}), frozenset(), Q, frozenset({Q}), Q
        ),
        (Kind.PRESERVATION, DeadlineKind.PRESERVE): Phase(
            frozenset({_S.TRANSMITTED, _S.ACKNOWLEDGED}),
            frozenset({_S.PRESERVATION_AT_RISK}),
            Q,
            frozenset({Q}),
            Q,
        ),
        # The requester files the MLA request (and supersedes) or asks for an extension;
        # the date is the requested state's, so its calendar and zone apply.
        (Kind.PRESERVATION, DeadlineKind.PRESERVATION_EXPIRY): Phase(
            frozenset({_S.PRESERVED, _S.EXTENDED}),
            frozenset(),
            R,
            frozenset({R, Q}),
            Q,
            restarts_on=frozenset({Action.EXTEND}),
        ),
    }
)


@dataclass(frozen=True)
class DeadlineRule:
    """One rule: entering `starts` on a request of `kind` and `urgency` opens `deadline`."""

    kind: Kind
    urgency: Urgency
    starts: State
    deadline: DeadlineKind
    length: int
    unit: Unit
    #: Warnings before the due time, in the rule's unit (calendar days for UNTIL_DATE).
    warn: tuple[int, ...]
    source: str
    #: The pair of countries whose arrangement set this rule, if any (operator file).
    pair: tuple[str, str] | None = None

    @property
    def id(self) -> str:
        """A stable name, e.g. `mla.decide.normal` or `mla.decide.normal@LA-TH`."""
        base = f"{self.kind}.{self.deadline}.{self.urgency}"
        if self.starts is _S.OBSTACLE_REPORTED:
            base = f"{self.kind}.answer_obstacle.{self.urgency}"
        return base if self.pair is None else f"{base}@{'-'.join(self.pair)}"

    @property
    def phase(self) -> Phase:
        """How the rule's clock runs."""
        return PHASES[self.kind, self.deadline]


_POLICY = "policy default (no instrument sets a number)"
_U, _N, _E = Urgency.URGENT, Urgency.NORMAL, Urgency.EMERGENCY
B, D, H = Unit.BUSINESS_DAYS, Unit.CALENDAR_DAYS, Unit.HOURS


def _rules(
    kind: Kind,
    starts: State,
    deadline: DeadlineKind,
    per_urgency: Mapping[Urgency, tuple[int, Unit, tuple[int, ...]]],
    source: str,
) -> list[DeadlineRule]:
    return [
        DeadlineRule(kind, urgency, starts, deadline, length, unit, warn, source)
        for urgency, (length, unit, warn) in per_urgency.items()
    ]


DEFAULT_RULES: Final[tuple[DeadlineRule, ...]] = (
    *_rules(
        Kind.MLA,
        _S.TRANSMITTED,
        DeadlineKind.ACKNOWLEDGE,
        {_N: (5, B, (2,)), _U: (2, B, (1,)), _E: (24, H, (6,))},
        f"{_POLICY}; mla-law.md §2 row 4: an acknowledgement duty is unconfirmed",
    ),
    *_rules(
        Kind.MLA,
        _S.ACKNOWLEDGED,
        DeadlineKind.DECIDE,
        {_N: (30, B, (10, 3)), _U: (10, B, (3, 1)), _E: (72, H, (24, 6))},
        f"{_POLICY}; BC 27(4)-(7) require reasons, not a time",
    ),
    *_rules(
        Kind.MLA,
        _S.INFO_REQUESTED,
        DeadlineKind.ANSWER_INFO,
        {_N: (20, B, (5,)), _U: (5, B, (2,)), _E: (48, H, (12,))},
        f"{_POLICY}; requests for information are common practice (mla-law.md §2 row 5)",
    ),
    *_rules(
        Kind.MLA,
        _S.OBSTACLE_REPORTED,
        DeadlineKind.ANSWER_INFO,
        {_N: (20, B, (5,)), _U: (5, B, (2,)), _E: (48, H, (12,))},
        f"BC 27(7) (the requester answers a reported obstacle); length {_POLICY}",
    ),
    *_rules(
        Kind.MLA,
        _S.IN_EXECUTION,
        DeadlineKind.EXECUTE,
        {_N: (60, B, (10, 3)), _U: (20, B, (5, 1)), _E: (5, D, (2, 1))},
        f"{_POLICY}; BC 27(7) 'promptly'; the requester's respond_by when earlier",
    ),
    *_rules(
        Kind.PRESERVATION,
        _S.TRANSMITTED,
        DeadlineKind.ACKNOWLEDGE,
        {_N: (24, H, (6,)), _U: (12, H, (3,)), _E: (4, H, (1,))},
        f"{_POLICY}; BC 35: 24/7 points of contact, immediate assistance",
    ),
    *_rules(
        Kind.PRESERVATION,
        _S.TRANSMITTED,
        DeadlineKind.PRESERVE,
        {_N: (72, H, (24,)), _U: (24, H, (6,)), _E: (12, H, (3,))},
        f"{_POLICY}; BC 29(3) 'expeditiously'",
    ),
    *_rules(
        Kind.PRESERVATION,
        _S.PRESERVED,
        DeadlineKind.PRESERVATION_EXPIRY,
        {u: (0, Unit.UNTIL_DATE, (14, 3)) for u in Urgency},
        "BC 29(7): the preserved_until date (at least 60 days); warnings policy default",
    ),
)


@dataclass(frozen=True)
class Override:
    """An operator's rule for one pair of countries (a bilateral arrangement)."""

    pair: tuple[str, str]
    kind: Kind
    deadline: DeadlineKind
    urgency: Urgency | None
    length: int
    unit: Unit
    warn: tuple[int, ...] | None
    source: str

    def applies(self, rule: DeadlineRule, countries: frozenset[str]) -> bool:
        """Whether this override replaces `rule` for a request between `countries`."""
        return (
            frozenset(self.pair) == countries
            and rule.kind is self.kind
            and rule.deadline is self.deadline
            and (self.urgency is None or rule.urgency is self.urgency)
        )


@dataclass(frozen=True)
class DeadlineRules:
    """The rules in force: the defaults and the operator's overrides per pair of countries."""

    rules: tuple[DeadlineRule, ...] = DEFAULT_RULES
    overrides: tuple[Override, ...] = ()
    origin: str = "built-in defaults"

    def for_request(
        self, kind: Kind, urgency: Urgency, requesting: str, requested: str
    ) -> tuple[DeadlineRule, ...]:
        """The rules for one request, with the pair's overrides applied."""
        countries = frozenset({requesting, requested})
        found = []
        for rule in self.rules:
            if rule.kind is not kind or rule.urgency is not urgency:
                continue
            # The last matching override wins, so a file can state a general rule and then
            # a narrower one for one urgency.
            for over in reversed(self.overrides):
                if over.applies(rule, countries):
                    rule = replace(
                        rule,
                        length=over.length,
                        unit=over.unit,
                        warn=rule.warn if over.warn is None else over.warn,
                        source=over.source,
                        pair=over.pair,
                    )
                    break
            found.append(rule)
        return tuple(found)


DEFAULTS: Final = DeadlineRules()
