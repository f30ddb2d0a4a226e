"""What a kiosk may offer (§4.1.2): open windows per type and the four cases that hide a type."""

from __future__ import annotations

import sqlite3

from edge.queue.errors import QueueError
from edge.queue.hall import HallIndex, LocalMoment
from sync.hallsetup import BusinessType

__all__ = ["open_windows", "type_in_area", "unavailable"]


def open_windows(conn: sqlite3.Connection, hall: HallIndex, area: str) -> dict[str, list[str]]:
    """Per business type, the numbers of the logged-in windows of `area` that serve it.

    A paused window or one in backstage processing still counts: its staff is on post.
    """
    result: dict[str, list[str]] = {}
    rows = conn.execute(
        "SELECT window, staff FROM window_state WHERE status IN ('open','paused','backstage')"
    ).fetchall()
    for row in sorted(rows, key=lambda r: str(r["window"])):
        window = hall.windows.get(row["window"])
        if window is None or window.area != area:
            continue
        for type_id in hall.serving_types(window, hall.staff.get(row["staff"])):
            result.setdefault(type_id, []).append(window.number)
    return result


def unavailable(
    hall: HallIndex, t: BusinessType, at: LocalMoment, windows: list[str], committed: int
) -> str | None:
    """Which of the four cases hides a type from the kiosk, as an error code, or None."""
    if not windows:
        return "no_window_open"
    if t.daily_cap is not None and committed >= t.daily_cap:
        return "daily_cap_reached"
    if not hall.type_in_hours(t, at):
        return "outside_service_hours"
    if not hall.hall_open(at):
        return "outside_hall_hours"
    return None


def type_in_area(hall: HallIndex, area: str, type_id: str) -> BusinessType:
    """The business type, if the calling area queues it; otherwise the matching refusal."""
    if area not in hall.areas:
        raise QueueError("unknown_area")
    t = hall.types.get(type_id)
    if t is None:
        raise QueueError("unknown_business_type")
    if type_id not in hall.area_types[area]:
        raise QueueError("type_not_in_area")
    return t
