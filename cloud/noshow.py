"""No-shows: the bookings nobody checked in, once the hall has synced past their slot.

A booking still `booked` becomes `no_show`, with a penalty for the citizen, when its slot's end
(its date and `slot_end` in the hall's time zone, from the hall's newest setup) plus the grace
period (`[bookings] no_show_grace_minutes`) lies before the hall's synced-through mark: the
moment of the hall's clock up to which the cloud holds everything the hall committed (its
heartbeat, cloud/ingest.py). Never the cloud's clock: a hall whose link is down may well have
checked the citizen in, and until its events arrive its mark stays behind, so its slots wait.
A check-in that arrives after all (the citizen came late, or the link was down for longer than
the grace period) makes the booking `checked_in` and reverses the penalty in the same commit
(`reverse_penalties`, called by the ingest): nobody is punished for a network fault.

Each no-show takes the hall's next booking change number, so the edge learns the status in
its next bookings pull; the edge still checks in a `no_show` booking when the citizen comes
after all. Several workers may run this at once: per hall, a worker takes the hall's booking
counter (`FOR UPDATE`) before it reads the bookings again and marks them — the lock a
check-in takes before it changes a booking, so a check-in and a no-show of the same booking
commit one after the other — and, on PostgreSQL, leaves a hall another worker is already at
(`pg_try_advisory_xact_lock`). SQLite has one writer anyway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from ulid import ULID

from cloud.bookings import hall_zone
from cloud.db import bookings, hall_counters, halls, is_postgresql, next_change, penalties
from cloud.errors import ApiError
from cloud.setups import newest_setup

__all__ = [
    "NO_SHOW_REASON",
    "REVERSED_REASON",
    "NoShow",
    "list_penalties",
    "mark_no_shows",
    "reverse_penalties",
    "run_periodically",
]

log = logging.getLogger(__name__)

NO_SHOW_REASON = "no-show"
REVERSED_REASON = "late check-in synced"
_LOCK_SPACE = 7206854  # pg_try_advisory_xact_lock(_LOCK_SPACE, hashtext(hall))


@dataclass(frozen=True)
class NoShow:
    """A booking marked no-show, and its penalty."""

    hall: str
    booking: str
    code: str
    date: dt.date
    slot_end: dt.time
    penalty: str

    def as_json(self) -> dict[str, Any]:
        return {
            "hall": self.hall,
            "booking": self.booking,
            "code": self.code,
            "date": self.date.isoformat(),
            "slot_end": self.slot_end.isoformat("minutes"),
            "penalty": self.penalty,
        }


async def mark_no_shows(engine: AsyncEngine, *, grace_minutes: int, now_ms: int) -> list[NoShow]:
    """One round over every hall with a synced-through mark; what this round marked (one
    transaction per hall: a hall that fails does not hold up the others' no-shows)."""
    async with engine.connect() as conn:
        synced = (
            await conn.execute(
                sa.select(halls.c.id, halls.c.synced_through_ms)
                .where(halls.c.synced_through_ms.is_not(None))
                .order_by(halls.c.id)
            )
        ).all()
    marked: list[NoShow] = []
    for hall, through in synced:
        async with engine.begin() as conn:
            marked += await _mark_hall(conn, hall, int(through) - grace_minutes * 60_000, now_ms)
    if marked:
        log.info("%d bookings marked no-show", len(marked))
    return marked


async def reverse_penalties(
    conn: AsyncConnection, hall: str, booking_ids: list[str], now_ms: int
) -> int:
    """Reverse the standing penalties of the bookings a late check-in arrived for; how many."""
    if not booking_ids:
        return 0
    result = await conn.execute(
        sa.update(penalties)
        .where(
            penalties.c.hall == hall,
            penalties.c.booking.in_(sorted(set(booking_ids))),
            penalties.c.reversed_at.is_(None),
        )
        .values(reversed_at=now_ms, reversed_reason=REVERSED_REASON)
    )
    if result.rowcount:
        log.info("hall %s: %d no-show penalties reversed by late check-ins", hall, result.rowcount)
    return int(result.rowcount or 0)


async def list_penalties(engine: AsyncEngine, hall: str) -> list[dict[str, Any]]:
    """The hall's penalties, newest first, each with its booking and whether it stands."""
    async with engine.connect() as conn:
        if await conn.scalar(sa.select(halls.c.id).where(halls.c.id == hall)) is None:
            raise ApiError("unknown_hall", hall)
        rows = (
            await conn.execute(
                sa.select(
                    penalties,
                    bookings.c.code,
                    bookings.c.date,
                    bookings.c.slot_start,
                    bookings.c.slot_end,
                    bookings.c.status,
                )
                .select_from(
                    penalties.outerjoin(
                        bookings,
                        sa.and_(
                            bookings.c.hall == penalties.c.hall,
                            bookings.c.id == penalties.c.booking,
                        ),
                    )
                )
                .where(penalties.c.hall == hall)
                .order_by(penalties.c.created_at.desc(), penalties.c.id)
            )
        ).all()
    return [
        {
            "id": r.id,
            "booking": {
                "id": r.booking,
                "code": r.code,
                "date": r.date.isoformat() if r.date else None,
                "slot_start": r.slot_start.isoformat("minutes") if r.slot_start else None,
                "slot_end": r.slot_end.isoformat("minutes") if r.slot_end else None,
                "status": r.status,
            },
            "phone": r.phone,
            "id_number": r.id_number,
            "reason": r.reason,
            "created_at": r.created_at,
            "state": "reversed" if r.reversed_at is not None else "standing",
            "reversed_at": r.reversed_at,
            "reversed_reason": r.reversed_reason,
        }
        for r in rows
    ]


async def run_periodically(engine: AsyncEngine, *, grace_minutes: int, interval: float) -> None:
    """A worker's no-show rounds, every `interval` seconds until cancelled; a round that fails
    (the database is away) is logged and the next one follows."""
    while True:
        await asyncio.sleep(interval)
        try:
            await mark_no_shows(engine, grace_minutes=grace_minutes, now_ms=_now_ms())
        except (SQLAlchemyError, OSError) as exc:
            log.warning("no-show round failed: %s", exc)


# ---------------------------------------------------------------------------- helpers


async def _mark_hall(conn: AsyncConnection, hall: str, cutoff_ms: int, now_ms: int) -> list[NoShow]:
    """Mark the hall's bookings whose slot ended before `cutoff_ms` (the hall's clock)."""
    newest = await newest_setup(conn, hall)
    zone = hall_zone(newest[1] if newest else None)
    cutoff = dt.datetime.fromtimestamp(cutoff_ms / 1000, zone)
    day, until = cutoff.date(), cutoff.time()
    due = sa.and_(
        bookings.c.hall == hall,
        bookings.c.status == "booked",
        sa.or_(bookings.c.date < day, sa.and_(bookings.c.date == day, bookings.c.slot_end < until)),
    )
    if await conn.scalar(sa.select(bookings.c.id).where(due).limit(1)) is None:
        return []  # the common case: nothing to do, nothing locked
    if is_postgresql(conn):
        mine = await conn.scalar(
            sa.select(sa.func.pg_try_advisory_xact_lock(_LOCK_SPACE, sa.func.hashtext(hall)))
        )
        if not mine:
            return []  # another worker is marking this hall now
    # the check-ins' lock: from here on, what is still `booked` stays so until our commit
    await conn.execute(
        sa.select(hall_counters.c.booking_seq).where(hall_counters.c.hall == hall).with_for_update()
    )
    rows = (
        await conn.execute(
            sa.select(bookings)
            .where(due)
            .order_by(bookings.c.date, bookings.c.slot_end, bookings.c.id)
        )
    ).all()
    marked: list[NoShow] = []
    for row in rows:
        await conn.execute(
            sa.update(bookings)
            .where(bookings.c.hall == hall, bookings.c.id == row.id)
            .values(status="no_show", change_seq=await next_change(conn, hall), updated_at=now_ms)
        )
        marked.append(NoShow(hall, row.id, row.code, row.date, row.slot_end, str(ULID())))
    if rows:
        await conn.execute(
            sa.insert(penalties),
            [
                {"id": m.penalty, "hall": hall, "booking": r.id, "phone": r.phone,
                 "id_number": r.id_number, "reason": NO_SHOW_REASON, "created_at": now_ms}
                for m, r in zip(marked, rows, strict=True)
            ],
        )  # fmt: skip
    return marked


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
