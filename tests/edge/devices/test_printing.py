"""A ticket taken at a kiosk comes out of the kiosk's printer: edge → MQTT → printer agent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PIL import Image

from edge.devices.bus import DeviceBus
from edge.devices.printer.profile import PrinterProfile
from edge.devices.printer.transport import PrinterStatus
from edge.devices.printer_agent import PngPaper, PrinterAgent
from edge.devices.printing import TicketPrinting
from edge.devices.profiles import load_catalogue
from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine
from tests.conftest import Mosquitto, stop, until

PREFIX, HALL = "smarthall", "test-hall"


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
    paper = PngPaper(profile, tmp_path / "paper")
    printer = PrinterAgent(
        device="printer-1", paper=paper, host=mosquitto.host, port=mosquitto.port,
        prefix=PREFIX, hall=HALL, heartbeat_seconds=0.2, interval=0.05,
    )  # fmt: skip
    tasks = [asyncio.create_task(t.run()) for t in (bus, printing, printer)]
    try:
        await asyncio.wait_for(asyncio.gather(bus.subscribed(), printer.ready.wait()), 10)
        engine.window_login("w1", engine.hall.staff["s1"])
        ticket = engine.issue_ticket(
            area="main", business_type="license", source="kiosk", actor="kiosk:kiosk-1"
        )
        await until(lambda: len(printer.printed) == 1)
        image = Image.open(tmp_path / "paper" / f"{ticket['id']}.png")
        assert image.width == round(80 / 25.4 * 203) and image.height > 300
        await until(
            lambda: any(
                e.type == "device.event" and e.payload["type"] == "printer.printed"
                for e in engine.store.events_after(0, 1000)
            )
        )
        assert printing.sent == 1, "kiosk-2's printer got nothing"

        paper.state = PrinterStatus.PAPER_OUT  # the roll runs out
        await until(lambda: bus.printer_status("printer-1") == "paper_out")
        assert any(
            e.type == "device.event" and e.payload["data"] == {"status": "paper_out"}
            for e in engine.store.events_after(0, 1000)
        )
    finally:
        await stop(tasks)


async def test_the_kiosk_is_told_to_offer_a_paperless_ticket_when_its_printer_is_out(
    engine: QueueEngine, mosquitto: Mosquitto, aiohttp_client: Any
) -> None:
    from edge.api.app import create_app
    from edge.config import ApiClient, token_digest

    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    registry.register(
        engine.clock.now_ms(), device_id="printer-1", kind="printer",
        profile="xprinter-xp-80c", attached_to="kiosk-1",
    )  # fmt: skip
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL
    )
    kiosk = ApiClient(id="kiosk-1", kind="kiosk", area="main", token_sha256=token_digest("k1"))
    client = await aiohttp_client(create_app(engine, [kiosk], registry=registry, bus=bus))
    headers = {"Authorization": "Bearer k1"}
    profile = load_catalogue().get("printers", "xprinter-xp-80c")
    assert isinstance(profile, PrinterProfile)
    paper = PngPaper(profile, Path("/nonexistent"))
    agent = PrinterAgent(
        device="printer-1", paper=paper, host=mosquitto.host, port=mosquitto.port,
        prefix=PREFIX, hall=HALL, interval=0.05,
    )  # fmt: skip
    tasks = [asyncio.create_task(bus.run())]

    async def printer() -> dict[str, Any]:
        answer: dict[str, Any] = await (
            await client.get("/api/areas/main/services", headers=headers)
        ).json()
        return answer["printer"]  # type: ignore[no-any-return]

    try:
        await asyncio.wait_for(bus.subscribed(), 10)
        assert (await printer())["paperless"] is True, "not seen yet: offline"
        tasks.append(asyncio.create_task(agent.run()))
        await until(lambda: bus.printer_status("printer-1") == "ok")
        assert await printer() == {"device": "printer-1", "status": "ok", "paperless": False}
        paper.state = PrinterStatus.PAPER_OUT
        await until(lambda: bus.printer_status("printer-1") == "paper_out")
        assert (await printer())["paperless"] is True
    finally:
        await stop(tasks)
