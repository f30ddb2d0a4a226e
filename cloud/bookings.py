"""The halls' bookings: written by the admin API, checked in by the halls' events, pulled by
the edges page by page after a cursor (sync/protocol.py, cloud → edge).

Every change of a booking takes the hall's next change number (`cloud.db.next_change`), which
holds the hall's counter until the commit: a hall's changes commit in the order of their
numbers, so a reader that has seen number n has seen every change before it. The cursor of a
pull is `<through>.<horizon>`: the edge holds every booking dated up to `horizon` as of change
`through`, and every booking dated today or later that changed up to `through`. A pull sends
what changed after `through` (any date from today on: a booking moved beyond the window is
sent too, so the edge's copy does not keep its old date) and, when the window has moved on to
new days since `horizon`, the bookings of those days. A pass of several pages carries its
position and target in the cursor as well (`<through>.<horizon>.<position>.<target>`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from ulid import ULID

from cloud.audit import SYSTEM, Origin, record
from cloud.db import bookings, hall_counters, next_change
from cloud.errors import ApiError
from cloud.setups import lock_hall, newest_setup
from sync.bookingtoken import sign_booking
from sync.hallsetup import Booking
from sync.protocol import BookingPage, SyncedBooking

__all__ = [
    "BookingRequest",
    "booking_page",
    "hall_zone",
    "parse_booking",
    "record_check_ins",
    "save_booking",
]

_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the kiosk
_DEFAULT_ZONE = "Asia/Shanghai"


class BookingRequest(BaseModel):
    """A booking as the admin API takes it; `id` and `code` are made up when absent."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=_ID)
    code: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]{4,32}$", description="what the kiosk's scanner reads"
    )
    name: str = Field("", max_length=100)
    phone: str = Field("", max_length=32)
    id_number: str = Field("", max_length=32)
    business_type: str = Field(pattern=_ID)
    date: dt.date
    slot_start: dt.time
    slot_end: dt.time
    status: Literal["booked", "cancelled"] = "booked"

    @model_validator(mode="after")
    def _slot(self) -> Self:
        if self.slot_start >= self.slot_end:
            raise ValueError("the slot ends before it starts")
        return self


def parse_booking(raw: bytes) -> BookingRequest:
    try:
        return BookingRequest.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        detail = "；".join(f"{p['where']}: {p['problem']}" if p["where"] else p["problem"]
                          for p in problems[:3])  # fmt: skip
        raise ApiError("invalid_booking", detail, problems=problems) from None


async def save_booking(
    engine: AsyncEngine,
    hall: str,
    request: BookingRequest,
    key: Ed25519PrivateKey,
    now_ms: int,
    origin: Origin = SYSTEM,
) -> tuple[dict[str, Any], bool]:
    """Create or change a booking; (its view with the signed `token`, whether it is new). Its
    audit row holds the booking's columns (never the token)."""
    async with engine.begin() as conn:
        await lock_hall(conn, hall)
        newest = await newest_setup(conn, hall)
        if newest is not None:
            types = {t["id"] for t in newest[1].get("business_types", [])}
            if request.business_type not in types:
                detail = f"业务类型 {request.business_type} 不在大厅配置中"
                raise ApiError("invalid_booking", detail)
        change = await next_change(conn, hall)  # from here on, the hall's bookings are ours
        booking_id = request.id or str(ULID())
        existing = (
            await conn.execute(
                sa.select(bookings).where(bookings.c.hall == hall, bookings.c.id == booking_id)
            )
        ).first()
        if existing is not None and existing.status == "checked_in":
            raise ApiError("booking_checked_in", booking_id)
        if existing is not None and existing.status == "no_show":  # history, with its penalty
            raise ApiError("booking_no_show", booking_id)
        code = request.code or (existing.code if existing is not None else None)
        code = code or await _new_code(conn, hall)
        holder = await conn.scalar(
            sa.select(bookings.c.id).where(bookings.c.hall == hall, bookings.c.code == code)
        )
        if holder is not None and holder != booking_id:
            raise ApiError("booking_code_taken", code)
        values = {
            "code": code,
            "name": request.name,
            "phone": request.phone,
            "id_number": request.id_number,
            "business_type": request.business_type,
            "date": request.date,
            "slot_start": request.slot_start,
            "slot_end": request.slot_end,
            "status": request.status,
            "change_seq": change,
            "updated_at": now_ms,
        }
        if existing is None:
            await conn.execute(sa.insert(bookings).values(hall=hall, id=booking_id, **values))
        else:
            await conn.execute(
                sa.update(bookings)
                .where(bookings.c.hall == hall, bookings.c.id == booking_id)
                .values(values)
            )
        row = (
            await conn.execute(
                sa.select(bookings).where(bookings.c.hall == hall, bookings.c.id == booking_id)
            )
        ).one()
        await record(conn, origin, action="create" if existing is None else "update",
                     resource="booking", resource_id=booking_id, hall=hall,
                     old=existing._asdict() if existing is not None else None,
                     new=row._asdict(), now_ms=now_ms)  # fmt: skip
    synced = _synced(hall, row, key)
    return {**synced.model_dump(mode="json"), "change_seq": change}, existing is None


