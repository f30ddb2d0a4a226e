"""A booking QR scanned at the kiosk: checked in, printed; anything else is refused visibly."""

from __future__ import annotations

import asyncio
import json

from edge.devices.bus import DeviceBus
from edge.devices.printing import TicketPrinting
from edge.devices.profiles import load_catalogue
from edge.devices.registry import DeviceRegistry
from edge.devices.scanning import ScanCheckIn, booking_code
from edge.queue import QueueEngine
from sync.hallsetup import Booking
from tests.conftest import WORKDAY, Mosquitto, stop, until
from tests.edge.hall import booking
from tests.mqtt_listener import Listener

PREFIX, HALL = "smarthall", "test-hall"


def test_a_booking_code_is_read_from_the_qr_address_or_bare() -> None:
    assert booking_code("https://wx.example/b/QR123456?s=sig") == "QR123456"
    assert booking_code(" QR123456\n") == "QR123456"
    assert booking_code("https://other.example/page") is None
    assert booking_code("A B") is None


async def test_a_scanned_booking_is_checked_in_and_its_ticket_printed(
    engine: QueueEngine, mosquitto: Mosquitto
) -> None:
    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    now = engine.clock.now_ms()
    registry.register(now, device_id="scan-1", kind="scanner", area="main", attached_to="kiosk-1")
    registry.register(
        now, device_id="printer-1", kind="printer", profile="zjiang-pos-5890",
        attached_to="kiosk-1",
    )  # fmt: skip
    engine.load_bookings(
        [Booking.model_validate(booking("QR123456", "license", WORKDAY, "09:30", "10:00"))]
    )
    engine.window_login("w1", engine.hall.staff["s1"])
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL
    )
    tasks = [
        asyncio.create_task(t.run())
        for t in (
            bus,
            ScanCheckIn(engine, registry),
            TicketPrinting(engine, registry, bus, load_catalogue()),
        )
    ]
    print_jobs = Listener(mosquitto.host, mosquitto.port, f"{PREFIX}/{HALL}/device/printer-1/cmd/#")
    scanner = Listener(mosquitto.host, mosquitto.port, "unused/#")
    try:
        await asyncio.wait_for(bus.subscribed(), 10)
        for text in ("https://wx.example/b/QR123456?s=x", "hello"):
            scan = {"v": 1, "type": "scanner.scanned", "ts": 1, "data": {"text": text}}
            scanner.client.publish(
                f"{PREFIX}/{HALL}/device/scan-1/event", json.dumps(scan), qos=1
            ).wait_for_publish(5)
        await until(
            lambda: any(e.type == "scanner.refused" for e in engine.store.events_after(0, 500))
        )
        issued = [e for e in engine.store.events_after(0, 500) if e.type == "ticket.issued"]
        assert len(issued) == 1 and issued[0].payload["ticket"]["kind"] == "booking"
        await asyncio.to_thread(print_jobs.wait_for, lambda s: len(s) == 1)
        refused = [e for e in engine.store.events_after(0, 500) if e.type == "scanner.refused"]
        assert refused[0].payload["code"] == "booking_not_found"
    finally:
        print_jobs.close()
        scanner.close()
        await stop(tasks)


async def test_the_scanner_agent_turns_key_events_into_a_check_in(
    engine: QueueEngine, mosquitto: Mosquitto
) -> None:
    from edge.devices.scanner_agent import ScannerAgent
    from tests.edge.devices.test_readers import typed

    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    registry.register(
        engine.clock.now_ms(), device_id="scan-1", kind="scanner", area="main",
        attached_to="kiosk-1",
    )  # fmt: skip
    engine.load_bookings(
        [Booking.model_validate(booking("QR654321", "license", WORKDAY, "09:30", "10:00"))]
    )
    engine.window_login("w1", engine.hall.staff["s1"])
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL
    )
    agent = ScannerAgent(
        source=typed("https://wx.example/b/QR654321"), device="scan-1", host=mosquitto.host,
        port=mosquitto.port, prefix=PREFIX, hall=HALL, interval=0.05,
    )  # fmt: skip
    tasks = [
        asyncio.create_task(bus.run()),
        asyncio.create_task(ScanCheckIn(engine, registry).run()),
    ]
    try:
        await asyncio.wait_for(bus.subscribed(), 10)
        tasks.append(asyncio.create_task(agent.run()))
        await until(
            lambda: any(e.type == "ticket.issued" for e in engine.store.events_after(0, 500))
        )
        assert agent.scans == 1
        assert bus.online.get("scan-1") is True
    finally:
        await stop(tasks)


async def test_a_booking_made_while_the_hall_was_offline_is_checked_in_on_its_signature(
    engine: QueueEngine, mosquitto: Mosquitto
) -> None:
    from sync.bookingtoken import new_private_key, sign_booking

    cloud_key, stranger = new_private_key(), new_private_key()
    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    registry.register(
        engine.clock.now_ms(), device_id="scan-1", kind="scanner", area="main",
        attached_to="kiosk-1",
    )  # fmt: skip
    engine.window_login("w1", engine.hall.staff["s1"])
    # never synced to this edge: the cloud took it while the hall's link was down
    unknown = Booking.model_validate(booking("NEW00001", "license", WORKDAY, "09:30", "10:00"))
    other = Booking.model_validate(booking("NEW00002", "license", WORKDAY, "09:30", "10:00"))
    scans = [
        f"https://wx.example/b/{sign_booking('test-hall', unknown, cloud_key)}",
        sign_booking("test-hall", other, stranger),  # a forgery
        sign_booking("another-hall", other, cloud_key),  # genuine, but not this hall's
    ]
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL
    )
    checkin = ScanCheckIn(engine, registry, booking_keys=[cloud_key.public_key()])
    tasks = [asyncio.create_task(bus.run()), asyncio.create_task(checkin.run())]
    scanner = Listener(mosquitto.host, mosquitto.port, "unused/#")
    try:
        await asyncio.wait_for(bus.subscribed(), 10)
        for text in scans:
            scan = {"v": 1, "type": "scanner.scanned", "ts": 1, "data": {"text": text}}
            scanner.client.publish(
                f"{PREFIX}/{HALL}/device/scan-1/event", json.dumps(scan), qos=1
            ).wait_for_publish(5)
        events = lambda: engine.store.events_after(0, 500)  # noqa: E731
        await until(lambda: len([e for e in events() if e.type == "scanner.refused"]) == 2)
        issued = [e for e in events() if e.type == "ticket.issued"]
        assert len(issued) == 1 and issued[0].payload["ticket"]["booking_id"] == "bk-NEW00001"
        refused = [e.payload for e in events() if e.type == "scanner.refused"]
        assert [r["code"] for r in refused] == ["invalid_booking_token"] * 2
        assert refused[0]["message"] == "预约凭证无效,请到导办台咨询"
        known = engine.conn.execute("SELECT id FROM bookings ORDER BY id").fetchall()
        assert [r["id"] for r in known] == ["bk-NEW00001"]  # the forgeries left nothing
    finally:
        scanner.close()
        await stop(tasks)
