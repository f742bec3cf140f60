"""The operator's deadline file (`MLA_DEADLINES_FILE`): rules per pair of countries.

A bilateral arrangement may set its own time limits. Each `[[deadline]]` entry names the
two countries (either may be the requester), the kind of request, the deadline and
optionally one urgency, with its length, unit, warnings and source:

    [[deadline]]
    between = ["LA", "TH"]
    kind = "mla"
    deadline = "decide"
    urgency = "normal"        # optional: every urgency when absent
    length = 20
    unit = "business_days"    # business_days | calendar_days | hours
    warn = [5, 2]             # optional: the built-in rule's warnings when absent
    source = "LA-TH arrangement of 2019, Art 7(2)"

The file is read when the service is built, and any mistake stops it with the file, line
and entry (the same validation as MLA_LEGAL_FILE, whose helpers this reuses).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

from .deadlines import DEFAULTS, DeadlineKind, DeadlineRules, Override, Unit
from .legal_profile import LegalDataInvalid, _entries, _Entry, _line_of
from .model import Kind, Urgency

E = TypeVar("E", Kind, DeadlineKind, Urgency, Unit)

_TABLE: Final = "deadline"
_KEYS: Final = ("between", "kind", "deadline", "urgency", "length", "unit", "warn", "source")
_REQUIRED: Final = ("between", "kind", "deadline", "length", "unit", "source")
#: Longest length accepted per unit: a typo of an extra digit should not pass silently.
_MAX: Final = {Unit.BUSINESS_DAYS: 365, Unit.CALENDAR_DAYS: 730, Unit.HOURS: 24 * 90}


class DeadlineRulesInvalid(LegalDataInvalid):
    """The operator's deadline file cannot be used; names the file, line and entry."""

    problem: ClassVar[str] = "deadline-rules-invalid"
    title: ClassVar[str] = "Deadline rules invalid"


def load_rules(path: Path, base: DeadlineRules = DEFAULTS) -> DeadlineRules:
    """Read the operator's TOML file over `base`; raise DeadlineRulesInvalid naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeadlineRulesInvalid(str(path), f"cannot read the deadline file: {exc}") from exc
    return parse_rules(text, origin=str(path), base=base)


def parse_rules(
    text: str, *, origin: str = "<deadline rules>", base: DeadlineRules = DEFAULTS
) -> DeadlineRules:
    """Parse the TOML text into overrides added after `base`'s."""
    try:
        return _parse(text, origin, base)
    except DeadlineRulesInvalid:
        raise
    except LegalDataInvalid as exc:  # raised by the shared helpers: same facts, own type
        raise DeadlineRulesInvalid(exc.origin, exc.reason, line=exc.line, entry=exc.entry) from exc


def _parse(text: str, origin: str, base: DeadlineRules) -> DeadlineRules:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        raise DeadlineRulesInvalid(origin, f"not valid TOML: {exc}", line=line) from exc
    for key in data:
        if key != _TABLE:
            raise DeadlineRulesInvalid(
                origin,
                f"unknown table '{key}'; expected [[{_TABLE}]]",
                line=_line_of(text, rf"\[*\s*{re.escape(key)}\s*[\]=]"),
            )
    seen: dict[tuple[Any, ...], str] = {}
    overrides = []
    for entry in _entries(text, origin, data, _TABLE):
        entry.check_keys(_KEYS, required=_REQUIRED)
        pair = _pair(entry)
        kind = _choice(entry, "kind", Kind)
        deadline = _choice(entry, "deadline", DeadlineKind)
        if deadline is DeadlineKind.PRESERVATION_EXPIRY:
            entry.fail(
                "deadline",
                "preservation_expiry is the preserved_until date of the preservation itself "
                "(Budapest 29(7)); it cannot be overridden",
            )
        if not any(r.kind is kind and r.deadline is deadline for r in base.rules):
            entry.fail("deadline", f"a {kind} request has no '{deadline}' deadline")
        urgency = _choice(entry, "urgency", Urgency) if "urgency" in entry.raw else None
        unit = _choice(entry, "unit", Unit)
        if unit is Unit.UNTIL_DATE:
            entry.fail("unit", "unit 'until_date' is only for preservation expiry")
        length = _count(entry, "length", entry.raw["length"], low=1, high=_MAX[unit])
        warn = None
        if "warn" in entry.raw:
            raw = entry.value("warn", list, "a list of whole numbers")
            warn = tuple(sorted({_count(entry, "warn", w, 1, length - 1) for w in raw}))
        ident = (pair, kind, deadline, urgency)
        if ident in seen:
            entry.fail("deadline", f"duplicate rule for {'-'.join(pair)} ({seen[ident]})")
        seen[ident] = entry.label
        overrides.append(
            Override(pair, kind, deadline, urgency, length, unit, warn, entry.source())
        )
    return DeadlineRules(base.rules, (*base.overrides, *overrides), origin)


def _pair(entry: _Entry) -> tuple[str, str]:
    raw = entry.value("between", list, 'a list of two country codes, e.g. ["LA", "TH"]')
    if len(raw) != 2 or not all(isinstance(c, str) for c in raw) or raw[0] == raw[1]:
        entry.fail("between", f"'between' needs two different country codes, got {raw!r}")
    codes = []
    for code in raw:
        # _Entry.state() checks one code under "state"; reuse it with the same messages.
        probe = _Entry(entry.text, entry.origin, _TABLE, 0, {"state": code}, None)
        probe.label, probe.start = entry.label, entry.start
        try:
            codes.append(probe.state())
        except LegalDataInvalid as exc:
            entry.fail("between", exc.reason)
    first, second = sorted(codes)
    return first, second


def _choice(entry: _Entry, key: str, enum: type[E]) -> E:
    value = entry.value(key, str, f"one of {', '.join(m.value for m in enum)}")
    try:
        return enum(value)
    except ValueError:
        entry.fail(key, f"unknown {key} '{value}'; expected {', '.join(m.value for m in enum)}")


def _count(entry: _Entry, key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        entry.fail(key, f"'{key}' must be a whole number from {low} to {high}, got {value!r}")
    return value
