"""A staff card presented at a window's reader logs its staff member in there (§18.1)."""

from __future__ import annotations

import logging

from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine, QueueError
from edge.queue.store import Event, EventFeed

__all__ = ["CardLogin"]

log = logging.getLogger(__name__)


class CardLogin:
    def __init__(self, engine: QueueEngine, registry: DeviceRegistry) -> None:
        self.engine = engine
        self.registry = registry
        self._feed = EventFeed(
            engine.store,
            lambda e: e.type == "device.event" and e.payload.get("type") == "card.read",
        )

    async def run(self) -> None:
        await self._feed.each(self._card)

    def _card(self, event: Event) -> None:
        device_id = event.payload["device"]["id"]
        device = next((d for d in self.registry.devices() if d.id == device_id), None)
        if device is None or device.kind != "card_reader" or not device.window:
            return
        card = str(event.payload.get("data", {}).get("card", ""))
        staff = self.engine.hall.staff_by_card.get(card)
        try:
            if staff is None:
                raise QueueError("login_failed", "unknown card")
            self.engine.window_login(device.window, staff)
        except QueueError as refusal:
            with self.engine.store.transaction(self.engine.clock.now_ms()) as tx:
                tx.event(
                    "card.refused",
                    {"device": {"id": device_id}, "window": device.window, "code": refusal.code},
                )
