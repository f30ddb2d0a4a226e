"""The printer's agent: the program beside a kiosk's printer that speaks the device bus.

It announces itself (retained `online`, with a last will), sends heartbeats, prints each
`cmd/print` job and answers with `printer.printed`, and watches the paper: every change of the
printer's status (ok, paper near end, paper out, offline) is a `printer.status` event, which the
kiosk uses to offer a paperless ticket (§4.4.3). The paper is a real printer (`LinkPaper`, over
serial, TCP or USB through python-escpos) or a folder of PNG images (`PngPaper`, for
`hall device simulate printer`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edge.devices.printer.image import render_png
from edge.devices.printer.profile import PrinterProfile
from edge.devices.printer.transport import PrinterError, PrinterLink, PrinterStatus
from sync.devicebus import DeviceCommand, DeviceEvent, Heartbeat

__all__ = ["LinkPaper", "Paper", "PngPaper", "PrinterAgent"]

log = logging.getLogger(__name__)


class Paper(Protocol):
    """Where the agent's jobs go."""

    def print(self, name: str, job: bytes) -> None: ...

    def status(self) -> PrinterStatus: ...


class PngPaper:
    """A folder of PNG images of the paper: the simulated printer."""

    def __init__(self, profile: PrinterProfile, out: Path) -> None:
        self.profile = profile
        self.out = out
        self.state = PrinterStatus.OK

    def print(self, name: str, job: bytes) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        render_png(job, self.profile, self.out / f"{name}.png")

    def status(self) -> PrinterStatus:
        return self.state


class LinkPaper:
    """A real printer behind python-escpos."""

    def __init__(self, link: PrinterLink) -> None:
        self.link = link

    def print(self, name: str, job: bytes) -> None:
        self.link.send(job)

    def status(self) -> PrinterStatus:
        return self.link.status()


class PrinterAgent:
    def __init__(
        self,
        *,
        device: str,
        paper: Paper,
        host: str,
        port: int,
        prefix: str,
        hall: str,
        username: str = "",
        password: str = "",
        heartbeat_seconds: float = 10.0,
        status_seconds: float = 2.0,
    ) -> None:
        self.root = f"{prefix}/{hall}/device/{device}"
        self.paper = paper
        self.heartbeat_seconds = heartbeat_seconds
        self.status_seconds = status_seconds
        self.printed: list[str] = []
        self.last_status: PrinterStatus | None = None
        self.ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = time.monotonic()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"printer-{device}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(f"{self.root}/online", "0", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.host, self.port = host, port

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        next_beat = 0.0
        try:
            while True:
                status = await asyncio.to_thread(self.paper.status)
                if status != self.last_status:
                    self.last_status = status
                    self._event("printer.status", {"status": status.value})
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_seconds
                    beat = Heartbeat(
                        ts=time.time_ns() // 1_000_000,
                        uptime_s=int(time.monotonic() - self._started),
                        firmware="smarthall-printer-agent",
                        telemetry={"printed": len(self.printed), "paper": status.value},
                    )
                    self.client.publish(f"{self.root}/heartbeat", beat.model_dump_json(), qos=0)
                await asyncio.sleep(min(self.status_seconds, self.heartbeat_seconds))
        finally:
            with contextlib.suppress(Exception):
                self.client.publish(f"{self.root}/online", "0", qos=1, retain=True)
            self.client.disconnect()
            self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("printer agent: connection refused: %s", reason)
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
            log.warning("printer agent: a print command it cannot read: %s", exc)
            return
        try:
            self.paper.print(command.id, job)
        except PrinterError as exc:
            log.warning("printer agent: job %s failed: %s", command.id, exc)
            self._event("printer.failed", {"command": command.id, "error": str(exc)})
            return
        self.printed.append(command.id)
        self._event("printer.printed", {"command": command.id, "bytes": len(job)})

    def _event(self, type_: str, data: dict[str, Any]) -> None:
        event = DeviceEvent(type=type_, ts=time.time_ns() // 1_000_000, data=data)
        self.client.publish(f"{self.root}/event", event.model_dump_json(), qos=1)
