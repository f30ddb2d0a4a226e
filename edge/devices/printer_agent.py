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
import logging
from pathlib import Path
from typing import Any, Protocol

from edge.devices.agent import DeviceAgent
from edge.devices.printer.image import render_png
from edge.devices.printer.profile import PrinterProfile
from edge.devices.printer.transport import PrinterError, PrinterLink, PrinterStatus
from sync.devicebus import DeviceCommand

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


class PrinterAgent(DeviceAgent):
    commands = ("print",)
    firmware = "smarthall-printer-agent"

    def __init__(self, *, paper: Paper, **agent: Any) -> None:
        super().__init__(**agent)
        self.paper = paper
        self.printed: list[str] = []
        self.last_status: PrinterStatus | None = None

    async def tick(self) -> None:
        status = await asyncio.to_thread(self.paper.status)
        if status != self.last_status:
            self.last_status = status
            self.event("printer.status", {"status": status.value})

    def telemetry(self) -> dict[str, float | int | str | bool]:
        status = self.last_status.value if self.last_status else "unknown"
        return {"printed": len(self.printed), "paper": status}

    def command(self, name: str, command: DeviceCommand) -> None:
        try:
            job = base64.b64decode(str(command.data["job"]), validate=True)
        except (KeyError, binascii.Error) as exc:
            log.warning("printer agent: a print job it cannot read: %s", exc)
            return
        try:
            self.paper.print(command.id, job)
        except PrinterError as exc:
            log.warning("printer agent: job %s failed: %s", command.id, exc)
            self.event("printer.failed", {"command": command.id, "error": str(exc)})
            return
        self.printed.append(command.id)
        self.event("printer.printed", {"command": command.id, "bytes": len(job)})
