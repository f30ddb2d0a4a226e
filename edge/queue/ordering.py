"""Who is called next: the order of a business type's queue and of a window's queues.

Within one business type's queue (§4.1.4, §1.5):
  1. priority tickets whose priority has begun (green channel, transfer with priority, a booking
     whose slot has started), first come first served by the moment priority began;
  2. ordinary tickets, first come first served by the moment they joined the queue;
  3. booked tickets taken before their slot: they wait for the slot unless no ordinary ticket
     is waiting, and among themselves go by slot start.
A window takes from its business types in its own priority order (§4.3 item 9): the first type
with anyone waiting gives the next ticket. Before all of that, a window's staff member is given
the citizens who came back to them for 补证补件 (supplement, one-to-one).

The `priority` column holds 0 (ordinary), 1 (priority, from `order_at` on) or 2 (supplement,
only for `assigned_staff`); `order_at` is the first-come-first-served key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["ORDER_CLAUSE", "next_ticket", "waiting_list"]

ORDER_CLAUSE = (
    "CASE WHEN priority = 1 AND order_at <= :now THEN 0 "
    "WHEN priority = 0 THEN 1 ELSE 2 END, order_at, issued_at"
)

_HEAD = (
    "SELECT * FROM tickets INDEXED BY tickets_waiting "
    "WHERE status = 'waiting' AND day = :day AND area = :area AND business_type = :type "
    "AND priority = :priority AND order_at {cmp} :now ORDER BY order_at, issued_at LIMIT 1"
)
_STARTED = _HEAD.format(cmp="<=")
_EARLY = _HEAD.format(cmp=">")
_ORDINARY = _HEAD.replace("AND order_at {cmp} :now ", "")
_SUPPLEMENT = (
    "SELECT * FROM tickets WHERE status = 'waiting' AND day = :day AND assigned_staff = :staff "
    "AND priority = 2 "
    "ORDER BY order_at, issued_at LIMIT 1"
)


def next_ticket(
    conn: sqlite3.Connection,
    *,
    day: str,
    now: int,
    area: str,
    types: Sequence[str],
    staff: str | None,
) -> sqlite3.Row | None:
    """The ticket a window of `area` serving `types` (in order) calls next, or None."""
    if staff is not None:
        row: sqlite3.Row | None = conn.execute(_SUPPLEMENT, {"day": day, "staff": staff}).fetchone()
        if row is not None:
            return row
    for type_id in types:
        params = {"day": day, "area": area, "type": type_id, "now": now}
        for sql, priority in ((_STARTED, 1), (_ORDINARY, 0), (_EARLY, 1)):
            row = conn.execute(sql, {**params, "priority": priority}).fetchone()
            if row is not None:
                return row
    return None


def waiting_list(
    conn: sqlite3.Connection,
    *,
    day: str,
    now: int,
    area: str,
    types: Sequence[str],
    staff: str | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Everyone a window would call, in the order it would call them."""
    rows: list[sqlite3.Row] = []
    if staff is not None:
        rows += conn.execute(
            "SELECT * FROM tickets WHERE status = 'waiting' AND day = ? AND assigned_staff = ? "
            "AND priority = 2 "
            "ORDER BY order_at, issued_at LIMIT ?",
            (day, staff, limit),
        ).fetchall()
    for type_id in types:
        if len(rows) >= limit:
            break
        rows += conn.execute(
            "SELECT * FROM tickets WHERE status = 'waiting' AND day = :day AND area = :area "
            f"AND business_type = :type AND priority < 2 ORDER BY {ORDER_CLAUSE} LIMIT :limit",
            {"day": day, "area": area, "type": type_id, "now": now, "limit": limit - len(rows)},
        ).fetchall()
    return rows
