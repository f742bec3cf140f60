"""Business days per country: its weekend and public holidays, in the agency's own time zone.

Holidays come from the `holidays` package, which covers all eleven ASEAN members, Timor-
Leste (TL) included. Weekends are data here rather than the package's, so that the rule
(Brunei rests on Friday and Sunday) is visible and tested. Islamic and lunar holidays are
the package's computed dates; a government that moves one by decree may differ by a day.
Only national holidays count: Malaysia's and Indonesia's regional days are not applied.

A business-day deadline falls at the end (23:59:59.999999 local) of the last business
day, in the responsible agency's IANA zone (mla-law.md §7: Myanmar +06:30, Indonesia's
three zones by agency), and is returned in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

import holidays

from .countries import ASEAN_MEMBERS

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)

#: Weekly rest days per ASEAN member (Monday = 0). Brunei: Friday and Sunday.
WEEKENDS: Final[Mapping[str, frozenset[int]]] = MappingProxyType(
    {
        code: frozenset({FRI, SUN}) if code == "BN" else frozenset({SAT, SUN})
        for code in ASEAN_MEMBERS
    }
)
#: Weekend of a country outside ASEAN (an agency registered with an explicit zone).
DEFAULT_WEEKEND: Final = frozenset({SAT, SUN})

#: How far a business-day count may run before it is treated as a data error.
_MAX_SCAN_DAYS: Final = 3660


@lru_cache(maxsize=64)
def _holidays(country: str) -> holidays.HolidayBase | None:
    """The country's national public holidays (years expand on demand), or None if unknown."""
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        return None


def has_holidays(country: str) -> bool:
    """Whether the holidays package knows the country's public holidays."""
    return _holidays(country) is not None


@dataclass(frozen=True)
class Calendar:
    """One agency's working calendar: its country's weekend and holidays, in its zone."""

    country: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        """The IANA zone."""
        return ZoneInfo(self.timezone)

    @property
    def weekend(self) -> frozenset[int]:
        """Weekly rest days (Monday = 0)."""
        return WEEKENDS.get(self.country, DEFAULT_WEEKEND)

    def holiday(self, day: date) -> str | None:
        """The public holiday's name on that day, or None."""
        found = _holidays(self.country)
        return None if found is None else found.get(day)

    def is_business_day(self, day: date) -> bool:
        """Neither a weekend day nor a public holiday."""
        return day.weekday() not in self.weekend and self.holiday(day) is None

    def local_date(self, instant: datetime) -> date:
        """The local calendar date of an instant."""
        return instant.astimezone(self.zone).date()

    def end_of_day(self, day: date) -> datetime:
        """The last instant of a local day, in UTC."""
        return datetime.combine(day, time.max, tzinfo=self.zone).astimezone(UTC)

    def add_business_days(self, start: date, count: int) -> date:
        """The `count`-th business day after `start` (start itself not counted).

        With count 0: `start` if it is a business day, else the next one.
        """
        day, left = start, count
        if left == 0:
            while not self.is_business_day(day):
                day = self._next(day, start)
            return day
        while left > 0:
            day = self._next(day, start)
            if self.is_business_day(day):
                left -= 1
        return day

    def subtract_business_days(self, end: date, count: int) -> date:
        """The business day `count` business days before `end` (for warnings)."""
        day, left = end, count
        while left > 0:
            day -= timedelta(days=1)
            if (end - day).days > _MAX_SCAN_DAYS:
                raise ValueError(f"no business day within {_MAX_SCAN_DAYS} days of {end}")
            if self.is_business_day(day):
                left -= 1
        return day

    def business_days_between(self, after: date, until: date) -> int:
        """Business days in (after, until]: what is left of a clock stopped on `after`."""
        if until <= after:
            return 0
        return sum(
            1
            for n in range(1, (until - after).days + 1)
            if self.is_business_day(after + timedelta(days=n))
        )

    def _next(self, day: date, start: date) -> date:
        nxt = day + timedelta(days=1)
        if (nxt - start).days > _MAX_SCAN_DAYS:  # a calendar of only holidays is a data bug
            raise ValueError(f"no business day within {_MAX_SCAN_DAYS} days of {start}")
        return nxt


def coverage() -> dict[str, str]:
    """Per ASEAN member: its weekend and whether the holidays package covers it (for docs)."""
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    out = {}
    for code in ASEAN_MEMBERS:
        weekend = "+".join(names[d] for d in sorted(WEEKENDS[code]))
        held = "national holidays (holidays package)" if has_holidays(code) else "weekends only"
        out[code] = f"{weekend}; {held}"
    return out
