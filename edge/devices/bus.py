"""The edge's side of the device bus: what devices publish, checked, counted and turned into events.

Subscriptions and handlers come from `sync.devicebus.TOPICS` (the topics devices write). A message
from a device the registry does not know, too large, not JSON or not of its topic's model is
counted by reason, logged (once a minute per reason) and dropped; it never stops the node.
Presence: a device is online from its `online` "1" or a heartbeat, offline on its last will
("0") or after `offline_after` seconds of silence; each change is an event in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edge.queue.store import Store
from sync.devicebus import MAX_PAYLOAD_BYTES, TOPICS, DeviceCommand, DeviceEvent, Heartbeat

__all__ = ["DeviceBus"]

log = logging.getLogger(__name__)

_QUEUE_LIMIT = 10_000


class DeviceBus:
    def __init__(
        self,
        store: Store,
        *,
        host: str,
        port: int,
        prefix: str,
        hall: str,
        username: str = "",
        password: str = "",
        offline_after: float = 30.0,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.store = store
        self.root = f"{prefix}/{hall}/device/"
        self.offline_after_ms = round(offline_after * 1000)
        self.now_ms = now_ms
        self.dropped: Counter[str] = Counter()
        self.handled = 0
        self.last_seen: dict[str, int] = {}
        self.printer_states: dict[str, str] = {}
        self.online: dict[str, bool] = {}
        self._warned: dict[str, float] = {}
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(_QUEUE_LIMIT)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = asyncio.Event()
        self._handlers: dict[str, Callable[[str, bytes], None]] = {
            "device_online": self._on_online,
            "heartbeat": self._on_heartbeat,
            "device_event": self._on_event,
        }
        self._suffixes = {
            t.pattern.rsplit("/", 1)[1]: t.name for t in TOPICS if t.name in self._handlers
        }
        assert len(self._suffixes) == len(self._handlers), "every device topic has a handler"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-bus-{hall}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.host, self.port = host, port

    async def run(self) -> None:
        """Receive and handle device messages until cancelled."""
        self._loop = asyncio.get_running_loop()
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        sweeper = asyncio.create_task(self._sweep())
        try:
            while True:
                topic, payload = await self._queue.get()
                self._handle(topic, payload)
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            self.client.disconnect()
            self.client.loop_stop()

    def command(self, device: str, name: str, command: DeviceCommand) -> None:
        """Send a command to a device (QoS 1); the broker queues it while the device is away."""
        self.client.publish(
            f"{self.root}{device}/cmd/{name}", command.model_dump_json(), qos=1, retain=False
        )

    def printer_status(self, device: str) -> str:
        """ok, paper_near_end, paper_out, offline or unknown, as the printer last said."""
        if not self.online.get(device, False):
            return "offline"
        return self.printer_states.get(device, "unknown")

    async def subscribed(self) -> None:
        await self._subscribed.wait()

    def known_devices(self) -> set[str]:
        rows = self.store.conn.execute("SELECT id FROM devices").fetchall()
        return {r[0] for r in rows}

    # ------------------------------------------------------------------ paho thread

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("device bus: broker refused the connection: %s", reason)
            return
        client.subscribe([(f"{self.root}+/{suffix}", 1) for suffix in self._suffixes])

    def _on_subscribe(self, *_args: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._subscribed.set)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._enqueue, message.topic, bytes(message.payload))

    def _enqueue(self, topic: str, payload: bytes) -> None:
        try:
            self._queue.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self._drop("overloaded", topic)

    # ------------------------------------------------------------------ handling

    def _handle(self, topic: str, payload: bytes) -> None:
        device, _, suffix = topic.removeprefix(self.root).partition("/")
        name = self._suffixes.get(suffix)
        if not topic.startswith(self.root) or name is None:
            self._drop("unknown_topic", topic)
            return
        if device not in self.known_devices():
            self._drop("unknown_device", topic)
            return
        if len(payload) > MAX_PAYLOAD_BYTES:
            self._drop("oversized", topic)
            return
        try:
            self._handlers[name](device, payload)
        except (ValueError, ValidationError) as exc:
            self._drop("malformed", topic, exc)
            return
        self.handled += 1

    def _on_online(self, device: str, payload: bytes) -> None:
        text = payload.decode("ascii", errors="strict").strip()
        if text not in ("0", "1"):
            raise ValueError("online is '1' or '0'")
        if text == "1":
            self._seen(device)
        else:
            self._presence(device, False, "last_will")

    def _on_heartbeat(self, device: str, payload: bytes) -> None:
        beat = Heartbeat.model_validate(json.loads(payload))
        self._seen(device)
        paper = beat.telemetry.get("paper")
        if isinstance(paper, str):  # a printer repeats its status: a missed event heals
            self.printer_states[device] = paper

    def _on_event(self, device: str, payload: bytes) -> None:
        event = DeviceEvent.model_validate(json.loads(payload))
        self._seen(device)
        if event.type == "printer.status" and isinstance(event.data.get("status"), str):
            self.printer_states[device] = event.data["status"]
        with self.store.transaction(self.now_ms()) as tx:
            tx.event(
                "device.event",
                {"device": {"id": device}, "type": event.type, "ts": event.ts, "data": event.data},
            )

    def _seen(self, device: str) -> None:
        self.last_seen[device] = self.now_ms()
        if not self.online.get(device, False):
            self._presence(device, True, "seen")

    def _presence(self, device: str, online: bool, why: str) -> None:
        if self.online.get(device) == online:
            return
        self.online[device] = online
        with self.store.transaction(self.now_ms()) as tx:
            tx.event(
                "device.online" if online else "device.offline",
                {"device": {"id": device}, "reason": why},
            )

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.offline_after_ms / 4000))
            now = self.now_ms()
            for device, seen in list(self.last_seen.items()):
                if self.online.get(device) and now - seen > self.offline_after_ms:
                    self._presence(device, False, "silent")

    def _drop(self, reason: str, topic: str, error: Exception | None = None) -> None:
        self.dropped[reason] += 1
        last = self._warned.get(reason, 0.0)
        if time.monotonic() - last > 60:
            self._warned[reason] = time.monotonic()
            log.warning("device bus: dropped a message (%s) on %s: %s", reason, topic, error or "")
