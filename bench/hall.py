"""The benchmark hall: 100 windows in one calling area, and past days of tickets for it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher

from sync.hallsetup import (
    BusinessCategory,
    BusinessType,
    CallingArea,
    HallInfo,
    HallSetup,
    StaffMember,
    TimeRange,
    Window,
)
from sync.ids import new_id
from sync.numbering import format_ticket_number

__all__ = [
    "AREA",
    "PASSWORD",
    "TYPES",
    "TYPES_PER_WINDOW",
    "WINDOWS",
    "BenchHall",
    "build_hall",
    "noon_timezone",
    "seed_history",
]

AREA = "hall"
WINDOWS = 100
TYPES = 10
TYPES_PER_WINDOW = TYPES  # 综合窗口: every window serves every type, each in its own order
CATEGORIES = ("commerce", "social", "life")
PASSWORD = "bench-pass-2024"


@dataclass(frozen=True)
class BenchHall:
    """The benchmark hall's configuration and the tokens of its kiosk and administrator."""

    setup: HallSetup
    kiosk_token: str
    admin_token: str

    @property
    def windows(self) -> list[str]:
        return [w.id for w in self.setup.windows]

    @property
    def types(self) -> list[str]:
        return [t.id for t in self.setup.business_types]

    def staff_of(self, window: str) -> StaffMember:
        """Staff member n works at window n."""
        return self.setup.staff[self.windows.index(window)]


def noon_timezone(now: dt.datetime | None = None) -> str:
    """A zone where it is about noon now, so that no run crosses the hall's midnight.

    The hall is open 00:00–23:59 and tickets belong to their business day: a run that crossed
    midnight would see yesterday's queue expire under it.
    """
    east = 12 - (now or dt.datetime.now(dt.UTC)).hour  # hours east of UTC, -11..12
    return "Etc/UTC" if east == 0 else f"Etc/GMT{-east:+d}"  # POSIX sign: Etc/GMT-8 is UTC+8


def build_hall() -> BenchHall:
    """100 windows in one area serving all 10 business types, 100 staff, open all day."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8192)
    types = [
        BusinessType(
            id=f"type-{i}",
            category=CATEGORIES[i % len(CATEGORIES)],
            name=f"业务{i}",
            pinyin=f"yw{i}",  # the cloud fills the initials in when it authors a type
            prefix=chr(ord("A") + i),
            duration_warning_seconds=1800,
        )
        for i in range(TYPES)
    ]
    windows = [
        Window(
            id=f"w{n:03d}",
            area=AREA,
            number=str(n),
            name=f"{n}号窗口",
            business_types=[types[(n + k) % TYPES].id for k in range(TYPES_PER_WINDOW)],
        )
        for n in range(1, WINDOWS + 1)
    ]
    staff = [
        StaffMember(
            id=f"s{n:03d}",
            staff_no=str(1000 + n),
            name=f"员工{n}",
            password_hash=hasher.hash(PASSWORD),
        )
        for n in range(1, WINDOWS + 1)
    ]
    setup = HallSetup(
        version=1,
        hall=HallInfo(
            id="bench-hall",
            name="基准测试大厅",
            timezone=noon_timezone(),
            hours=[TimeRange(start=dt.time(0, 0), end=dt.time(23, 59))],
            working_weekdays=[1, 2, 3, 4, 5, 6, 7],
        ),
        areas=[CallingArea(id=AREA, name="大厅")],
        categories=[BusinessCategory(id=c, name=c, waiting_warning=200) for c in CATEGORIES],
        business_types=types,
        windows=windows,
        staff=staff,
    )
    return BenchHall(setup, secrets.token_urlsafe(24), secrets.token_urlsafe(24))


def seed_history(database: Path, hall: BenchHall, days: int, per_day: int) -> None:
    """Add `days` past business days of finished tickets, as a node a month in service holds.

    Written straight into the node's database (its own connection, while the node is idle):
    tickets and their calls, 08:00 onwards in the hall's time, spread over every window.
    Past events are left out: nothing on the request path reads old events.
    """
    tz = ZoneInfo(hall.setup.hall.timezone)
    today = dt.datetime.now(tz).date()
    serving = json.dumps([w.number for w in hall.setup.windows])
    types = hall.setup.business_types
    tickets: list[tuple[Any, ...]] = []
    calls: list[tuple[Any, ...]] = []
    for back in range(1, days + 1):
        day = today - dt.timedelta(days=back)
        opening = int(dt.datetime.combine(day, dt.time(8), tz).timestamp() * 1000)
        for n in range(per_day):
            t = types[n % len(types)]
            window = hall.setup.windows[n % len(hall.setup.windows)]
            staff = hall.staff_of(window.id).id
            issued = opening + n * 10_000
            called = issued + 60_000
            ticket_id = new_id()
            number = format_ticket_number(t.prefix, n // len(types) + 1)
            tickets.append(
                (
                    *(ticket_id, day.isoformat(), number, AREA, t.id, t.category, issued, issued),
                    *(serving, window.id, staff, called, called + 300_000),
                )
            )
            calls.append((ticket_id, window.id, staff, day.isoformat(), called))
    with contextlib.closing(sqlite3.connect(database, timeout=60)) as conn, conn:
        conn.executemany(
            "INSERT INTO tickets (id, day, number, area, business_type, category, source, kind, "
            "status, priority, order_at, issued_at, waiting_at_issue, serving_windows, "
            "issued_by, window, staff, called_at, call_count, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'kiosk', 'normal', 'finished', 0, ?, ?, 0, ?, "
            "'kiosk:kiosk-1', ?, ?, ?, 1, ?)",
            tickets,
        )
        conn.executemany(
            "INSERT INTO calls (ticket_id, window, staff, day, at) VALUES (?, ?, ?, ?, ?)", calls
        )
    with contextlib.closing(sqlite3.connect(database, timeout=60)) as conn:
        # move the history out of the WAL now, or the node's next commit would do it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
