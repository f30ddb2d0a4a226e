"""How tickets and windows look to clients, screens and the event log."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from edge.queue.hall import HallIndex
from sync.hallsetup import Window

__all__ = ["ticket_brief", "ticket_view", "window_view"]


def ticket_brief(row: sqlite3.Row, hall: HallIndex) -> dict[str, Any]:
    """A ticket as a line of the staff client's lists: what staff read, nothing more."""
    t = hall.types.get(row["business_type"])
    window = hall.windows.get(row["window"]) if row["window"] else None
    phone = row["phone"] or ""
    return {
        "id": row["id"],
        "number": row["number"],
        "business_type": row["business_type"],
        "business_type_name": t.name if t else row["business_type"],
        "kind": row["kind"],
        "status": row["status"],
        "priority": row["priority"] == 1,
        "issued_at": row["issued_at"],
        "order_at": row["order_at"],
        "phone_tail": phone[-4:] if phone else "",
        "window_number": window.number if window else None,
        "called_at": row["called_at"],
        "last_called_at": row["last_called_at"],
        "evaluation": row["evaluation"],
    }


def ticket_view(row: sqlite3.Row, hall: HallIndex) -> dict[str, Any]:
    """A ticket as the API and events show it; the full phone and ID number stay in the hall."""
    return {
        **ticket_brief(row, hall),
        "day": row["day"],
        "area": row["area"],
        "category": row["category"],
        "source": row["source"],
        "issued_by": row["issued_by"],
        "waiting_at_issue": row["waiting_at_issue"],
        "serving_windows": json.loads(row["serving_windows"]),
        "booking_id": row["booking_id"],
        "assigned_staff": row["assigned_staff"],
        "window": row["window"],
        "staff": row["staff"],
        "call_count": row["call_count"],
        "finished_at": row["finished_at"],
        "evaluation_requested": bool(row["evaluation_requested"]),
        "transfers": row["transfers"],
    }


def window_view(
    hall: HallIndex,
    window: Window,
    state: sqlite3.Row | None,
    current: sqlite3.Row | None,
    now_ms: int,
) -> dict[str, Any]:
    """A window as its caller client, its Pad and the central display see it."""
    status = state["status"] if state else "closed"
    staff = hall.staff.get(state["staff"]) if state and state["staff"] else None
    auto_call_in = None
    seconds = hall.hall.auto_call_seconds
    if seconds and status == "open" and current is None and state is not None:
        auto_call_in = max(0, -(-(state["since"] + seconds * 1000 - now_ms) // 1000))
    gate = None
    if state is not None and state["gate_ticket"] is not None and state["gate_until"] is not None:
        left = -(-(state["gate_until"] - now_ms) // 1000)
        if left > 0:
            gate = {"ticket": state["gate_ticket"], "seconds_left": left}
    return {
        "id": window.id,
        "number": window.number,
        "name": window.name,
        "area": window.area,
        "status": status,
        "staff": None
        if staff is None
        else {
            "id": staff.id,
            "staff_no": staff.staff_no,
            "name": staff.name,
            "title": staff.title,
            "department": staff.department,
            "post_type": staff.post_type,
            "stars": staff.stars,
        },
        "business_types": hall.serving_types(window, staff),
        "current": ticket_view(current, hall) if current is not None else None,
        "since": state["since"] if state else None,
        "auto_call_in": auto_call_in,
        "evaluation_gate": gate,
    }
