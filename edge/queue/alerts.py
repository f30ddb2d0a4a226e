"""Service warnings (§4.3 items 6–7), the end of a ticket's day (§4.1.3) and old days forgotten."""

from __future__ import annotations

import datetime as dt

from edge.queue.hall import HallIndex, LocalMoment
from edge.queue.store import Transaction
from edge.queue.views import ticket_view

__all__ = ["check_waiting_warning", "duration_warnings", "expire_old_days", "prune_history"]


def check_waiting_warning(tx: Transaction, hall: HallIndex, at: LocalMoment, category: str) -> None:
    """Raise or clear a category's waiting warning when its count crosses the threshold."""
    threshold = hall.categories[category].waiting_warning if category in hall.categories else None
    if threshold is None:
        return
    row = tx.one(
        "SELECT coalesce(sum(waiting), 0) FROM waiting_counts WHERE day = ? AND category = ?",
        (at.day_text, category),
    )
    waiting = row[0] if row else 0
    key = f"waiting:{at.day_text}:{category}"
    active_row = tx.one("SELECT active FROM warnings WHERE key = ?", (key,))
    active = bool(active_row and active_row[0])
    over = waiting > threshold
    if over != active:
        tx.run(
            "INSERT INTO warnings (key, active) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET active = excluded.active",
            (key, int(over)),
        )
        tx.event(
            "warning.waiting" if over else "warning.waiting_cleared",
            {"category": category, "waiting": waiting, "threshold": threshold},
        )


def duration_warnings(tx: Transaction, hall: HallIndex) -> None:
    """Warn once for each ticket handled longer than its type allows."""
    # the first term repeats the partial index's condition so that SQLite uses the index
    for row in tx.all(
        "SELECT * FROM tickets WHERE status IN ('waiting', 'called') AND status = 'called' "
        "AND duration_warned = 0"
    ):
        t = hall.types.get(row["business_type"])
        limit = t.duration_warning_seconds if t else None
        if limit is not None and tx.now_ms - row["called_at"] > limit * 1000:
            tx.run("UPDATE tickets SET duration_warned = 1 WHERE id = ?", (row["id"],))
            tx.event(
                "warning.duration",
                {"ticket": ticket_view(row, hall), "threshold_seconds": limit},
            )


def expire_old_days(tx: Transaction, at: LocalMoment) -> None:
    """Tickets are valid for their business day only."""
    stale = tx.all(
        "SELECT id FROM tickets WHERE day < ? AND status IN ('waiting', 'called')",
        (at.day_text,),
    )
    for row in stale:
        tx.run("UPDATE tickets SET status = 'expired' WHERE id = ?", (row["id"],))
        tx.run(
            "UPDATE window_state SET current_ticket = NULL WHERE current_ticket = ?",
            (row["id"],),
        )
        tx.event("ticket.expired", {"ticket": {"id": row["id"]}})


def prune_history(tx: Transaction, before: dt.date) -> None:
    """Forget the queue's days before `before`: tickets, calls, counts, used codes, bookings.

    The event log is kept: it is the outbox to the cloud, which decides when it may go.
    """
    day = before.isoformat()
    for sql in (
        "DELETE FROM tickets WHERE day < ?",
        "DELETE FROM calls WHERE day < ?",
        "DELETE FROM daily_counts WHERE day < ?",
        "DELETE FROM waiting_counts WHERE day < ?",
        "DELETE FROM number_sequences WHERE day < ?",
        "DELETE FROM supplements WHERE expires_on < ?",
        "DELETE FROM bookings WHERE date < ?",
    ):
        tx.run(sql, (day,))
