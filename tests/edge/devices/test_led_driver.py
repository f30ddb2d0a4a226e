"""The LED driver on real ports: a pseudo-terminal for RS-485 bars, TCP for the hall screen."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from edge.devices.led import (
    LedConnectionError,
    LedDeviceError,
    LedDisplay,
    LedSimulator,
    LedWriteError,
    board_rows,
)
from edge.devices.led.profile import LedProfile
from tests.conftest import free_port
from tests.edge.devices.test_led_frames import (
    huidu_packets,
    huidu_xml,
    led_profile,
    modbus_unframe,
    onbon_areas,
    onbon_unframe,
)


@dataclass
class Pty:
    master: int
    slave: int
    path: str

    def read(self, done: Callable[[bytes], bool], timeout: float = 2.0) -> bytes:
        """What the driver wrote, once `done` says it is complete."""
        data = b""
        while not done(data):
            ready, _, _ = select.select([self.master], [], [], timeout)
            assert ready, f"nothing more on the line after {data.hex(' ')}"
            data += os.read(self.master, 4096)
        return data


@pytest.fixture
def pty() -> Iterator[Pty]:
    master, slave = os.openpty()
    line = Pty(master, slave, os.ttyname(slave))
    yield line
    for fd in (master, slave):
        with contextlib.suppress(OSError):  # a test may have closed it
            os.close(fd)


@dataclass
class TcpController:
    """A controller on a loopback port: records what it gets, answers as `simulator` does."""

    simulator: LedSimulator | None
    answer: bytes = b""
    received: bytearray = field(default_factory=bytearray)
    port: int = 0

    def serve(self, server: socket.socket) -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(4096):
                self.received += data
                reply = self.simulator.feed(data) if self.simulator else self.answer
                if reply:
                    conn.sendall(reply)


def tcp_controller(simulator: LedSimulator | None, answer: bytes = b"") -> TcpController:
    controller = TcpController(simulator, answer)
    server = socket.create_server(("127.0.0.1", 0))
    controller.port = server.getsockname()[1]

    def run() -> None:
        with server:
            controller.serve(server)

    threading.Thread(target=run, daemon=True).start()
    return controller


def onbon_frame_done(data: bytes) -> bool:
    return data.endswith(b"\x5a")


def test_a_call_reaches_the_window_bar_over_rs485(pty: Pty) -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16", frame={"address": 3})
    with LedDisplay(profile, pty.path, timeout=1.0) as bar:
        shown = bar.show_call("A012", 3)
    assert shown == "A012号到3号窗口"  # the longest wording that fits 8 characters
    fields = onbon_unframe(pty.read(onbon_frame_done))
    assert fields["dst"] == 3
    [area] = onbon_areas(fields["data"])["areas"]
    assert area["text"] == "A012号到3号窗口" and area["display"] == 0x01


def test_a_marquee_scrolls_on_a_bar_that_can_scroll(pty: Pty) -> None:
    notice = "今日办理时间 9:00-17:00，请取号后等候叫号"
    with LedDisplay(led_profile("onbon-bx-5k1-window-128x16"), pty.path) as bar:
        assert bar.marquee(notice) == notice
    [area] = onbon_areas(onbon_unframe(pty.read(onbon_frame_done))["data"])["areas"]
    assert area["text"] == notice and area["display"] == 0x03


def test_paused_and_backstage_are_said_in_chinese(pty: Pty) -> None:
    with LedDisplay(led_profile("onbon-bx-5k1-window-128x16"), pty.path) as bar:
        assert bar.show_paused() == "暂停服务"
        first = pty.read(onbon_frame_done)
        assert bar.show_backstage() == "后台处理中"
        second = pty.read(onbon_frame_done)
    texts = [onbon_areas(onbon_unframe(f)["data"])["areas"][0]["text"] for f in (first, second)]
    assert texts == ["暂停服务", "后台处理中"]


def test_a_segment_display_shows_ticket_and_window(pty: Pty) -> None:
    with LedDisplay(led_profile("led-485-046", frame={"address": 9}), pty.path) as bar:
        assert bar.show_call("A012", 3) == "A012 3"
    fields = modbus_unframe(pty.read(lambda d: len(d) >= 9 + 6))
    assert (fields["slave"], fields["function"]) == (9, 0x10)
    assert fields["pdu"][5:] == bytes.fromhex("77 3F 06 5B 00 4F")


def test_a_four_digit_display_differs_only_in_data_and_shows_the_ticket(pty: Pty) -> None:
    profile = led_profile("led-485-046", capabilities={"chars_per_line": 4})
    with LedDisplay(profile, pty.path) as bar:
        assert bar.show_call("A012", 3) == "A012"
        assert bar.show_welcome("欢迎光临") == "HELL"  # no Chinese font, no scrolling: cut
        assert bar.marquee("12345678") == "1234"


def test_ping_is_answered_by_a_simulated_bar(pty: Pty) -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16")
    simulator, stop = LedSimulator(profile), threading.Event()

    def controller() -> None:
        while not stop.is_set():
            if not select.select([pty.master], [], [], 0.05)[0]:
                continue
            if answer := simulator.feed(os.read(pty.master, 4096)):
                os.write(pty.master, answer)

    thread = threading.Thread(target=controller, daemon=True)
    thread.start()
    try:
        with LedDisplay(profile, pty.path, timeout=2.0) as bar:
            assert bar.ping()
            bar.show_welcome("欢迎光临")
    finally:
        stop.set()
        thread.join()
    assert [c.kind for c in simulator.commands] == ["ping", "show"]


def test_a_silent_bar_fails_its_ping(pty: Pty) -> None:
    with LedDisplay(led_profile("led-485-046"), pty.path, timeout=0.2) as bar:
        assert not bar.ping()


def test_the_central_screen_over_tcp_shows_the_board() -> None:
    profile = led_profile("huidu-sdk2-hall-192x96")
    simulator = LedSimulator(profile)
    controller = tcp_controller(simulator)
    rows = board_rows([("A012", "3"), ("B007", "5")], {"综合业务": 12, "不动产登记": 4})
    screen = LedDisplay(profile, f"127.0.0.1:{controller.port}")
    assert screen.show_board(rows) == [*rows, "", ""]  # connects and handshakes first
    assert screen.ping()
    screen.close()
    assert simulator.screen == [*rows, "", ""]
    documents = huidu_xml(huidu_packets(bytes(controller.received)))
    assert [d.find("in").get("method") for d in documents] == ["GetIFVersion", "AddProgram"]  # type: ignore[union-attr]
    assert documents[1].get("guid") not in ("", "##GUID"), "the screen's GUID is used"


def test_a_bar_behind_a_serial_to_ethernet_converter_acknowledges() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x32", frame={"acknowledge": True})
    controller = tcp_controller(LedSimulator(profile))
    with LedDisplay(profile, f"socket://127.0.0.1:{controller.port}") as bar:
        assert bar.show_call("A012", 3) == "请 A012 号到 3 号窗口"
    [area] = onbon_areas(onbon_unframe(bytes(controller.received))["data"])["areas"]
    assert area["text"] == "请 A012 号到 3 号窗口" and area["display"] == 0x02  # type_out


def test_a_screen_that_answers_with_an_error_raises_it() -> None:
    busy = (6).to_bytes(2, "little") + (0x2000).to_bytes(2, "little") + (4).to_bytes(2, "little")
    controller = tcp_controller(None, busy)
    profile = led_profile("huidu-sdk2-hall-192x96")
    with pytest.raises(LedDeviceError, match="error answer 4"):
        LedDisplay(profile, f"127.0.0.1:{controller.port}").show_board(["请 A012 号到 3 号窗口"])


def test_a_dead_tcp_port_raises_a_connection_error() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16")
    with pytest.raises(LedConnectionError, match=r"cannot open socket://127\.0\.0\.1"):
        LedDisplay(profile, f"127.0.0.1:{free_port()}", timeout=0.5).show_paused()


def test_a_missing_serial_device_raises_a_connection_error(tmp_path: object) -> None:
    with pytest.raises(LedConnectionError):
        LedDisplay(led_profile("led-485-046"), "/dev/ttyLED-missing").show_paused()


def test_a_line_that_went_away_raises_a_write_error(pty: Pty) -> None:
    bar = LedDisplay(led_profile("onbon-bx-5k1-window-128x16"), pty.path, timeout=0.5)
    bar.open()
    os.close(pty.master)
    os.close(pty.slave)
    with pytest.raises(LedWriteError):
        bar.show_paused()
    bar.close()


def test_at_host_uses_the_profiles_tcp_port() -> None:
    profile: LedProfile = led_profile("huidu-sdk2-hall-192x96")
    assert LedDisplay.at_host(profile, "10.0.0.8").url == "socket://10.0.0.8:10001"
    with pytest.raises(LedConnectionError, match="no TCP transport"):
        LedDisplay.at_host(led_profile("led-485-046"), "10.0.0.9")
