"""A site's calendar (行事历): which dates are working days in a hall, and why.

Built on the People's Republic of China's statutory holidays and adjusted working days (调休) as
the maintained `chinesecalendar` package publishes them (version 1.11 covers 2004–2026; each
year is added once the State Council announces it, usually in November of the year before),
plus the site's local exceptions: a date made a holiday or a working day, with a reason.

A year the package does not cover falls back to the regular working weekdays plus the local
exceptions, and every answer about such a date says so (`CalendarDay.statutory` is False), so
that an operator can see that the statutory holidays still need to arrive (a newer package) or
be entered as local exceptions. Pure: no I/O, no clock.

Used by booking dates (`next_working_day`), attendance (`is_working_day`) and leave durations
(`working_days_between`); the cloud turns it into a hall setup's `closed_dates` and
`extra_working_dates` (cloud/calendars.py).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import chinese_calendar

__all__ = [
    "HOLIDAY_NAMES",
    "CalendarDay",
    "CalendarException",
    "DayKind",
    "SiteCalendar",
    "statutory_years",
]

DayKind = Literal["workday", "weekend", "holiday", "adjusted_workday", "local"]

# chinesecalendar's holiday names (its `Holiday` values), as the State Council names them
HOLIDAY_NAMES: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}

_WEEKDAYS = (1, 2, 3, 4, 5)
# how far next_working_day looks before it gives up (a calendar with no working day at all)
_SEARCH_DAYS = 3660


@dataclass(frozen=True)
class CalendarException:
    """A local exception: `date` is a working day (`working`) or a holiday, for `reason`."""

    date: dt.date
    working: bool
    reason: str


@dataclass(frozen=True)
class CalendarDay:
    """One date of a site's calendar.

    `kind`: a regular `workday` or `weekend` (by the site's working weekdays), a statutory
    `holiday`, an `adjusted_workday` (调休上班), or a `local` exception; `name`: the holiday's
    name (also on its adjusted working days) or the exception's reason; `statutory`: whether
    the statutory calendar covers the date (False: weekends and local exceptions only).
    """

    date: dt.date
    working: bool
    kind: DayKind
    name: str
    statutory: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "working": self.working,
            "kind": self.kind,
            "name": self.name,
            "statutory": self.statutory,
        }


class SiteCalendar:
    """The calendar of one site: the statutory calendar, its working weekdays (ISO, Monday = 1;
    a hall open on Saturdays lists 6) and its local exceptions, which win over both."""

    def __init__(
        self,
        exceptions: Iterable[CalendarException] = (),
        *,
        working_weekdays: Iterable[int] = _WEEKDAYS,
    ) -> None:
        self.exceptions = {e.date: e for e in exceptions}
        self.working_weekdays = frozenset(working_weekdays)

    def day(self, date: dt.date) -> CalendarDay:
        """What `date` is in this site, and why."""
        statutory = is_covered(date.year)
        local = self.exceptions.get(date)
        if local is not None:
            return CalendarDay(date, local.working, "local", local.reason, statutory)
        if statutory:
            name = _holiday_name(date)
            if name and not chinese_calendar.is_workday(date):
                return CalendarDay(date, False, "holiday", name, True)
            if name and date.isoweekday() > 5:
                return CalendarDay(date, True, "adjusted_workday", f"{name}调休上班", True)
        working = date.isoweekday() in self.working_weekdays
        return CalendarDay(date, working, "workday" if working else "weekend", "", statutory)

    def is_working_day(self, date: dt.date) -> bool:
        return self.day(date).working

    def working_days_between(self, first: dt.date, last: dt.date) -> int:
        """Working days from `first` to `last`, both included (a leave from Monday to Friday
        of an ordinary week is 5); 0 when `last` is before `first`."""
        return sum(1 for day in _dates(first, last) if self.is_working_day(day))

    def next_working_day(self, date: dt.date, n: int = 1) -> dt.date:
        """The `n`-th working day after `date` (`date` itself not counted); ValueError when
        n < 1 or the calendar has no working day for ten years."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        day = date
        for _ in range(_SEARCH_DAYS):
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
                if n == 0:
                    return day
        raise ValueError(f"no working day within {_SEARCH_DAYS} days after {date}")

    def year_view(self, year: int) -> list[CalendarDay]:
        """Every date of `year`, in order."""
        return [self.day(d) for d in _dates(dt.date(year, 1, 1), dt.date(year, 12, 31))]


def statutory_years() -> tuple[int, int]:
    """The first and last year the installed statutory calendar covers."""
    return min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year


@functools.cache
def is_covered(year: int) -> bool:
    """Whether the statutory calendar knows `year`'s holidays and adjusted working days."""
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _holiday_name(date: dt.date) -> str:
    _, holiday = chinese_calendar.get_holiday_detail(date)
    if holiday is None:
        return ""
    english = str(getattr(holiday, "value", holiday))
    return HOLIDAY_NAMES.get(english, english)


def _dates(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)
