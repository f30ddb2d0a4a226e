"""Simulated scanner and card reader: each line typed in is one scan or one card presented."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from edge.devices.agent import DeviceAgent

__all__ = ["LineAgent"]


class LineAgent(DeviceAgent):
    """Publishes one event per non-empty line: `scanner.scanned {text}` or `card.read {card}`."""

    firmware = "smarthall-simulator"

    def __init__(self, *, lines: Iterable[str], event: str, field: str, **agent: Any) -> None:
        super().__init__(**agent)
        self.lines = lines
        self.event_type = event
        self.field = field
        self.sent = 0

    async def run(self) -> None:
        presence = asyncio.create_task(super().run())
        try:
            await self.ready.wait()
            threading.Thread(target=self._read, name=f"lines-{self.device}", daemon=True).start()
            await presence
        finally:
            presence.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await presence

    def _read(self) -> None:
        for line in self.lines:
            if text := line.strip():
                self.sent += 1
                self.event(self.event_type, {self.field: text})
