"""Simulated devices on a real broker, so that a hall can be tried with no hardware.

`SimulatedPrinter` behaves as a printer's agent: it announces itself (retained `online`, with a
last will), sends heartbeats, and for each `cmd/print` renders the ESC/POS job to a PNG of the
paper and answers with a `printer.printed` event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edge.devices.printer.image import render_png
from edge.devices.printer.profile import PrinterProfile
from sync.devicebus import DeviceCommand, DeviceEvent, Heartbeat

__all__ = ["SimulatedPrinter"]

log = logging.getLogger(__name__)


class SimulatedPrinter:
    def __init__(
        self,
        *,
        device: str,
        profile: PrinterProfile,
        host: str,
        port: int,
        prefix: str,
        hall: str,
        out: Path,
        username: str = "",
        password: str = "",
        heartbeat_seconds: float = 10.0,
    ) -> None:
        self.root = f"{prefix}/{hall}/device/{device}"
        self.profile = profile
        self.out = out
        self.heartbeat_seconds = heartbeat_seconds
        self.printed: list[Path] = []
        self.ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = time.monotonic()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{device}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(f"{self.root}/online", "0", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.host, self.port = host, port

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.out.mkdir(parents=True, exist_ok=True)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        try:
            while True:
                await asyncio.sleep(self.heartbeat_seconds)
                beat = Heartbeat(
                    ts=time.time_ns() // 1_000_000,
                    uptime_s=int(time.monotonic() - self._started),
                    firmware="simulator",
                    telemetry={"printed": len(self.printed), "paper": "ok"},
                )
                self.client.publish(f"{self.root}/heartbeat", beat.model_dump_json(), qos=0)
        finally:
            with contextlib.suppress(Exception):
                self.client.publish(f"{self.root}/online", "0", qos=1, retain=True)
            self.client.disconnect()
            self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("simulated printer: connection refused: %s", reason)
            return
        client.publish(f"{self.root}/online", "1", qos=1, retain=True)
        client.subscribe(f"{self.root}/cmd/print", qos=1)

    def _on_subscribe(self, *_args: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.ready.set)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            command = DeviceCommand.model_validate_json(message.payload)
            job = base64.b64decode(str(command.data["job"]), validate=True)
        except (ValidationError, KeyError, binascii.Error) as exc:
            log.warning("simulated printer: a print command it cannot read: %s", exc)
            return
        path = self.out / f"{command.id}.png"
        render_png(job, self.profile, path)
        self.printed.append(path)
        event = DeviceEvent(
            type="printer.printed",
            ts=time.time_ns() // 1_000_000,
            data={"command": command.id, "bytes": len(job)},
        )
        self.client.publish(f"{self.root}/event", event.model_dump_json(), qos=1)
