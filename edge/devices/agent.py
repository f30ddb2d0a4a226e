"""The device side of the bus, shared by every agent: presence, heartbeats, events, commands.

An agent logs in as its device, announces itself on its retained `online` topic (its last will
says "0"), sends a heartbeat with its telemetry every `heartbeat_seconds`, publishes
`DeviceEvent`s and receives the `DeviceCommand`s of the names it handles. A subclass says which
commands it takes (`commands`), what to do with one (`command`), what to report
(`telemetry`) and what to do every `interval` seconds (`tick`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from sync.devicebus import DeviceCommand, DeviceEvent, Heartbeat

__all__ = ["DeviceAgent"]

log = logging.getLogger(__name__)


class DeviceAgent:
    commands: tuple[str, ...] = ()
    firmware = "smarthall-agent"

    def __init__(
        self,
        *,
        device: str,
        host: str,
        port: int,
        prefix: str,
        hall: str,
        username: str = "",
        password: str = "",
        heartbeat_seconds: float = 10.0,
        interval: float = 2.0,
    ) -> None:
        self.device = device
        self.root = f"{prefix}/{hall}/device/{device}"
        self.heartbeat_seconds = heartbeat_seconds
        self.interval = interval
        self.ready = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = time.monotonic()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"agent-{device}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(f"{self.root}/online", "0", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.host, self.port = host, port

    # ------------------------------------------------------------------ for subclasses

    def command(self, name: str, command: DeviceCommand) -> None:
        """Carry out a command (paho's thread)."""

    def telemetry(self) -> dict[str, float | int | str | bool]:
        return {}

    async def tick(self) -> None:
        """Called every `interval` seconds on the event loop."""

    def event(self, type_: str, data: dict[str, Any]) -> None:
        event = DeviceEvent(type=type_, ts=time.time_ns() // 1_000_000, data=data)
        self.client.publish(f"{self.root}/event", event.model_dump_json(), qos=1)

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        next_beat = 0.0
        try:
            while True:
                await self.tick()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_seconds
                    beat = Heartbeat(
                        ts=time.time_ns() // 1_000_000,
                        uptime_s=int(time.monotonic() - self._started),
                        firmware=self.firmware,
                        telemetry=self.telemetry(),
                    )
                    self.client.publish(f"{self.root}/heartbeat", beat.model_dump_json(), qos=0)
                await asyncio.sleep(min(self.interval, self.heartbeat_seconds))
        finally:
            with contextlib.suppress(Exception):
                self.client.publish(f"{self.root}/online", "0", qos=1, retain=True)
            self.client.disconnect()
            self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("agent %s: connection refused: %s", self.device, reason)
            return
        client.publish(f"{self.root}/online", "1", qos=1, retain=True)
        if self.commands:
            client.subscribe([(f"{self.root}/cmd/{name}", 1) for name in self.commands])
        else:
            self._on_subscribe()

    def _on_subscribe(self, *_args: Any) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.ready.set)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        name = message.topic.rsplit("/", 1)[-1]
        try:
            command = DeviceCommand.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning("agent %s: a command it cannot read: %s", self.device, exc)
            return
        self.command(name, command)