async def booking_page(
    engine: AsyncEngine,
    hall: str,
    cursor: str | None,
    key: Ed25519PrivateKey,
    *,
    window_days: int,
    limit: int,
    now: dt.datetime,
) -> BookingPage:
    """The page after `cursor` (a snapshot without one); 400 for a cursor that is not ours."""
    async with engine.connect() as conn:
        newest = await newest_setup(conn, hall)
        today = now.astimezone(hall_zone(newest[1] if newest else None)).date()
        window_end = today + dt.timedelta(days=window_days - 1)
        if cursor is None:
            counter = await conn.scalar(
                sa.select(hall_counters.c.booking_seq).where(hall_counters.c.hall == hall)
            )
            state = _Pass(int(counter or 0), today - dt.timedelta(days=1), 0, window_end)
        else:
            state = _Pass.starting(_Cursor.parse(cursor), window_end)
        query = (
            sa.select(bookings)
            .where(
                bookings.c.hall == hall,
                bookings.c.change_seq > state.position,
                bookings.c.date >= today,
                sa.or_(
                    bookings.c.change_seq > state.through,
                    sa.and_(bookings.c.date > state.horizon, bookings.c.date <= state.target),
                ),
            )
            .order_by(bookings.c.change_seq)
            .limit(limit + 1)
        )
        rows = (await conn.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    position = int(rows[-1].change_seq) if rows else state.position
    if more:
        next_cursor = _Cursor(state.through, state.horizon, position, state.target)
    else:
        next_cursor = _Cursor(max(state.through, position), max(state.horizon, state.target))
    return BookingPage(
        bookings=[_synced(hall, row, key) for row in rows],
        cursor=next_cursor.text(),
        more=more,
    )


async def record_check_ins(
    conn: AsyncConnection, hall: str, booking_ids: list[str], now_ms: int
) -> int:
    """Mark the hall's bookings checked in (their check-in events arrived); how many changed.
    A `no_show` booking becomes `checked_in` too: the citizen came late, or the hall's link was
    down (its penalty is reversed by the caller, cloud/noshow.py)."""
    if not booking_ids:
        return 0
    pending = (
        await conn.execute(
            sa.select(bookings.c.id)
            .where(
                bookings.c.hall == hall,
                bookings.c.id.in_(sorted(set(booking_ids))),
                bookings.c.status != "checked_in",
            )
            .order_by(bookings.c.id)
        )
    ).all()
    for (booking_id,) in pending:
        await conn.execute(
            sa.update(bookings)
            .where(bookings.c.hall == hall, bookings.c.id == booking_id)
            .values(
                status="checked_in",
                change_seq=await next_change(conn, hall),
                updated_at=now_ms,
            )
        )
    return len(pending)


# ---------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Cursor:
    through: int
    horizon: dt.date
    position: int | None = None  # within a pass of several pages
    target: dt.date | None = None

    def text(self) -> str:
        parts = [str(self.through), self.horizon.isoformat()]
        if self.position is not None and self.target is not None:
            parts += [str(self.position), self.target.isoformat()]
        return ".".join(parts)

    @classmethod
    def parse(cls, text: str) -> _Cursor:
        parts = text.split(".")
        try:
            if len(parts) == 2:
                cursor = cls(int(parts[0]), dt.date.fromisoformat(parts[1]))
            elif len(parts) == 4:
                cursor = cls(
                    int(parts[0]),
                    dt.date.fromisoformat(parts[1]),
                    int(parts[2]),
                    dt.date.fromisoformat(parts[3]),
                )
            else:
                raise ValueError(text)
        except ValueError:
            raise ApiError("invalid_request", "游标无效") from None
        numbers = [cursor.through, cursor.position or 0]
        if any(not 0 <= n < 2**63 for n in numbers):
            raise ApiError("invalid_request", "游标无效")
        return cursor


@dataclass(frozen=True)
class _Pass:
    through: int
    horizon: dt.date
    position: int
    target: dt.date

    @classmethod
    def starting(cls, cursor: _Cursor, window_end: dt.date) -> _Pass:
        if cursor.position is not None and cursor.target is not None:
            return cls(cursor.through, cursor.horizon, cursor.position, cursor.target)
        if window_end > cursor.horizon:  # new days entered the window: send them whole
            return cls(cursor.through, cursor.horizon, 0, window_end)
        return cls(cursor.through, cursor.horizon, cursor.through, cursor.horizon)


def _synced(hall: str, row: sa.Row[Any], key: Ed25519PrivateKey) -> SyncedBooking:
    booking = Booking(
        id=row.id,
        code=row.code,
        name=row.name,
        phone=row.phone,
        id_number=row.id_number,
        business_type=row.business_type,
        date=row.date,
        slot_start=row.slot_start,
        slot_end=row.slot_end,
        status=row.status,
    )
    return SyncedBooking(**booking.model_dump(), token=sign_booking(hall, booking, key))


def hall_zone(setup: dict[str, Any] | None) -> ZoneInfo:
    """The time zone of a hall setup's body (Asia/Shanghai when it names none, or none known)."""
    name = (setup or {}).get("hall", {}).get("timezone") or _DEFAULT_ZONE
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo(_DEFAULT_ZONE)


async def _new_code(conn: AsyncConnection, hall: str) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_LETTERS) for _ in range(8))
        taken = await conn.scalar(
            sa.select(bookings.c.id).where(bookings.c.hall == hall, bookings.c.code == code)
        )
        if taken is None:
            return code
