"""The scanner's agent: a HID barcode/QR scanner's key events become `scanner.scanned` events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from edge.devices.agent import DeviceAgent
from edge.devices.readers import ScanDecoder

__all__ = ["ScannerAgent", "evdev_events"]

log = logging.getLogger(__name__)

KeyEvent = tuple[int, int, int]  # evdev type, code, value


def evdev_events(path: str) -> Iterator[KeyEvent]:
    """The key events of an input device, taken for ourselves (grabbed) so that the scans do not
    also type into the kiosk's screen."""
    from evdev import InputDevice

    device = InputDevice(path)
    device.grab()
    try:
        for event in device.read_loop():
            yield event.type, event.code, event.value
    finally:
        device.ungrab()


class ScannerAgent(DeviceAgent):
    firmware = "smarthall-scanner-agent"

    def __init__(self, *, source: Iterable[KeyEvent], suffix: str = "enter", **agent: Any):
        super().__init__(**agent)
        self.source = source
        self.decoder = ScanDecoder(suffix=suffix)
        self.scans = 0

    async def run(self) -> None:
        presence = asyncio.create_task(super().run())
        try:
            await self.ready.wait()
            reader = threading.Thread(target=self._read, name=f"scanner-{self.device}")
            reader.daemon = True
            reader.start()
            await presence
        finally:
            presence.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await presence

    def telemetry(self) -> dict[str, float | int | str | bool]:
        return {"scans": self.scans, "unknown_keys": self.decoder.unknown_keys}

    def _read(self) -> None:
        for type_, code, value in self.source:
            scan = self.decoder.feed(type_, code, value)
            if scan is not None:
                self.scans += 1
                self.event("scanner.scanned", {"text": scan})
