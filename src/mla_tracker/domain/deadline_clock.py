"""The deadline clock: a request's deadlines from its statement timeline, at a given time.

Pure: the caller passes the accepted statements in chain order (when each was received,
its action and actor), the calendars of the parties and the rules in force. Replaying the
transition table gives the state each statement reached; entering a rule's start state
opens a deadline, leaving its running states closes it, and a stop state (information
requested) stops the clock, which resumes with what was left: the business days after the
stop day up to the due day, or the hours left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from .calendars import Calendar
from .deadlines import DeadlineKind, DeadlineRule, Unit
from .model import Action, Kind, Party, State
from .transitions import INITIAL_ACTION, INITIAL_STATE, TABLES


class Status(StrEnum):
    """Where a deadline stands at the time asked."""

    PENDING = "pending"
    MET = "met"
    MISSED = "missed"


@dataclass(frozen=True)
class Step:
    """One accepted statement as the clock sees it."""

    seq: int
    action: Action
    actor: str
    received_at: datetime
    #: A preserve/extend statement's `until`, when the reader may see bodies.
    until: date | None = None


@dataclass(frozen=True)
class Side:
    """A party's agency and its working calendar."""

    agency: str
    calendar: Calendar


@dataclass(frozen=True)
class Deadline:
    """One deadline of a request, as it stands at the time asked."""

    id: str
    rule: DeadlineRule
    responsible: Party
    responsible_agency: str
    calendar: Calendar
    started_at: datetime
    #: None while the clock is stopped.
    due_at: datetime | None
    status: Status
    closed_at: datetime | None = None
    stopped_at: datetime | None = None
    #: What is left while stopped, e.g. "7 business_days" (None when running or closed).
    remaining: str | None = None
    #: When the requester's respond_by made it earlier than the rule.
    respond_by_applied: bool = False
    warnings: tuple[datetime, ...] = ()

    @property
    def overdue(self) -> bool:
        """Missed and still not done."""
        return self.status is Status.MISSED and self.closed_at is None


@dataclass
class _Open:
    rule: DeadlineRule
    side: Side
    responsible_agency: str
    start_seq: int
    started_at: datetime
    due: datetime
    stopped_at: datetime | None = None
    left_days: int = 0
    left_time: timedelta = field(default_factory=timedelta)
    shortened: bool = False


def due_from(
    rule: DeadlineRule, calendar: Calendar, start: datetime, until: date | None = None
) -> datetime:
    """When a rule's deadline falls, counted from `start` on the calendar."""
    if rule.unit is Unit.HOURS:
        return start + timedelta(hours=rule.length)
    if rule.unit is Unit.UNTIL_DATE:
        if until is None:
            raise ValueError(f"rule {rule.id} needs a date")
        return calendar.end_of_day(until)
    day = calendar.local_date(start)
    if rule.unit is Unit.CALENDAR_DAYS:
        return calendar.end_of_day(day + timedelta(days=rule.length))
    return calendar.end_of_day(calendar.add_business_days(day, rule.length))


def warnings_of(rule: DeadlineRule, calendar: Calendar, due: datetime) -> tuple[datetime, ...]:
    """When each warning before `due` falls."""
    out = []
    for k in rule.warn:
        if rule.unit is Unit.HOURS:
            out.append(due - timedelta(hours=k))
            continue
        last = calendar.local_date(due)
        if rule.unit is Unit.BUSINESS_DAYS:
            out.append(calendar.end_of_day(calendar.subtract_business_days(last, k)))
        else:
            out.append(calendar.end_of_day(last - timedelta(days=k)))
    return tuple(sorted(out))


