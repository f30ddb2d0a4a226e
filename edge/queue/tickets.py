"""Making tickets: numbers, daily counts, bookings and supplement codes, inside a transaction."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from edge.queue.alerts import check_waiting_warning
from edge.queue.errors import QueueError
from edge.queue.hall import HallIndex, LocalMoment
from edge.queue.store import Transaction
from edge.queue.views import ticket_view
from sync.hallsetup import BusinessType
from sync.idnumber import InvalidIdNumber, validate_id_number
from sync.ids import new_id
from sync.numbering import format_ticket_number

__all__ = [
    "committed",
    "count",
    "find_booking",
    "new_supplement_code",
    "new_ticket",
    "ticket_event",
    "valid_id_number",
]


def new_ticket(
    tx: Transaction,
    hall: HallIndex,
    at: LocalMoment,
    *,
    area: str,
    t: BusinessType,
    source: str,
    kind: str,
    priority: int,
    order_at: int,
    windows: list[str],
    phone: str,
    id_number: str,
    actor: str,
    booking_id: str | None = None,
    assigned_staff: str | None = None,
) -> dict[str, Any]:
    """Insert a waiting ticket with the day's next number of its prefix; log `ticket.issued`."""
    row = tx.one(
        "INSERT INTO number_sequences (day, prefix, last) VALUES (?, ?, 1) "
        "ON CONFLICT (day, prefix) DO UPDATE SET last = last + 1 RETURNING last",
        (at.day_text, t.prefix),
    )
    assert row is not None
    number = format_ticket_number(t.prefix, row[0])
    waiting = tx.one(
        "SELECT coalesce(sum(waiting), 0) FROM waiting_counts WHERE day = ? AND area = ? "
        "AND business_type = ?",
        (at.day_text, area, t.id),
    )
    ticket_id = new_id()
    tx.run(
        "INSERT INTO tickets (id, day, number, area, business_type, category, source, kind, "
        "status, priority, order_at, issued_at, waiting_at_issue, serving_windows, "
        "booking_id, assigned_staff, phone, id_number, issued_by) "
        "VALUES (?,?,?,?,?,?,?,?,'waiting',?,?,?,?,?,?,?,?,?,?)",
        (
            ticket_id,
            at.day_text,
            number,
            area,
            t.id,
            t.category,
            source,
            kind,
            priority,
            order_at,
            at.ms,
            waiting[0] if waiting else 0,
            json.dumps(windows),
            booking_id,
            assigned_staff,
            phone,
            id_number,
            actor,
        ),
    )
    count(tx, at.day_text, t.id, +1)
    inserted = tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    assert inserted is not None
    issued = ticket_view(inserted, hall)
    tx.event("ticket.issued", {"ticket": issued})  # with the serving windows, as printed
    check_waiting_warning(tx, hall, at, t.category)
    return issued


def count(tx: Transaction, day: str, type_id: str, delta: int) -> None:
    """Move the type's committed count for the day: +1 issued or transferred in, −1 abandoned
    or void. The daily cap (§4.3 item 5) is checked against it."""
    tx.run(
        "INSERT INTO daily_counts (day, business_type, committed) VALUES (?, ?, ?) "
        "ON CONFLICT (day, business_type) DO UPDATE SET committed = committed + ?",
        (day, type_id, max(delta, 0), delta),
    )


def committed(conn: sqlite3.Connection, day: str) -> dict[str, int]:
    return dict(
        conn.execute(
            "SELECT business_type, committed FROM daily_counts WHERE day = ?", (day,)
        ).fetchall()
    )


def ticket_event(tx: Transaction, hall: HallIndex, ticket_id: str) -> dict[str, Any]:
    """The ticket as an event carries it: everything but the serving windows, which only
    the issue event (and the printed ticket) needs."""
    row = tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    assert row is not None
    view = ticket_view(row, hall)
    del view["serving_windows"]
    return {"ticket": view}


def find_booking(
    tx: Transaction,
    hall: HallIndex,
    at: LocalMoment,
    area: str,
    *,
    phone: str,
    id_number: str,
    code: str,
) -> sqlite3.Row:
    """Today's booking to check in: by code, else the earliest slot by ID number or phone.

    A booking the cloud marked `no_show` is still checked in (after any still `booked`): the
    citizen came after all, or the hall's link was down; the check-in reaches the cloud and
    reverses the penalty (cloud/noshow.py)."""
    if code:
        rows = tx.all("SELECT * FROM bookings WHERE code = ?", (code.strip(),))
    elif id_number:
        rows = tx.all(
            "SELECT * FROM bookings WHERE date = ? AND id_number = ? ORDER BY slot_start",
            (at.day_text, id_number),
        )
    else:
        rows = tx.all(
            "SELECT * FROM bookings WHERE date = ? AND phone = ? ORDER BY slot_start",
            (at.day_text, phone.strip()),
        )
    rows = [
        r for r in rows if r["date"] == at.day_text and r["business_type"] in hall.area_types[area]
    ]
    checkable = (("booked", None), ("no_show", None), ("checked_in", "booking_already_checked_in"))
    for status, error in checkable:
        for r in rows:
            if r["status"] == status:
                if error:
                    raise QueueError(error)
                return r
    if rows:
        raise QueueError("booking_cancelled")
    raise QueueError("booking_not_found")


def new_supplement_code(tx: Transaction) -> str:
    """A six-digit code no open supplement uses."""
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        if tx.one("SELECT 1 FROM supplements WHERE code = ?", (code,)) is None:
            return code


def valid_id_number(value: str) -> str:
    if not value:
        return ""
    try:
        return validate_id_number(value)
    except InvalidIdNumber as exc:
        raise QueueError("invalid_id_number", str(exc)) from exc
