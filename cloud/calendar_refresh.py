"""Keeping the calendar dates in the halls' setups current as time moves on.

A stored setup version carries its hall's calendar for the 366 days from the day it was stored
(cloud/setups.py). Every day the window moves one day on, so a holiday 366 days ahead comes into
it, and a newer `chinesecalendar` may bring next year's statutory holidays. This round compares,
for each hall with a setup, the dates from the hall's today on that its newest version carries
with what the calendar says now, and stores a recomputed version (through the same
`store_recomputed_setup` a calendar change uses, with an audit row by `system`) where they
differ. Dates already past are not a difference: the edge only looks ahead.

Idempotent and safe side by side: each hall is handled under its row lock, and a second worker
finds nothing left to change.
"""

from __future__ import annotations

import asyncio
import logging
import time

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.audit import SYSTEM, record
from cloud.db import hall_setups, halls
from cloud.setups import (
    calendar_dates,
    hall_today,
    lock_hall,
    newest_setup,
    store_recomputed_setup,
)

__all__ = ["refresh_all", "refresh_hall", "run_periodically"]

log = logging.getLogger(__name__)

_TIMEZONE = "Asia/Shanghai"


async def refresh_hall(engine: AsyncEngine, hall: str, now_ms: int) -> int | None:
    """The new version stored for `hall` when its newest one's dates ahead are stale; else
    None."""
    async with engine.begin() as conn:
        await lock_hall(conn, hall)
        newest = await newest_setup(conn, hall)
        if newest is None:
            return None
        _, body = newest
        info = body.get("hall")
        if not isinstance(info, dict):
            return None
        weekdays = info.get("working_weekdays")
        if not isinstance(weekdays, list) or not all(isinstance(d, int) for d in weekdays):
            weekdays = [1, 2, 3, 4, 5]
        today = hall_today(str(info.get("timezone", _TIMEZONE)), now_ms)
        closed, extra = await calendar_dates(conn, hall, today, weekdays)
        since = today.isoformat()
        stored = (
            _ahead(info.get("closed_dates"), since),
            _ahead(info.get("extra_working_dates"), since),
        )
        if stored == ({d.isoformat() for d in closed}, {d.isoformat() for d in extra}):
            return None
        stored_version = await store_recomputed_setup(conn, hall, now_ms)
        if stored_version is not None:
            fresh = await newest_setup(conn, hall)
            await record(
                conn,
                SYSTEM,
                action="create",
                resource="hall_setup",
                resource_id=str(stored_version),
                hall=hall,
                old=body,
                new=fresh[1] if fresh is not None else None,
                now_ms=now_ms,
            )
            log.info("hall %s: calendar dates refreshed in version %s", hall, stored_version)
        return stored_version


async def refresh_all(engine: AsyncEngine, now_ms: int) -> dict[str, int]:
    """One round over every enabled hall with a setup: {hall: new version} of those refreshed."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(halls.c.id)
            .where(
                ~halls.c.disabled,
                sa.exists().where(hall_setups.c.hall == halls.c.id),
            )
            .order_by(halls.c.id)
        )
        hall_ids = [r.id for r in rows]
    refreshed: dict[str, int] = {}
    for hall in hall_ids:
        version = await refresh_hall(engine, hall, now_ms)
        if version is not None:
            refreshed[hall] = version
    return refreshed


async def run_periodically(engine: AsyncEngine, *, interval: float) -> None:
    """A worker's refresh rounds: one soon after the start, then every `interval` seconds,
    until cancelled; a round that fails is logged and the next one follows."""
    delay = min(60.0, interval)
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            await refresh_all(engine, time.time_ns() // 1_000_000)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("calendar refresh round failed: %s", exc)


def _ahead(value: object, since: str) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {d for d in value if isinstance(d, str) and d >= since}
