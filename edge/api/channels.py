"""What a browser screen can watch on the live relay: channels, who may watch them, what
changes them.

A channel is `area:<id>` (the area's queue status, as `queueStatus` answers), `window:<id>`
(the window's state, as `windowStatus` answers and MQTT's window state carries) or
`events:<area>` (the raw committed events of one calling area).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from edge.api.auth import Principal
from edge.queue import QueueEngine, QueueError
from edge.queue.hall import HallIndex
from edge.queue.store import Event

__all__ = ["Channel", "Touched", "check_allowed", "event_areas", "parse_channel", "touched"]

ChannelKind = Literal["area", "window", "events"]
_KINDS: tuple[ChannelKind, ...] = ("area", "window", "events")

# Events that may change any area or window: a new configuration, yesterday's tickets expiring.
_HALL_WIDE = {"config.applied", "ticket.expired"}
# Who may watch the whole hall; the others only their own area or window.
_WHOLE_HALL = {"admin", "cloud", "staff"}


@dataclass(frozen=True)
class Channel:
    kind: ChannelKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def is_status(self) -> bool:
        """A status channel carries the latest state; an events channel every event."""
        return self.kind != "events"

    def area(self, hall: HallIndex) -> str:
        return hall.windows[self.id].area if self.kind == "window" else self.id

    def read(self, engine: QueueEngine) -> dict[str, Any]:
        """The channel's state now (status channels only)."""
        if self.kind == "area":
            return engine.queue_status(self.id)
        return engine.window_status(self.id)


@dataclass(frozen=True)
class Touched:
    """The areas and windows some events changed; `everything` when any may have changed."""

    areas: frozenset[str] = frozenset()
    windows: frozenset[str] = frozenset()
    everything: bool = False

    def includes(self, channel: Channel) -> bool:
        if self.everything:
            return True
        if channel.kind == "window":
            return channel.id in self.windows
        return channel.id in self.areas


def parse_channel(name: object, engine: QueueEngine) -> Channel:
    """`area:main` → Channel; refuses unknown kinds, areas and windows (QueueError)."""
    if not isinstance(name, str) or len(name) > 200:
        raise QueueError("invalid_request", "a channel is a string like area:<id>")
    kind, _, ident = name.partition(":")
    if kind not in _KINDS or not ident:
        raise QueueError(
            "invalid_request", f"unknown channel {name!r}: use area:<id>, window:<id>, events:<id>"
        )
    hall = engine.hall
    if kind == "window":
        if ident not in hall.windows:
            raise QueueError("unknown_window", ident)
        return Channel("window", ident)
    if ident not in hall.areas:
        raise QueueError("unknown_area", ident)
    return Channel("area" if kind == "area" else "events", ident)


def check_allowed(principal: Principal, channel: Channel, hall: HallIndex) -> None:
    """Admin, cloud and staff watch the whole hall; a display or kiosk its own area (and the
    windows in it); a Pad its own window and its area's events (its prompts come as events); a
    caller PC its own window (to see a staff card log in there)."""
    if principal.kind in _WHOLE_HALL:
        return
    if principal.kind in ("display", "kiosk") and channel.area(hall) == principal.area:
        return
    own_window = channel.kind == "window" and channel.id == principal.window
    if principal.kind in ("pad", "caller") and own_window:
        return
    own = hall.windows.get(principal.window) if principal.kind == "pad" else None
    if own is not None and channel.kind == "events" and channel.id == own.area:
        return
    raise QueueError("forbidden", f"{principal.kind} {principal.id} may not watch {channel}")


def touched(events: list[Event], hall: HallIndex) -> Touched:
    """Which areas and windows `events` changed, read from the tickets, windows and devices
    they carry (a window's change is also its area's)."""
    areas: set[str] = set()
    windows: set[str] = set()
    for event in events:
        if event.type in _HALL_WIDE:
            return Touched(everything=True)
        event_areas, event_windows = _places(event)
        areas |= event_areas
        windows |= event_windows
    windows &= hall.windows.keys()
    areas |= {hall.windows[w].area for w in windows}
    areas &= hall.areas.keys()
    return Touched(frozenset(areas), frozenset(windows))


def event_areas(event: Event, hall: HallIndex) -> frozenset[str] | None:
    """The areas an event belongs to; None for a hall-wide event (it belongs to every area)."""
    if event.type in _HALL_WIDE:
        return None
    found = touched([event], hall)
    return found.areas


def _places(event: Event) -> tuple[set[str], set[str]]:
    areas: set[str] = set()
    windows: set[str] = set()
    for key, value in event.payload.items():
        if key == "window" and isinstance(value, str):
            windows.add(value)
        elif key == "area" and isinstance(value, str):
            areas.add(value)
        elif isinstance(value, dict):
            window = value.get("id") if key == "window" else value.get("window")
            if isinstance(window, str):
                windows.add(window)
            area = value.get("area")
            if isinstance(area, str):
                areas.add(area)
    return areas, windows
