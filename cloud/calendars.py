"""The halls' calendars (行事历, seed §3.11, §21.3.2): the year view and local exceptions.

A hall's calendar is the statutory one of the People's Republic of China (`sync/calendar.py`,
from `chinesecalendar`) with the hall's working weekdays and its local exceptions — a date made
a holiday or a working day, always with a reason and who entered it (`calendar_exceptions`).

How it reaches the edge: the edge decides its working days from its setup's HallInfo
(`working_weekdays`, `closed_dates`, `extra_working_dates`, sync/hallsetup.py), so the cloud
writes the calendar into the setup rather than sending a second document:

- storing a setup (`PUT /api/halls/{hall}/setup`, cloud/setups.py) replaces its two date lists
  by the calendar's for the 366 days from the hall's today (`calendar_dates`): the calendar is
  the one place those dates are authored;
- changing an exception stores a NEW setup version — the newest version's body with the dates
  recomputed and the version one higher — in the same transaction as the change
  (`store_recomputed_setup`), so it reaches the edge through the existing config pull
  (`GET /sync/v1/config`) as one consistent version. A hall with no setup yet gets the dates
  with its first one.

The cost of this choice: a version's dates reach 366 days ahead of when it was stored, so a
hall's setup has to be stored again within the year, and again when a newer `chinesecalendar`
brings the next year's statutory holidays (no periodic refresh does it by itself yet).

Every change is in the audit log (cloud/audit.py), which is where the calendar's rule "a
reason, always" is declared: the body's `reason`, or the `X-Change-Reason` header.

The calls take `calendar.read` / `calendar.edit` over the hall (a configured admin token is the
bootstrap superuser).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.audit import SYSTEM, Origin, record, required_reason
from cloud.calls import answer
from cloud.context import ENGINE
from cloud.db import calendar_exceptions, halls, is_postgresql
from cloud.errors import ApiError
from cloud.identity.guard import guard
from cloud.identity.principal import Principal, authorize, scope_clause
from cloud.identity.tables import org_units
from cloud.setups import lock_hall, site_calendar, store_recomputed_setup
from sync.calendar import is_covered, statutory_years

__all__ = [
    "CalendarChange",
    "calendar_halls",
    "calendar_routes",
    "put_exception",
    "remove_exception",
    "year_view",
]

log = logging.getLogger(__name__)

_RESOURCE = "calendar_exception"
_REASON_LENGTH = 200
_YEARS = (1900, 2200)


class CalendarChange(BaseModel):
    """A local exception as the admin enters it."""

    model_config = ConfigDict(extra="forbid")

    working: bool
    reason: str = ""


async def calendar_halls(
    engine: AsyncEngine, principal: Principal, permission: str = "calendar.read"
) -> list[dict[str, str]]:
    """The halls whose calendar `principal` may read (or, told, edit): with the scope `all`
    every hall, else the halls of the sites (网点) within their scope — as `guard` decides for
    one hall. 403 without the permission."""
    scope = authorize(principal, permission)
    statement = sa.select(halls.c.id, halls.c.name).order_by(halls.c.name, halls.c.id)
    if scope != "all":
        reachable = sa.select(org_units.c.hall).where(
            org_units.c.hall.is_not(None),
            scope_clause(principal, permission, department=org_units.c.id, owner=None),
        )
        statement = statement.where(halls.c.id.in_(reachable))
    async with engine.connect() as conn:
        return [{"id": r.id, "name": r.name} for r in await conn.execute(statement)]


async def year_view(engine: AsyncEngine, hall: str, year: int) -> dict[str, Any]:
    """Every date of the hall's `year`: working or not, and the holiday's name or the local
    exception's reason; `statutory` False when the statutory calendar does not cover the year
    (weekends and local exceptions only)."""
    async with engine.connect() as conn:
        if await conn.scalar(sa.select(halls.c.id).where(halls.c.id == hall)) is None:
            raise ApiError("unknown_hall", hall)
        calendar = await site_calendar(conn, hall)
    days = calendar.year_view(year)
    first, last = statutory_years()
    return {
        "hall": hall,
        "year": year,
        "statutory": is_covered(year),
        "statutory_years": [first, last],
        "working_weekdays": sorted(calendar.working_weekdays),
        "working_days": sum(1 for d in days if d.working),
        "days": [d.as_json() for d in days],
    }


async def put_exception(
    engine: AsyncEngine,
    hall: str,
    date: dt.date,
    change: CalendarChange,
    by: str,
    now_ms: int,
    origin: Origin = SYSTEM,
) -> dict[str, Any]:
    """Make `date` a working day or a holiday of the hall (replacing an exception there);
    404 for an unknown hall, 422 without a reason (the change's, else the origin's)."""
    origin = origin.with_reason(change.reason)
    reason = required_reason(_RESOURCE, origin) or ""
    if len(reason) > _REASON_LENGTH:
        raise ApiError("invalid_request", f"原因不能超过 {_REASON_LENGTH} 个字")
    row = {"working": change.working, "reason": reason, "created_by": by, "created_at": now_ms}
    async with engine.begin() as conn:
        await lock_hall(conn, hall)
        before = await _exception(conn, hall, date)
        insert = (postgresql.insert if is_postgresql(conn) else sqlite.insert)(calendar_exceptions)
        await conn.execute(
            insert.values(hall=hall, date=date, **row).on_conflict_do_update(
                index_elements=[calendar_exceptions.c.hall, calendar_exceptions.c.date], set_=row
            )
        )
        version = await store_recomputed_setup(conn, hall, now_ms)
        await record(conn, origin, action="create" if before is None else "update",
                     resource=_RESOURCE, resource_id=date.isoformat(), hall=hall, old=before,
                     new={"date": date, **row}, now_ms=now_ms)  # fmt: skip
    log.info("hall %s: %s made a %s (%s) by %s", hall, date,
             "working day" if change.working else "holiday", reason, by)  # fmt: skip
    exception = {"date": date.isoformat(), **row}
    return {"hall": hall, "exception": exception, "setup_version": version}


async def remove_exception(
    engine: AsyncEngine, hall: str, date: dt.date, by: str, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    """Drop the hall's exception at `date`: 404 when there is none, 422 without a reason."""
    required_reason(_RESOURCE, origin)
    async with engine.begin() as conn:
        await lock_hall(conn, hall)
        before = await _exception(conn, hall, date)
        if before is None:
            raise ApiError("unknown_calendar_exception", date.isoformat())
        await conn.execute(
            sa.delete(calendar_exceptions).where(
                calendar_exceptions.c.hall == hall, calendar_exceptions.c.date == date
            )
        )
        version = await store_recomputed_setup(conn, hall, now_ms)
        await record(conn, origin, action="delete", resource=_RESOURCE,
                     resource_id=date.isoformat(), hall=hall, old=before,
                     now_ms=now_ms)  # fmt: skip
    log.info("hall %s: the exception at %s removed by %s", hall, date, by)
    return {"hall": hall, "removed": date.isoformat(), "setup_version": version}


