"""The halls' calendars in the cloud: the year view, local exceptions with their reasons, and
the dates every setup version carries to the edge."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient

from sync.calendar import CalendarException, SiteCalendar
from sync.hallsetup import HallSetup
from tests.cloud.conftest import ADMIN, register
from tests.edge.hall import small_hall

# removing an exception needs a reason too (cloud/audit.py), in the header: percent-encoded
REASONED = {**ADMIN, "X-Change-Reason": quote("恢复正常办公")}


def calendar(hall: str) -> str:
    return f"/api/halls/{hall}/calendar"


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def ahead(weekday: int, days: int = 14) -> dt.date:
    """The first date with this ISO weekday at least `days` from today in the hall."""
    day = today() + dt.timedelta(days=days)
    while day.isoweekday() != weekday:
        day += dt.timedelta(days=1)
    return day


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


async def pulled(cloud: TestClient, auth: dict[str, str], after: int = 0) -> dict[str, Any]:
    """The newest setup version the hall's edge pulls."""
    response = await cloud.get("/sync/v1/config", params={"after": after}, headers=auth)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def put_setup(cloud: TestClient, hall: str, version: int, **info: Any) -> None:
    body = small_hall(id=hall, version=version, **info).model_dump(mode="json")
    response = await cloud.put(f"/api/halls/{hall}/setup", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()


async def test_the_year_view_shows_holidays_adjusted_days_and_coverage(cloud: TestClient) -> None:
    hall, _ = await register(cloud)
    status, body = await answer(await cloud.get(calendar(hall), params={"year": "2025"},
                                                headers=ADMIN))  # fmt: skip
    assert status == 200 and body["statutory"] is True and len(body["days"]) == 365
    days = {d["date"]: d for d in body["days"]}
    assert days["2025-10-01"] == {"date": "2025-10-01", "working": False, "kind": "holiday",
                                  "name": "国庆节", "statutory": True}  # fmt: skip
    assert days["2025-09-28"]["working"] and days["2025-09-28"]["kind"] == "adjusted_workday"
    assert body["working_days"] == sum(d["working"] for d in body["days"])

    beyond = body["statutory_years"][1] + 3
    status, body = await answer(await cloud.get(calendar(hall), params={"year": str(beyond)},
                                                headers=ADMIN))  # fmt: skip
    assert status == 200 and body["statutory"] is False
    assert all(not d["statutory"] for d in body["days"])


async def test_an_exception_needs_a_reason_and_shows_in_the_year_view(cloud: TestClient) -> None:
    hall, _ = await register(cloud)
    path = f"{calendar(hall)}/2025-03-12"
    for body, expected in (
        ({"working": False}, (422, "reason_required")),
        ({"working": False, "reason": "   "}, (422, "reason_required")),
        ({"reason": "停电"}, (400, "invalid_request")),
        ({"working": False, "reason": "停电", "extra": 1}, (400, "invalid_request")),
    ):
        status, answered = await answer(await cloud.put(path, json=body, headers=ADMIN))
        assert (status, answered["error"]["code"]) == expected, body
        assert answered["error"]["message"]  # a Chinese sentence for the admin
    status, answered = await answer(
        await cloud.put(
            f"{calendar(hall)}/2025-13-01", json={"working": True, "reason": "x"}, headers=ADMIN
        )
    )
    assert status == 400 and "YYYY-MM-DD" in answered["error"]["message"]

    status, answered = await answer(
        await cloud.put(path, json={"working": False, "reason": " 系统升级停办 "}, headers=ADMIN)
    )
    assert status == 200, answered
    exception = answered["exception"]
    assert (exception["reason"], exception["working"], exception["created_by"]) == (
        "系统升级停办", False, "ops")  # fmt: skip
    assert answered["setup_version"] is None  # no setup yet: its first one gets the dates
    # entered again the other way: one exception per date, the newest wins
    saturday = f"{calendar(hall)}/2025-03-15"
    for where, working in ((path, True), (saturday, True)):
        response = await cloud.put(where, json={"working": working, "reason": "集中办理"},
                                   headers=ADMIN)  # fmt: skip
        assert response.status == 200
    view = await (await cloud.get(calendar(hall), params={"year": "2025"}, headers=ADMIN)).json()
    days = {d["date"]: d for d in view["days"]}
    assert days["2025-03-12"] == {"date": "2025-03-12", "working": True, "kind": "local",
                                  "name": "集中办理", "statutory": True}  # fmt: skip
    assert days["2025-03-15"]["working"]

    status, answered = await answer(await cloud.delete(saturday, headers=REASONED))
    assert status == 200 and answered["removed"] == "2025-03-15"
    status, answered = await answer(await cloud.delete(saturday, headers=REASONED))
    assert (status, answered["error"]["code"]) == (404, "unknown_calendar_exception")
    view = await (await cloud.get(calendar(hall), params={"year": "2025"}, headers=ADMIN)).json()
    assert {d["date"]: d for d in view["days"]}["2025-03-15"]["kind"] == "weekend"


async def test_every_setup_version_carries_the_calendar_to_the_edge(cloud: TestClient) -> None:
    hall, auth = await register(cloud)
    stray = ahead(3, days=400)  # authored by hand, beyond the calendar's year: replaced
    await put_setup(cloud, hall, 1, closed_dates=[stray])
    first = await pulled(cloud, auth)
    info = HallSetup.model_validate(first["setup"]).hall
    start = today()
    window = [start + dt.timedelta(days=i) for i in range(366)]
    statutory = SiteCalendar()
    assert stray not in info.closed_dates
    assert [d for d in window if d.isoweekday() <= 5 and not statutory.is_working_day(d)] == [
        d for d in info.closed_dates if d >= start]  # fmt: skip
    assert [d for d in window if d.isoweekday() > 5 and statutory.is_working_day(d)] == [
        d for d in info.extra_working_dates if d >= start]  # fmt: skip

    closed, opened = ahead(3), ahead(6)  # a Wednesday closed, a Saturday opened
    change = {"working": False, "reason": "系统升级停办"}
    response = await cloud.put(f"{calendar(hall)}/{closed}", json=change, headers=ADMIN)
    assert (await response.json())["setup_version"] == 2
    second = await pulled(cloud, auth, after=1)
    assert second["version"] == 2
    setup = HallSetup.model_validate(second["setup"])  # a version the edge applies
    assert setup.version == 2 and closed in setup.hall.closed_dates
    assert setup.hall.name == small_hall(id=hall).hall.name  # derived from the newest version
    assert not setup.hall.is_working_day(closed)

    change = {"working": True, "reason": "周六集中办理"}
    assert (await cloud.put(f"{calendar(hall)}/{opened}", json=change, headers=ADMIN)).status == 200
    third = HallSetup.model_validate((await pulled(cloud, auth, after=2))["setup"])
    assert third.version == 3 and third.hall.is_working_day(opened)
    assert opened in third.hall.extra_working_dates and closed in third.hall.closed_dates

    assert (await cloud.delete(f"{calendar(hall)}/{closed}", headers=REASONED)).status == 200
    fourth = HallSetup.model_validate((await pulled(cloud, auth, after=3))["setup"])
    assert fourth.version == 4 and fourth.hall.is_working_day(closed)

    # a hall open on Saturdays: a holiday's Saturday is closed, ordinary Saturdays are not extra
    await put_setup(cloud, hall, 5, working_weekdays=[1, 2, 3, 4, 5, 6])
    fifth = HallSetup.model_validate((await pulled(cloud, auth, after=4))["setup"])
    assert opened not in fifth.hall.extra_working_dates and fifth.hall.is_working_day(opened)
    exceptions = [CalendarException(opened, True, "周六集中办理")]
    saturdays = SiteCalendar(exceptions, working_weekdays=[1, 2, 3, 4, 5, 6])
    assert all(fifth.hall.is_working_day(d) == saturdays.is_working_day(d) for d in window)


async def test_an_unknown_hall_is_404_and_a_caller_without_the_admin_token_401(
    cloud: TestClient,
) -> None:
    hall, auth = await register(cloud)
    change = {"working": False, "reason": "停电"}
    for method, path in (
        ("GET", calendar("no-such-hall")),
        ("PUT", f"{calendar('no-such-hall')}/2025-03-12"),
        ("DELETE", f"{calendar('no-such-hall')}/2025-03-12"),
    ):
        status, body = await answer(await cloud.request(method, path, json=change, headers=ADMIN))
        assert (status, body["error"]["code"]) == (404, "unknown_hall"), method
    for headers in ({}, auth, {"Authorization": "Bearer not-the-token"}):
        for method, path in (
            ("GET", calendar(hall)),
            ("PUT", f"{calendar(hall)}/2025-03-12"),
            ("DELETE", f"{calendar(hall)}/2025-03-12"),
        ):
            response = await cloud.request(method, path, json=change, headers=headers)
            status, body = await answer(response)
            assert (status, body["error"]["code"]) == (401, "unauthorized"), (method, headers)
