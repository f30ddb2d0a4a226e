"""What devices publish reaches the log; garbage is counted and dropped; silence is noticed."""

from __future__ import annotations

import asyncio
import contextlib
import json

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.devices.bus import DeviceBus
from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine
from tests.conftest import Mosquitto, until

PREFIX, HALL = "smarthall", "test-hall"
ROOT = f"{PREFIX}/{HALL}/device"


def publisher(broker: Mosquitto, client_id: str, will_device: str = "") -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if will_device:
        client.will_set(f"{ROOT}/{will_device}/online", "0", qos=1, retain=True)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def events(engine: QueueEngine) -> list[tuple[str, dict[str, object]]]:
    return [(e.type, e.payload) for e in engine.store.events_after(0, 10_000)]


async def test_device_events_and_presence_reach_the_log_and_garbage_does_not_stop_it(
    engine: QueueEngine, mosquitto: Mosquitto
) -> None:
    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    registry.register(engine.clock.now_ms(), device_id="printer-1", kind="printer")
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL,
        offline_after=0.5,
    )  # fmt: skip
    task = asyncio.create_task(bus.run())
    device = publisher(mosquitto, "printer-1")
    try:
        await asyncio.wait_for(bus.subscribed(), 5)
        flood = [
            (f"{ROOT}/printer-1/event", b"{not json"),
            (f"{ROOT}/printer-1/event", b'{"v": 1, "type": "Bad Type!", "ts": 1}'),
            (f"{ROOT}/printer-1/event", b'{"v": 2, "type": "x", "ts": 1}'),
            (f"{ROOT}/printer-1/heartbeat", b'{"v": 1, "ts": 1, "extra": 1}'),
            (f"{ROOT}/printer-1/online", b"maybe"),
            (f"{ROOT}/printer-1/event", b"x" * 70_000),
            (f"{ROOT}/stranger/event", b'{"v": 1, "type": "x", "ts": 1}'),
            (f"{ROOT}/printer-1/event", "\udcff".encode("utf-8", "surrogatepass")),
        ] * 25
        for topic, payload in flood:
            device.publish(topic, payload, qos=0)
        good = {"v": 1, "type": "printer.paper_out", "ts": 5, "data": {"sensor": 4}}
        device.publish(f"{ROOT}/printer-1/event", json.dumps(good), qos=1).wait_for_publish(5)
        await until(lambda: bus.handled >= 1)
        await until(lambda: sum(bus.dropped.values()) >= 200)
        assert bus.dropped["unknown_device"] == 25 and bus.dropped["oversized"] == 25
        assert bus.dropped["malformed"] == 150
        logged = [p for t, p in events(engine) if t == "device.event"]
        assert logged == [
            {"device": {"id": "printer-1"}, "type": "printer.paper_out", "ts": 5,
             "data": {"sensor": 4}}
        ]  # fmt: skip
        assert ("device.online", {"device": {"id": "printer-1"}, "reason": "seen"}) in events(
            engine
        )
        await until(lambda: bus.online.get("printer-1") is False, 5)
        assert ("device.offline", {"device": {"id": "printer-1"}, "reason": "silent"}) in events(
            engine
        )
        assert not task.done(), "the bus is still running"
    finally:
        device.loop_stop()
        device.disconnect()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_device_that_drops_off_is_offline_by_its_last_will(
    engine: QueueEngine, mosquitto: Mosquitto
) -> None:
    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    registry.register(engine.clock.now_ms(), device_id="pad-w1", kind="pad", window="w1")
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL,
        offline_after=60,
    )  # fmt: skip
    task = asyncio.create_task(bus.run())
    try:
        await asyncio.wait_for(bus.subscribed(), 5)
        pad = publisher(mosquitto, "pad-w1", will_device="pad-w1")
        pad.publish(f"{ROOT}/pad-w1/online", "1", qos=1, retain=True).wait_for_publish(5)
        await until(lambda: bus.online.get("pad-w1") is True)
        pad._sock.close()  # type: ignore[union-attr]  # the network cable is pulled
        pad.loop_stop()
        await until(lambda: bus.online.get("pad-w1") is False, 60)
        assert ("device.offline", {"device": {"id": "pad-w1"}, "reason": "last_will"}) in events(
            engine
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