def calendar_routes(now_ms: Callable[[], int]) -> list[web.RouteDef]:
    """The calendar's admin calls: reading takes `calendar.read`, changing `calendar.edit`,
    over the hall (cloud/identity/guard.py)."""

    async def get_year(request: web.Request) -> web.Response:
        hall = request.match_info["hall"]
        await guard(request, "calendar.read", hall)
        year = _year(request.query.get("year"), now_ms())
        return answer(await year_view(request.app[ENGINE], hall, year))

    async def put_date(request: web.Request) -> web.Response:
        hall = request.match_info["hall"]
        principal, origin = await guard(request, "calendar.edit", hall)
        date = _date(request.match_info["date"])
        try:
            change = CalendarChange.model_validate_json(await request.read())
        except ValidationError as exc:
            raise ApiError("invalid_request", _problem(exc)) from None
        engine = request.app[ENGINE]
        by = principal.username
        return answer(await put_exception(engine, hall, date, change, by, now_ms(), origin))

    async def delete_date(request: web.Request) -> web.Response:
        hall = request.match_info["hall"]
        principal, origin = await guard(request, "calendar.edit", hall)
        date = _date(request.match_info["date"])
        origin = origin.with_body_reason(await request.read())
        engine = request.app[ENGINE]
        by = principal.username
        return answer(await remove_exception(engine, hall, date, by, now_ms(), origin))

    path = "/api/halls/{hall}/calendar"
    return [
        web.get(path, get_year),
        web.put(path + "/{date}", put_date),
        web.delete(path + "/{date}", delete_date),
    ]


async def _exception(conn: AsyncConnection, hall: str, date: dt.date) -> dict[str, Any] | None:
    """The hall's exception at `date` as a row's values (locked until the commit)."""
    row = (
        await conn.execute(
            sa.select(calendar_exceptions)
            .where(calendar_exceptions.c.hall == hall, calendar_exceptions.c.date == date)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    return {k: v for k, v in row._asdict().items() if k != "hall"}


def _year(text: str | None, now_ms: int) -> int:
    if text is None:
        return dt.datetime.fromtimestamp(now_ms / 1000, ZoneInfo("Asia/Shanghai")).year
    try:
        year = int(text)
    except ValueError:
        raise ApiError("invalid_request", "year 不是整数") from None
    if not _YEARS[0] <= year <= _YEARS[1]:
        raise ApiError("invalid_request", f"year 应在 {_YEARS[0]}–{_YEARS[1]} 之间")
    return year


def _date(text: str) -> dt.date:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise ApiError("invalid_request", f"日期 {text[:20]} 应为 YYYY-MM-DD 格式")


def _problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
