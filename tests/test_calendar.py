"""A site's calendar (行事历): statutory holidays, adjusted working days and local exceptions."""

from __future__ import annotations

import datetime as dt

import pytest

from sync.calendar import CalendarException, SiteCalendar, is_covered, statutory_years

D = dt.date


def test_the_2025_national_day_holiday_closes_the_hall_with_its_name() -> None:
    calendar = SiteCalendar()
    for day in range(1, 9):  # 国庆节 and 中秋节 together: 1–8 October 2025
        assert not calendar.is_working_day(D(2025, 10, day)), day
    wednesday = calendar.day(D(2025, 10, 1))
    assert (wednesday.kind, wednesday.name, wednesday.statutory) == ("holiday", "国庆节", True)
    assert calendar.is_working_day(D(2025, 10, 9))


def test_an_adjusted_sunday_is_a_working_day() -> None:
    sunday = SiteCalendar().day(D(2025, 9, 28))  # 调休上班 before National Day
    assert sunday.date.isoweekday() == 7
    assert sunday.working and sunday.kind == "adjusted_workday" and "调休" in sunday.name


def test_new_years_day_is_a_holiday() -> None:
    day = SiteCalendar().day(D(2025, 1, 1))
    assert not day.working and day.name == "元旦"


def test_a_local_exception_wins_both_ways_and_carries_its_reason() -> None:
    calendar = SiteCalendar(
        [
            CalendarException(D(2025, 3, 12), working=False, reason="系统升级停办"),
            CalendarException(D(2025, 3, 15), working=True, reason="集中办理周六加班"),
            CalendarException(D(2025, 10, 2), working=True, reason="国庆值班"),
        ]
    )
    closed = calendar.day(D(2025, 3, 12))  # a Wednesday
    assert (closed.working, closed.kind, closed.name) == (False, "local", "系统升级停办")
    assert calendar.day(D(2025, 3, 15)).working  # a Saturday
    assert calendar.is_working_day(D(2025, 10, 2))  # over a statutory holiday too


def test_a_hall_open_on_saturdays_still_closes_for_holidays() -> None:
    calendar = SiteCalendar(working_weekdays=[1, 2, 3, 4, 5, 6])
    assert calendar.is_working_day(D(2025, 3, 15))
    assert not calendar.is_working_day(D(2025, 10, 4))  # a Saturday in Golden Week


def test_a_leave_across_a_holiday_counts_only_working_days() -> None:
    calendar = SiteCalendar()
    # Monday 29 September to Friday 10 October 2025: 29, 30 Sep and 9, 10 Oct
    assert calendar.working_days_between(D(2025, 9, 29), D(2025, 10, 10)) == 4
    # with the adjusted Saturday 11 October
    assert calendar.working_days_between(D(2025, 9, 29), D(2025, 10, 11)) == 5
    assert calendar.working_days_between(D(2025, 3, 10), D(2025, 3, 14)) == 5
    assert calendar.working_days_between(D(2025, 3, 14), D(2025, 3, 10)) == 0


def test_the_next_working_day_skips_golden_week() -> None:
    calendar = SiteCalendar()
    assert calendar.next_working_day(D(2025, 9, 30)) == D(2025, 10, 9)
    assert calendar.next_working_day(D(2025, 9, 30), n=3) == D(2025, 10, 11)  # adjusted Saturday
    assert calendar.next_working_day(D(2025, 3, 14)) == D(2025, 3, 17)  # over a weekend
    with pytest.raises(ValueError):
        calendar.next_working_day(D(2025, 3, 14), n=0)


def test_a_calendar_with_no_working_day_says_so_instead_of_looping() -> None:
    beyond = D(statutory_years()[1] + 1, 1, 1)  # no adjusted working days there either
    with pytest.raises(ValueError):
        SiteCalendar(working_weekdays=[]).next_working_day(beyond)


def test_a_year_outside_the_statutory_calendar_falls_back_to_weekends_and_says_so() -> None:
    first, last = statutory_years()
    assert first <= 2025 <= last
    year = last + 5
    assert not is_covered(year)
    calendar = SiteCalendar([CalendarException(D(year, 1, 1), working=False, reason="元旦")])
    days = calendar.year_view(year)
    assert all(not d.statutory for d in days)
    assert not days[0].working and days[0].kind == "local"
    assert all(d.working == (d.date.isoweekday() <= 5) for d in days[1:])
    assert calendar.working_days_between(D(year, 1, 1), D(year, 12, 31)) == sum(
        d.working for d in days
    )


def test_the_year_view_lists_every_date_with_its_reason() -> None:
    days = SiteCalendar().year_view(2024)
    assert len(days) == 366 and days[0].date == D(2024, 1, 1)
    assert days[0].as_json() == {
        "date": "2024-01-01",
        "working": False,
        "kind": "holiday",
        "name": "元旦",
        "statutory": True,
    }
    assert {d.name for d in days if d.kind == "holiday"} >= {"春节", "国庆节", "中秋节", "清明节"}
