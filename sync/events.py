"""The hall's events, as a contract: every type the edge writes to its log, with the payload
fields the cloud's reports rely on, and the evaluation levels (§5.2.6).

One entry per event type the edge writes (`tx.event(...)` in `edge/`; a test keeps the list
complete). An event of an unknown type, or whose payload
lacks one of its fields, is a poison event: quarantined with the reason, never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["EVALUATION_LEVELS", "EVENT_TYPES", "poison_reason"]

EVALUATION_LEVELS = ("very_satisfied", "satisfied", "basic", "dissatisfied")

_TICKET = {"ticket.id": str}
_WINDOW = {"window.id": str}
_DEVICE = {"device.id": str}

# type -> {dotted payload path: what it must be}; a tuple lists the allowed values
EVENT_TYPES: Mapping[str, Mapping[str, type | tuple[str, ...]]] = {
    "ticket.issued": {"ticket.id": str, "ticket.business_type": str, "ticket.day": str},
    "ticket.called": {"ticket.id": str, "ticket.window": str},
    "ticket.recalled": _TICKET,
    "ticket.finished": _TICKET,
    "ticket.evaluated": {"ticket.id": str, "level": EVALUATION_LEVELS},
    "ticket.transferred": {"ticket.id": str, "from_type": str},
    "ticket.supplement": {"ticket.id": str, "code": str},
    "ticket.abandoned": _TICKET,
    "ticket.void": _TICKET,
    "ticket.requeued": _TICKET,
    "ticket.expired": _TICKET,
    "booking.checked_in": {"booking": str, "ticket": str},
    "window.login": _WINDOW,
    "window.logout": _WINDOW,
    "window.session": {"window.id": str, "staff.id": str},
    "window.paused": _WINDOW,
    "window.resumed": _WINDOW,
    "window.backstage": _WINDOW,
    "window.one_meter_line": _WINDOW,
    "window.screenshot": {"window": str, "id": str},
    "window.screenshot_cleared": {"window": str, "id": str},
    "warning.waiting": {"category": str},
    "warning.waiting_cleared": {"category": str},
    "warning.duration": _TICKET,
    "config.applied": {"version": object},
    "config.refused": {"version": int, "reason": str},
    "voice.changed": {"voice": dict},
    "edge.restored": {"old_epoch": str, "new_epoch": str, "snapshot": str},
    "device.registered": _DEVICE,
    "device.removed": _DEVICE,
    "device.online": _DEVICE,
    "device.offline": _DEVICE,
    "device.event": {"device.id": str, "type": str},
    "scanner.refused": {"device.id": str, "code": str},
    "card.refused": {"device.id": str, "code": str},
}


def poison_reason(type_: str, payload: Mapping[str, Any]) -> str | None:
    """Why the cloud cannot accept the event, or None when it can."""
    fields = EVENT_TYPES.get(type_)
    if fields is None:
        return f"unknown event type {type_}"
    for path, wanted in fields.items():
        value: Any = payload
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return f"{type_}: payload lacks {path}"
        if isinstance(wanted, tuple):
            if value not in wanted:
                return f"{type_}: {path} is {value!r}, not one of {', '.join(wanted)}"
        elif not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            return f"{type_}: {path} is not a {wanted.__name__}"
    return None
