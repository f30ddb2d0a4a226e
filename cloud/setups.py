"""The halls' configuration versions: stored as the admin authors them, pulled by the edges.

Every stored version carries the hall's calendar (行事历, cloud/calendars.py) as its
`closed_dates` and `extra_working_dates` for the 366 days from the hall's today: what the admin
wrote there is replaced by what the calendar says (`calendar_dates`), and a calendar change
stores a new version with the dates recomputed (`store_recomputed_setup`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.audit import SYSTEM, Origin, record
from cloud.db import calendar_exceptions, hall_setups, halls
from cloud.errors import ApiError
from sync.calendar import CalendarException, SiteCalendar
from sync.hallsetup import HallSetup

__all__ = [
    "CALENDAR_DAYS",
    "calendar_dates",
    "hall_today",
    "lock_hall",
    "newest_setup",
    "parse_setup",
    "site_calendar",
    "store_recomputed_setup",
    "store_setup",
]

log = logging.getLogger(__name__)

_SHOWN_PROBLEMS = 20
_WEEKDAYS = [1, 2, 3, 4, 5]
_TIMEZONE = "Asia/Shanghai"

# how far ahead a stored version carries the hall's calendar
CALENDAR_DAYS = 366


def parse_setup(hall: str, raw: bytes) -> HallSetup:
    """The request body as a HallSetup of `hall`; else 422 `invalid_setup` listing why."""
    try:
        setup = HallSetup.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors()[:_SHOWN_PROBLEMS]
        ]
        detail = "；".join(f"{p['where']}: {p['problem']}" if p["where"] else p["problem"]
                          for p in problems[:3])  # fmt: skip
        raise ApiError("invalid_setup", detail, problems=problems) from None
    if setup.hall.id != hall:
        detail = f"配置属于大厅 {setup.hall.id}，不是 {hall}"
        raise ApiError("invalid_setup", detail, problems=[{"where": "hall.id", "problem": detail}])
    return setup


async def store_setup(
    engine: AsyncEngine, hall: str, raw: bytes, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    """Store the version in `raw`: 404 for an unknown hall, 422 for a setup that is not valid
    (`parse_setup`), 409 unless it is newer than the newest stored. Its audit row holds the
    top-level sections that differ from the newest version before it."""
    async with engine.begin() as conn:
        await lock_hall(conn, hall)
        setup = parse_setup(hall, raw)
        previous = await newest_setup(conn, hall)
        newest = previous[0] if previous is not None else None
        if newest is not None and setup.version <= newest:
            raise ApiError("stale_setup", f"云端最新版本为 {newest}，提交的是 {setup.version}",
                           newest=int(newest))  # fmt: skip
        today = hall_today(setup.hall.timezone, now_ms)
        closed, extra = await calendar_dates(conn, hall, today, setup.hall.working_weekdays)
        dates = {"closed_dates": closed, "extra_working_dates": extra}
        setup = setup.model_copy(update={"hall": setup.hall.model_copy(update=dates)})
        body = json.loads(setup.model_dump_json())
        await conn.execute(
            sa.insert(hall_setups).values(
                hall=hall, version=setup.version, body=body, created_at=now_ms
            )
        )
        await record(conn, origin, action="create", resource="hall_setup",
                     resource_id=str(setup.version), hall=hall,
                     old=previous[1] if previous is not None else None, new=body,
                     now_ms=now_ms)  # fmt: skip
    log.info("hall %s: configuration version %s stored", hall, setup.version)
    return {"hall": hall, "version": setup.version, "created_at": now_ms}


async def newest_setup(
    conn: AsyncConnection, hall: str, after: int = 0
) -> tuple[int, dict[str, Any]] | None:
    """(version, body) of the hall's newest version when it is newer than `after`."""
    row = (
        await conn.execute(
            sa.select(hall_setups.c.version, hall_setups.c.body)
            .where(hall_setups.c.hall == hall, hall_setups.c.version > after)
            .order_by(hall_setups.c.version.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (int(row.version), dict(row.body))


async def lock_hall(conn: AsyncConnection, hall: str) -> None:
    """Hold the hall's row until the commit (FOR NO KEY UPDATE); 404 when there is none."""
    found = await conn.scalar(
        sa.select(halls.c.id).where(halls.c.id == hall).with_for_update(key_share=True)
    )
    if found is None:
        raise ApiError("unknown_hall", hall)


async def store_recomputed_setup(conn: AsyncConnection, hall: str, now_ms: int) -> int | None:
    """After a calendar change: the newest version's body as stored, with its calendar dates
    recomputed, as the next version (its number); None while the hall has no setup (its first
    one gets the dates). The caller holds the hall's lock (`lock_hall`)."""
    newest = await newest_setup(conn, hall)
    if newest is None:
        return None
    version, body = newest
    info = body.get("hall")
    if not isinstance(info, dict):  # a body the edge refuses anyway: leave it to the admin
        log.warning("hall %s: setup version %s has no hall section", hall, version)
        return None
    weekdays = _weekdays(info.get("working_weekdays", _WEEKDAYS))
    today = hall_today(str(info.get("timezone", _TIMEZONE)), now_ms)
    closed, extra = await calendar_dates(conn, hall, today, weekdays)
    info = {
        **info,
        "closed_dates": [d.isoformat() for d in closed],
        "extra_working_dates": [d.isoformat() for d in extra],
    }
    body = {**body, "version": version + 1, "hall": info}
    await conn.execute(
        sa.insert(hall_setups).values(hall=hall, version=version + 1, body=body, created_at=now_ms)
    )
    log.info("hall %s: configuration version %s stored with its calendar", hall, version + 1)
    return version + 1


async def site_calendar(
    conn: AsyncConnection, hall: str, working_weekdays: Iterable[int] | None = None
) -> SiteCalendar:
    """The hall's calendar: the statutory one, its local exceptions, and its working weekdays
    (by default those of its newest setup, Monday to Friday without one)."""
    rows = await conn.execute(
        sa.select(
            calendar_exceptions.c.date, calendar_exceptions.c.working, calendar_exceptions.c.reason
        ).where(calendar_exceptions.c.hall == hall)
    )
    exceptions = [CalendarException(r.date, r.working, r.reason) for r in rows]
    if working_weekdays is None:
        newest = await newest_setup(conn, hall)
        info = newest[1].get("hall") if newest is not None else None
        working_weekdays = _weekdays(
            info.get("working_weekdays", _WEEKDAYS) if isinstance(info, dict) else _WEEKDAYS
        )
    return SiteCalendar(exceptions, working_weekdays=working_weekdays)


async def calendar_dates(
    conn: AsyncConnection, hall: str, from_date: dt.date, working_weekdays: Iterable[int]
) -> tuple[list[dt.date], list[dt.date]]:
    """(closed_dates, extra_working_dates) of a setup with these working weekdays for the
    `CALENDAR_DAYS` from `from_date`: the days the calendar closes although their weekday
    works, and the days it opens although their weekday rests."""
    calendar = await site_calendar(conn, hall, working_weekdays)
    closed: list[dt.date] = []
    extra: list[dt.date] = []
    for offset in range(CALENDAR_DAYS):
        day = from_date + dt.timedelta(days=offset)
        regular = day.isoweekday() in calendar.working_weekdays
        working = calendar.is_working_day(day)
        if regular and not working:
            closed.append(day)
        elif working and not regular:
            extra.append(day)
    return closed, extra


def hall_today(timezone: str, now_ms: int) -> dt.date:
    """The date in the hall at `now_ms`; in Asia/Shanghai when its time zone is unknown (the
    edge refuses such a setup and reports it)."""
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo(_TIMEZONE)
    return dt.datetime.fromtimestamp(now_ms / 1000, zone).date()


def _weekdays(value: Any) -> list[int]:
    if isinstance(value, list) and all(isinstance(d, int) for d in value):
        return value
    return list(_WEEKDAYS)