def compute(
    kind: Kind,
    steps: Sequence[Step],
    sides: Mapping[Party, Side],
    rules: Sequence[DeadlineRule],
    now: datetime,
    *,
    respond_by: date | None = None,
) -> list[Deadline]:
    """Every deadline of a request at `now`, in the order they opened.

    `sides` names the requester's, requested's and (once assigned) executor's agency and
    calendar; `respond_by` is the requester's date (None for readers without bodies).
    """
    by_agency = {side.agency: party for party, side in sides.items()}
    state: State | None = None
    active: dict[DeadlineKind, _Open] = {}
    done: list[Deadline] = []
    for step in steps:
        before = state
        if step.action is INITIAL_ACTION and state is None:
            state = INITIAL_STATE
        elif state is not None and (state, step.action) in TABLES[kind]:
            state = TABLES[kind][state, step.action].target
        else:  # the hub accepted it, so this is a replay bug, never a user error
            raise ValueError(f"statement {step.seq}: '{step.action}' does not apply in {state}")
        party = by_agency.get(step.actor)
        at = step.received_at
        for deadline_kind, item in list(active.items()):
            phase = item.rule.phase
            if step.action in phase.restarts_on or state not in phase.runs_in | phase.stops_in:
                _close(done, item, at, party)
                del active[deadline_kind]
            elif state in phase.stops_in and item.stopped_at is None:
                if at > item.due:  # already missed: stopping the clock cannot save it
                    _close(done, item, at, party)
                    del active[deadline_kind]
                else:
                    _stop(item, at)
            elif state in phase.runs_in and item.stopped_at is not None:
                _resume(item, at)
        for rule in rules:
            phase = rule.phase
            fresh = state is rule.starts and before not in phase.runs_in | phase.stops_in
            # An extension ends one expiry and opens the next, at the new date.
            entered = fresh or (step.action in phase.restarts_on and state in phase.runs_in)
            if not entered or rule.deadline in active:
                continue
            side = sides.get(phase.calendar_of)
            if side is None or (rule.unit is Unit.UNTIL_DATE and step.until is None):
                continue  # no executor yet, or a date this reader may not see
            who = sides.get(phase.responsible)
            due = due_from(rule, side.calendar, at, step.until)
            item = _Open(rule, side, who.agency if who else "", step.seq, at, due)
            if phase.respond_by and respond_by is not None:
                requester = sides[Party.REQUESTER].calendar
                limit = requester.end_of_day(respond_by)
                if limit < item.due:
                    item.due, item.shortened = limit, True
            active[rule.deadline] = item
    done += [_pending(item, now) for item in active.values()]
    return sorted(done, key=lambda d: (d.started_at, d.id))


def _stop(item: _Open, at: datetime) -> None:
    item.stopped_at = at
    cal, unit = item.side.calendar, item.rule.unit
    if unit is Unit.BUSINESS_DAYS:
        item.left_days = cal.business_days_between(cal.local_date(at), cal.local_date(item.due))
    elif unit is Unit.HOURS:
        item.left_time = item.due - at
    else:
        item.left_days = max(0, (cal.local_date(item.due) - cal.local_date(at)).days)


def _resume(item: _Open, at: datetime) -> None:
    cal, unit = item.side.calendar, item.rule.unit
    day = cal.local_date(at)
    if unit is Unit.BUSINESS_DAYS:
        item.due = cal.end_of_day(cal.add_business_days(day, item.left_days))
    elif unit is Unit.HOURS:
        item.due = at + item.left_time
    else:
        item.due = cal.end_of_day(day + timedelta(days=item.left_days))
    item.stopped_at = None


def _deadline(item: _Open, status: Status, **extra: object) -> Deadline:
    phase = item.rule.phase
    return Deadline(
        id=f"{item.rule.deadline}-{item.start_seq}",
        rule=item.rule,
        responsible=phase.responsible,
        responsible_agency=item.responsible_agency,
        calendar=item.side.calendar,
        started_at=item.started_at,
        due_at=item.due,
        status=status,
        respond_by_applied=item.shortened,
        **extra,  # type: ignore[arg-type]
    )


def _close(done: list[Deadline], item: _Open, at: datetime, party: Party | None) -> None:
    """Record a deadline the move ended: met, missed, or dropped (see below)."""
    if at > item.due and item.stopped_at is None:
        done.append(_deadline(item, Status.MISSED, closed_at=at))
    elif party in item.rule.phase.met_by:
        done.append(_deadline(item, Status.MET, closed_at=at))
    # Otherwise the other side ended it in time (the requester withdrew): it no longer
    # binds anyone, and calling it "met" would credit a party that did nothing.


def _pending(item: _Open, now: datetime) -> Deadline:
    if item.stopped_at is not None:
        unit = item.rule.unit
        left = (
            f"{item.left_time.total_seconds() / 3600:g} hours"
            if unit is Unit.HOURS
            else f"{item.left_days} {unit if unit is not Unit.UNTIL_DATE else 'calendar_days'}"
        )
        deadline = _deadline(item, Status.PENDING, stopped_at=item.stopped_at, remaining=left)
        return replace(deadline, due_at=None)
    status = Status.MISSED if now > item.due else Status.PENDING
    return _deadline(item, status, warnings=warnings_of(item.rule, item.side.calendar, item.due))
