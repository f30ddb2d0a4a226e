"""The edge drives the hall's LED screens from its event log (§4.2.1, §4.2.2).

A window bar (`window_display` with an LED profile) shows the call at its window, the pause and
backstage notices, and the welcome text otherwise; a central screen (`central_display` with an
LED profile of role `central`) shows its area's latest calls and who waits. The edge reaches
them itself, on a serial line or TCP (`Device.connection`). Writes run in a worker thread, one
event at a time in commit order, and a screen that fails is reopened at its next message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from edge.devices.led.driver import LedDisplay, board_rows
from edge.devices.led.errors import LedError
from edge.devices.led.profile import LedProfile
from edge.devices.profiles import Catalogue
from edge.devices.registry import Device, DeviceRegistry
from edge.queue import QueueEngine
from edge.queue.store import Event, EventFeed

__all__ = ["LedScreens"]

log = logging.getLogger(__name__)

WELCOME = "欢迎光临"
_WINDOW_EVENTS = {
    "ticket.called",
    "ticket.recalled",
    "window.paused",
    "window.backstage",
    "window.resumed",
    "window.login",
    "window.logout",
}


class LedScreens:
    def __init__(self, engine: QueueEngine, registry: DeviceRegistry, catalogue: Catalogue) -> None:
        self.engine = engine
        self.registry = registry
        self.catalogue = catalogue
        self.failures = 0
        self.written = 0
        self._displays: dict[str, LedDisplay] = {}
        self._feed = EventFeed(
            engine.store, lambda e: e.type in _WINDOW_EVENTS or e.type.startswith("ticket.")
        )

    async def run(self) -> None:
        try:
            while True:
                event = await self._feed.get()
                for device, show in self._work(event):
                    await asyncio.to_thread(self._write, device, show)
        finally:
            # closing a TCP port sleeps in pyserial: close them all at once, off the loop
            await asyncio.gather(
                *(asyncio.to_thread(d.close) for d in self._displays.values()),
                return_exceptions=True,
            )

    def _work(self, event: Event) -> list[tuple[Device, Callable[[LedDisplay], Any]]]:
        """What each screen must show after `event`, computed on the loop (database reads)."""
        work: list[tuple[Device, Callable[[LedDisplay], Any]]] = []
        ticket = event.payload.get("ticket") or {}
        window = event.payload.get("window") or {}
        window_id = window.get("id") or ticket.get("window")
        screens = self._screens()
        if event.type in _WINDOW_EVENTS and window_id:
            show = self._window_message(event.type, ticket, window)
            work += [
                (d, show) for d in screens if d.kind == "window_display" and d.window == window_id
            ]
        area = ticket.get("area") or window.get("area")
        boards = [d for d in screens if d.kind == "central_display" and d.area == area]
        if boards and self.engine.configured and area in self.engine.hall.areas:
            rows = self._board(area)

            def board(display: LedDisplay) -> Any:
                return display.show_board(rows)

            work += [(d, board) for d in boards]
        return work

    def _window_message(
        self, type_: str, ticket: dict[str, Any], window: dict[str, Any]
    ) -> Callable[[LedDisplay], Any]:
        if type_ in ("ticket.called", "ticket.recalled"):
            number, at = ticket["number"], ticket.get("window_number") or ""
            return lambda display: display.show_call(number, at)
        if type_ == "window.paused":
            return lambda display: display.show_paused()
        if type_ == "window.backstage":
            return lambda display: display.show_backstage()
        return lambda display: display.show_welcome(WELCOME)

    def _board(self, area: str) -> list[str]:
        status = self.engine.queue_status(area, latest=6)
        calls = [
            (c["number"], c["window_number"] or "")
            for c in status["latest_calls"]
            if c["window_number"]
        ]
        waiting = {s["name"]: s["waiting"] for s in status["services"] if s["waiting"]}
        return board_rows(calls, waiting)

    def _screens(self) -> list[Device]:
        leds = self.catalogue.kind("leds")
        return [
            d
            for d in self.registry.devices()
            if d.kind in ("window_display", "central_display")
            and d.connection
            and d.profile in leds
        ]

    def _write(self, device: Device, show: Callable[[LedDisplay], Any]) -> None:
        """In the worker thread: open the screen if needed and show; a failure is logged."""
        display = self._displays.get(device.id)
        try:
            if display is None:
                profile = self.catalogue.get("leds", device.profile)
                assert isinstance(profile, LedProfile)
                display = LedDisplay(profile, device.connection)
                display.open()
                self._displays[device.id] = display
            show(display)
            self.written += 1
        except LedError as exc:
            self.failures += 1
            log.warning("LED screen %s: %s", device.id, exc)
            if display is not None:
                display.close()
            self._displays.pop(device.id, None)
