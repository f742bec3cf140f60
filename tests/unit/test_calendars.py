"""Business-day arithmetic on ASEAN calendars, against dates computed by hand.

Each case says how it was counted: the start day itself never counts; a deadline falls at
the end of its last local business day, returned in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays
import pytest

from mla_tracker.domain.calendars import FRI, SAT, SUN, WEEKENDS, Calendar, coverage
from mla_tracker.domain.countries import ASEAN_MEMBERS
from mla_tracker.domain.deadline_clock import due_from
from mla_tracker.domain.deadlines import DEFAULT_RULES, DeadlineKind, Unit
from mla_tracker.domain.model import Kind, Urgency

EOD = timedelta(hours=23, minutes=59, seconds=59, microseconds=999999)


def _rule(length: int, unit: Unit = Unit.BUSINESS_DAYS):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    base = next(
        r
        for r in DEFAULT_RULES
        if r.kind is Kind.MLA and r.deadline is DeadlineKind.DECIDE and r.urgency is Urgency.NORMAL
    )
    return replace(base, length=length, unit=unit)


@pytest.mark.parametrize("code", list(ASEAN_MEMBERS))
def test_every_member_has_holidays_and_a_weekend(code: str) -> None:
    # All eleven, Timor-Leste included: none falls back to weekends only.
    assert len(holidays.country_holidays(code, years=2026)) >= 5
    assert "holidays package" in coverage()[code]
    # Our weekend data agrees with the package's own.
    assert set(holidays.country_holidays(code).weekend) == set(WEEKENDS[code])


def test_brunei_rests_on_friday_and_sunday() -> None:
    bn = Calendar("BN", "Asia/Brunei")
    assert WEEKENDS["BN"] == {FRI, SUN} and WEEKENDS["TH"] == {SAT, SUN}
    # Thu 3 Sep 2026 + 3: Fri 4 rest, Sat 5 (1), Sun 6 rest, Mon 7 (2), Tue 8 (3).
    assert bn.add_business_days(date(2026, 9, 3), 3) == date(2026, 9, 8)
    assert bn.is_business_day(date(2026, 9, 5))  # a Saturday
    assert not bn.is_business_day(date(2026, 9, 4))  # a Friday
    due = due_from(_rule(3), bn, datetime(2026, 9, 3, 2, 0, tzinfo=UTC))
    assert due == datetime(2026, 9, 8, 15, 59, 59, 999999, tzinfo=UTC)  # +08:00


def test_thailand_across_songkran_and_a_weekend() -> None:
    th = Calendar("TH", "Asia/Bangkok")
    assert th.holiday(date(2026, 4, 13)) == "Songkran Festival"
    # Fri 10 Apr 2026 15:00 +07 + 5: Sat 11, Sun 12 rest; Mon 13-Wed 15 Songkran;
    # Thu 16 (1), Fri 17 (2), Mon 20 (3), Tue 21 (4), Wed 22 (5).
    due = due_from(_rule(5), th, datetime(2026, 4, 10, 8, 0, tzinfo=UTC))
    assert due == datetime(2026, 4, 22, 16, 59, 59, 999999, tzinfo=UTC)
    assert due.astimezone(th.zone).isoformat() == "2026-04-22T23:59:59.999999+07:00"


def test_laos_across_lao_new_year() -> None:
    la = Calendar("LA", "Asia/Vientiane")
    # Tue 13 Apr 2027 10:00 +07 + 5: Wed 14-Fri 16 Lao New Year, Sat, Sun;
    # Mon 19 (1), Tue 20 (2), Wed 21 (3), Thu 22 (4), Fri 23 (5).
    due = due_from(_rule(5), la, datetime(2027, 4, 13, 3, 0, tzinfo=UTC))
    assert due == datetime(2027, 4, 23, 16, 59, 59, 999999, tzinfo=UTC)
    # Thailand's Songkran that year is 13-15 April: from the same Tuesday it ends earlier.
    th = Calendar("TH", "Asia/Bangkok")
    assert th.add_business_days(date(2027, 4, 13), 5) == date(2027, 4, 22)


def test_myanmar_half_hour_zone_moves_the_start_day() -> None:
    mm = Calendar("MM", "Asia/Yangon")
    # 17:45Z on Mon 7 Sep 2026 is 00:15 on Tue 8 Sep in Yangon (+06:30): Tue is day 0;
    # Wed 9 (1), Thu 10 (2), ending 23:59:59.999999+06:30 = 17:29:59.999999Z.
    due = due_from(_rule(2), mm, datetime(2026, 9, 7, 17, 45, tzinfo=UTC))
    assert due == datetime(2026, 9, 10, 17, 29, 59, 999999, tzinfo=UTC)
    # The same instant in Bangkok (+07:00) is still Tuesday 00:45: same day 0 here ...
    # ... but 16:55Z on Mon is Monday 23:25 in Yangon: day 0 is Monday, due Wed 9.
    due = due_from(_rule(2), mm, datetime(2026, 9, 7, 16, 55, tzinfo=UTC))
    assert due == datetime(2026, 9, 9, 17, 29, 59, 999999, tzinfo=UTC)


def test_indonesia_jayapura_is_a_day_ahead_of_jakarta() -> None:
    start = datetime(2026, 8, 13, 15, 30, tzinfo=UTC)  # Thu 22:30 Jakarta, Fri 00:30 Jayapura
    jakarta = Calendar("ID", "Asia/Jakarta")
    jayapura = Calendar("ID", "Asia/Jayapura")
    # Jakarta: day 0 Thu 13; Fri 14 (1); Sat, Sun; Mon 17 Independence Day; Tue 18 (2).
    assert due_from(_rule(2), jakarta, start) == datetime(
        2026, 8, 18, 16, 59, 59, 999999, tzinfo=UTC
    )
    # Jayapura (+09:00): day 0 Fri 14; Sat, Sun; Mon 17 holiday; Tue 18 (1), Wed 19 (2).
    assert due_from(_rule(2), jayapura, start) == datetime(
        2026, 8, 19, 14, 59, 59, 999999, tzinfo=UTC
    )


def test_timor_leste_and_unknown_countries() -> None:
    tl = Calendar("TL", "Asia/Dili")
    assert tl.holiday(date(2026, 8, 30)) is not None  # Popular Consultation Day
    # A country the package does not know counts weekends only.
    xx = Calendar("XX", "UTC")
    assert xx.holiday(date(2026, 12, 25)) is None
    assert xx.add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 25)


def test_zero_days_and_subtraction_and_days_left() -> None:
    th = Calendar("TH", "Asia/Bangkok")
    assert th.add_business_days(date(2026, 4, 11), 0) == date(2026, 4, 16)  # Sat → Thu
    assert th.add_business_days(date(2026, 4, 16), 0) == date(2026, 4, 16)
    assert th.subtract_business_days(date(2026, 4, 22), 3) == date(2026, 4, 17)
    assert th.business_days_between(date(2026, 4, 10), date(2026, 4, 22)) == 5
    assert th.business_days_between(date(2026, 4, 22), date(2026, 4, 10)) == 0


def test_calendar_and_hour_units() -> None:
    th = Calendar("TH", "Asia/Bangkok")
    start = datetime(2026, 4, 10, 8, 0, tzinfo=UTC)
    assert due_from(_rule(5, Unit.CALENDAR_DAYS), th, start) == (
        datetime(2026, 4, 15, tzinfo=th.zone) + EOD
    )
    assert due_from(_rule(36, Unit.HOURS), th, start) == start + timedelta(hours=36)
