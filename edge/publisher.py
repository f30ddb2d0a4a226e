"""Publishes the committed event log to MQTT, in order, resuming after a restart from its mark.

The topics are the edge's rows of `sync.devicebus.TOPICS` (docs/device-bus.md): every event,
the retained state of each window and area it touched, and the edge's own presence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.queue import QueueEngine
from edge.queue.store import Event
from sync.devicebus import topic

__all__ = ["EventPublisher"]

log = logging.getLogger(__name__)

_MARK = "mqtt.published_seq"


class EventPublisher:
    """At-least-once publication of the event log; the mark moves when the broker acknowledges."""

    def __init__(
        self,
        engine: QueueEngine,
        *,
        host: str,
        port: int,
        prefix: str,
        hall_id: str,
        username: str = "",
        password: str = "",
    ) -> None:
        self.engine = engine
        self.prefix, self.hall_id = prefix, hall_id
        self._wake = asyncio.Event()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"edge-{hall_id}", clean_session=False
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(self.topic("edge_online"), "0", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.max_queued_messages_set(10_000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.host, self.port = host, port
        engine.store.subscribe(lambda _events: self._wake.set())

    async def run(self) -> None:
        """Connect and keep publishing until cancelled."""
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        try:
            while True:
                # cleared before publishing: a commit during the publication wakes us again
                self._wake.clear()
                await self._publish_pending()
                if not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
        finally:
            if self._connected.is_set():
                self.client.publish(self.topic("edge_online"), "0", qos=1, retain=True)
            self.client.disconnect()
            self.client.loop_stop()

    async def _publish_pending(self) -> None:
        if not self._connected.is_set():
            return
        await self.engine.store.durable()  # never publish what is not yet committed
        mark = int(self.engine.store.meta(_MARK) or 0)
        events = self.engine.store.events_after(mark, limit=500)
        if not events:
            return
        infos = [self._publish(event) for event in events]
        infos += self._publish_state(events)
        acked = await _acknowledged(infos, timeout=10.0)
        if acked:
            self.engine.store.set_meta(_MARK, str(events[-1].seq))
            self._wake.set()

    def _publish(self, event: Event) -> mqtt.MQTTMessageInfo:
        payload = json.dumps({"v": 1, **event.as_json()}, ensure_ascii=False)
        return self.client.publish(self.topic("event", name=event.type), payload, qos=1)

    def _publish_state(self, events: list[Event]) -> list[mqtt.MQTTMessageInfo]:
        """The current state of every window and area the events touched, retained."""
        if not self.engine.configured:
            return []
        hall = self.engine.hall
        windows: set[str] = set()
        areas: set[str] = set()
        for event in events:
            for key in ("window", "ticket"):
                item = event.payload.get(key)
                if isinstance(item, dict):
                    window = item.get("id") if key == "window" else item.get("window")
                    if isinstance(window, str) and window in hall.windows:
                        windows.add(window)
                    area = item.get("area")
                    if isinstance(area, str) and area in hall.areas:
                        areas.add(area)
        areas.update(hall.windows[w].area for w in windows)
        infos = []
        for window in sorted(windows):
            state = self.engine.window_status(window)
            infos.append(self._retain(self.topic("window_state", window=window), state))
        for area in sorted(areas):
            status = self.engine.queue_status(area)
            infos.append(self._retain(self.topic("area_status", area=area), status))
        return infos

    def topic(self, which: str, **fields: str) -> str:
        return topic(which, self.prefix, hall=self.hall_id, **fields)

    def _retain(self, name: str, body: dict[str, Any]) -> mqtt.MQTTMessageInfo:
        payload = json.dumps({"v": 1, **body}, ensure_ascii=False)
        return self.client.publish(name, payload, qos=1, retain=True)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connection refused: %s", reason)
            return
        log.info("MQTT connected to %s:%s", self.host, self.port)
        client.publish(self.topic("edge_online"), "1", qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        log.warning("MQTT disconnected: %s", reason)


async def _acknowledged(infos: list[mqtt.MQTTMessageInfo], timeout: float) -> bool:
    """Wait, without blocking the loop, until the broker acknowledged every message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = list(infos)
    while pending:
        if any(info.rc != mqtt.MQTT_ERR_SUCCESS for info in pending):
            return False
        pending = [info for info in pending if not info.is_published()]
        if pending:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.002)
    return True
