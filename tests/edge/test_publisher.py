"""The event log reaches MQTT in order, and what was committed while the broker was away follows."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from pathlib import Path

from edge.publisher import EventPublisher
from edge.queue import QueueEngine
from tests.conftest import Mosquitto, wait_for_port
from tests.mqtt_listener import Listener


def _events(seen: list[tuple[str, dict, bool]]) -> list[dict]:  # type: ignore[type-arg]
    return [p for t, p, _ in seen if "/event/" in t]


async def _run(publisher: EventPublisher) -> asyncio.Task[None]:
    return asyncio.create_task(publisher.run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_events_are_published_in_order_with_retained_state(
    engine: QueueEngine, mosquitto: Mosquitto
) -> None:
    listener = Listener(mosquitto.host, mosquitto.port, "smarthall/test-hall/#")
    publisher = EventPublisher(
        engine, host=mosquitto.host, port=mosquitto.port, prefix="smarthall", hall_id="test-hall"
    )
    task = await _run(publisher)
    try:
        engine.window_login("w1", engine.hall.staff["s1"])
        engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="k")
        engine.call_next("w1", "staff:s1")
        seen = await asyncio.to_thread(
            listener.wait_for,
            lambda s: len(_events(s)) >= 4,  # config, login, issued, called
        )
        events = _events(seen)
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        assert [e["type"] for e in events][-3:] == [
            "window.login",
            "ticket.issued",
            "ticket.called",
        ]
        assert all(e["v"] == 1 for e in events)
        topics = {t for t, _, _ in seen}
        assert "smarthall/test-hall/event/ticket.called" in topics
        assert "smarthall/test-hall/window/w1/state" in topics
        assert "smarthall/test-hall/area/main/status" in topics
    finally:
        await _stop(task)
        listener.close()
    late = Listener(mosquitto.host, mosquitto.port, "smarthall/test-hall/window/w1/state")
    try:
        seen = await asyncio.to_thread(late.wait_for, lambda s: len(s) >= 1)
        _topic, state, retained = seen[0]
        assert retained and state["current"]["number"] == "A001"
    finally:
        late.close()


async def test_events_committed_while_the_broker_is_down_arrive_after_it_returns(
    engine: QueueEngine, tmp_path: Path
) -> None:
    from tests.conftest import free_port

    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    publisher = EventPublisher(
        engine, host="127.0.0.1", port=port, prefix="smarthall", hall_id="test-hall"
    )
    task = await _run(publisher)  # the broker is not there yet
    engine.window_login("w1", engine.hall.staff["s1"])
    numbers = [
        engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="k")[
            "number"
        ]
        for _ in range(5)
    ]
    await asyncio.sleep(0.5)
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        listener = Listener("127.0.0.1", port, "smarthall/test-hall/event/#")
        try:
            seen = await asyncio.to_thread(
                listener.wait_for,
                lambda s: sum(p["type"] == "ticket.issued" for _, p, _ in s) >= 5,
                30,
            )
            issued = [p["ticket"]["number"] for _, p, _ in seen if p["type"] == "ticket.issued"]
            assert issued[:5] == numbers
        finally:
            listener.close()
        mark = await asyncio.to_thread(_wait_mark, engine)
        assert mark == engine.store.events_after(0, 10_000)[-1].seq
    finally:
        await _stop(task)
        broker.terminate()
        broker.wait(10)


def _wait_mark(engine: QueueEngine) -> int:
    import time

    for _ in range(200):
        mark = int(engine.store.meta("mqtt.published_seq") or 0)
        if mark == engine.store.events_after(0, 10_000)[-1].seq:
            return mark
        time.sleep(0.05)
    return mark
