"""The edge API's operations for the staff caller client (智慧政务客户端, §4.5, §5.1)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.api.common import Operation
from edge.api.common import engine_of as _engine

__all__ = ["CALLER_OPERATIONS"]


async def list_windows(request: web.Request) -> Any:
    """What the caller client's login form offers before anyone is logged in: the windows,
    whether each is free, and the hall's rules the client shows (一号一评, auto-call).

    Nothing here is personal: window names hang above the counters and the central display
    shows which windows are open; who is logged in stays behind a token."""
    engine = _engine(request)
    hall = engine.hall
    states = dict(engine.conn.execute("SELECT window, status FROM window_state").fetchall())
    info = hall.hall
    return {
        "now": engine.clock.now_ms(),  # the hall's time, for the client's "waiting N minutes"
        "hall": {
            "id": info.id,
            "name": info.name,
            "evaluation_gate": info.evaluation_gate,
            "evaluation_gate_seconds": info.evaluation_gate_seconds,
            "auto_call_seconds": info.auto_call_seconds,
        },
        "windows": [
            {
                "id": w.id,
                "number": w.number,
                "name": w.name,
                "area": w.area,
                "area_name": hall.areas[w.area].name if w.area in hall.areas else w.area,
                "status": states.get(w.id) or "closed",
            }
            for w in hall.windows.values()
        ],
    }


CALLER_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/caller/windows",
        "listWindows",
        "The windows a caller client can log in to (open or free) and the hall's calling rules",
        list_windows,
        auth=False,
    ),
)
