"""A call at the counter shows on the window's LED bar and on the area's central LED screen."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from edge.devices.led.profile import LedProfile
from edge.devices.led.simulator import LedSimulator
from edge.devices.profiles import load_catalogue
from edge.devices.registry import DeviceRegistry
from edge.devices.screens import LedScreens
from edge.queue import QueueEngine
from tests.conftest import until


@contextlib.contextmanager
def controller(profile_id: str) -> Iterator[tuple[LedSimulator, int]]:
    """A simulated LED controller listening on a free TCP port, as a networked one does."""
    profile = load_catalogue().get("leds", profile_id)
    assert isinstance(profile, LedProfile)
    simulator = LedSimulator(profile)
    server = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                threading.Thread(target=simulator.serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield simulator, server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def registry(engine: QueueEngine) -> DeviceRegistry:
    return DeviceRegistry(engine.store, prefix="smarthall", hall="test-hall")


async def test_the_window_bar_and_the_central_screen_follow_the_counter(
    engine: QueueEngine, registry: DeviceRegistry
) -> None:
    with (
        controller("onbon-bx-5k1-window-128x32") as (bar, bar_port),
        controller("huidu-sdk2-hall-192x96") as (board, board_port),
    ):
        now = engine.clock.now_ms()
        registry.register(
            now, device_id="bar-w1", kind="window_display", window="w1",
            profile="onbon-bx-5k1-window-128x32", connection=f"127.0.0.1:{bar_port}",
        )  # fmt: skip
        registry.register(
            now, device_id="board-main", kind="central_display", area="main",
            profile="huidu-sdk2-hall-192x96", connection=f"127.0.0.1:{board_port}",
        )  # fmt: skip
        screens = LedScreens(engine, registry, load_catalogue())
        task = asyncio.create_task(screens.run())
        try:
            engine.window_login("w1", engine.hall.staff["s1"])
            engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="k")
            engine.call_next("w1", "staff:s1")
            await until(lambda: any("A001" in line for line in bar.screen))
            await until(lambda: any("A001" in row and "1" in row for row in board.screen))
            engine.pause("w1", "staff:s1")
            await until(lambda: any("暂停" in line for line in bar.screen))
            assert screens.failures == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_dead_screen_is_counted_and_the_others_carry_on(
    engine: QueueEngine, registry: DeviceRegistry
) -> None:
    dead = socket.create_server(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    with controller("onbon-bx-5k1-window-128x16") as (bar, port):
        now = engine.clock.now_ms()
        registry.register(
            now, device_id="bar-dead", kind="window_display", window="w1",
            profile="onbon-bx-5k1-window-128x16", connection=f"127.0.0.1:{dead_port}",
        )  # fmt: skip
        registry.register(
            now, device_id="bar-w1", kind="window_display", window="w1",
            profile="onbon-bx-5k1-window-128x16", connection=f"127.0.0.1:{port}",
        )  # fmt: skip
        screens = LedScreens(engine, registry, load_catalogue())
        task = asyncio.create_task(screens.run())
        try:
            engine.window_login("w1", engine.hall.staff["s1"])
            engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="k")
            engine.call_next("w1", "staff:s1")
            await until(lambda: any("A001" in line for line in bar.screen))
            assert screens.failures >= 1
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
