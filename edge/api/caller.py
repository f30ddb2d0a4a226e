"""The edge API's operations for the staff caller client (智慧政务客户端, §4.5, §5.1).

- `listWindows` feeds the login form before anyone is logged in.
- `takeWindowSession` lets a window's caller PC (an API client of kind `caller`, its page opened
  with `?token=`) take over the session a staff card opened at the window's reader: the card
  logs in at the edge (edge/devices/cardlogin.py), the browser has no token of its own to learn
  it by, so it watches `window:<id>` and then asks here. The caller token calls nothing else; all
  the window's work goes through the staff session it receives.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.api.common import Operation, require
from edge.api.common import engine_of as _engine
from edge.queue import QueueError

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


async def take_window_session(request: web.Request) -> Any:
    """A fresh session for whoever is logged in at the caller PC's own window (409
    `window_closed` when nobody is); the take-over is an event (`window.session`)."""
    window = request.match_info["window"]
    principal = require(request)
    engine = _engine(request)
    engine.require_window(window)  # 401, then 404 for an unknown window, then 403
    if principal.kind != "caller":
        raise QueueError("forbidden", "only a window's caller PC takes over its session")
    if principal.window != window:
        raise QueueError("forbidden", "a caller PC takes over the session of its own window")
    return engine.window_session(window, principal.actor)


CALLER_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/caller/windows",
        "listWindows",
        "The windows a caller client can log in to (open or free) and the hall's calling rules",
        list_windows,
        auth=False,
    ),
    Operation(
        "POST",
        "/api/windows/{window}/session",
        "takeWindowSession",
        "The window's caller PC takes over the session of the staff member logged in there "
        "(by card at the window's reader); the previous session of the window ends",
        take_window_session,
    ),
)
