"""A ticket taken at a kiosk comes out of the kiosk's printer: edge → MQTT → printer agent."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from PIL import Image

from edge.devices.bus import DeviceBus
from edge.devices.printer.profile import PrinterProfile
from edge.devices.printing import TicketPrinting
from edge.devices.profiles import load_catalogue
from edge.devices.registry import DeviceRegistry
from edge.devices.simulate import SimulatedPrinter
from edge.queue import QueueEngine
from tests.conftest import Mosquitto

PREFIX, HALL = "smarthall", "test-hall"


async def until(check: object, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


async def test_the_kiosks_printer_prints_the_ticket_it_issued(
    engine: QueueEngine, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    catalogue = load_catalogue()
    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    now = engine.clock.now_ms()
    registry.register(
        now, device_id="printer-1", kind="printer", profile="xprinter-xp-80c",
        attached_to="kiosk-1",
    )  # fmt: skip
    registry.register(
        now, device_id="printer-2", kind="printer", profile="zjiang-pos-5890",
        attached_to="kiosk-2",
    )  # fmt: skip
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL
    )
    printing = TicketPrinting(engine, registry, bus, catalogue, qr_base="https://wx.example")
    profile = catalogue.get("printers", "xprinter-xp-80c")
    assert isinstance(profile, PrinterProfile)
    printer = SimulatedPrinter(
        device="printer-1", profile=profile, host=mosquitto.host, port=mosquitto.port,
        prefix=PREFIX, hall=HALL, out=tmp_path / "paper", heartbeat_seconds=0.2,
    )  # fmt: skip
    tasks = [asyncio.create_task(t.run()) for t in (bus, printing, printer)]
    try:
        await asyncio.wait_for(asyncio.gather(bus.subscribed(), printer.ready.wait()), 10)
        engine.window_login("w1", engine.hall.staff["s1"])
        ticket = engine.issue_ticket(
            area="main", business_type="license", source="kiosk", actor="kiosk:kiosk-1"
        )
        await until(lambda: len(printer.printed) == 1)
        paper = Image.open(printer.printed[0])
        assert paper.width == round(80 / 25.4 * 203) and paper.height > 300
        assert printer.printed[0].name == f"{ticket['id']}.png"
        await until(
            lambda: any(
                e.type == "device.event" and e.payload["type"] == "printer.printed"
                for e in engine.store.events_after(0, 1000)
            )
        )
        assert printing.sent == 1, "kiosk-2's printer got nothing"
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
