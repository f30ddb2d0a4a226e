"""A card through a real PC/SC stack: pcscd with the vpcd driver and a virtual card of ours.

The virtual card speaks vpcd's protocol (2-byte big-endian length, then a control byte or an
APDU) on the port the vpcd driver listens on, as `vicc` does; it answers PC/SC's Get Data with
its UID, like a staff card on a contactless reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from smartcard.System import readers

from edge.devices.bus import DeviceBus
from edge.devices.cardlogin import CardLogin
from edge.devices.cardreader import CardReaderAgent, CardReadError, read_card
from edge.devices.readers import CardReaderProfile
from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine
from sync.hallsetup import HallSetup
from tests.conftest import Mosquitto, stop, until
from tests.edge.hall import small_hall

VPCD_PORT = 35963  # Debian's /etc/reader.conf.d/vpcd, for a pcscd the machine already runs
# one pcscd per machine: every test here runs in the same xdist worker
pytestmark = pytest.mark.xdist_group("pcscd")
ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
UID = bytes.fromhex("04A2245A6B1C80")


class VirtualCard:
    """A contactless card in the virtual reader, until `remove()`."""

    def __init__(self, uid: bytes, port: int) -> None:
        self.uid = uid
        self._stop = threading.Event()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the card is taken away: the socket closes
            self._exchange()

    def _exchange(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                header = self.sock.recv(2)
            except TimeoutError:
                continue
            if len(header) < 2:
                return
            (length,) = struct.unpack(">H", header)
            message = b""
            while len(message) < length:
                message += self.sock.recv(length - len(message))
            answer = self._answer(message)
            if answer is not None:
                self.sock.sendall(struct.pack(">H", len(answer)) + answer)

    def _answer(self, message: bytes) -> bytes | None:
        if len(message) == 1:  # 0 power off, 1 power on, 2 reset, 4 get ATR
            return ATR if message[0] == 4 else None
        if message[:2] == b"\xff\xca":
            return self.uid + b"\x90\x00"
        return b"\x6d\x00"  # instruction not supported

    def remove(self) -> None:
        """Take the card away, and wait until PC/SC has seen it go."""
        self._stop.set()
        self.sock.close()
        self.thread.join(5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                read_card(PROFILE, timeout=0.2)
            except CardReadError as exc:
                if "no card" in str(exc):
                    return
            time.sleep(0.1)
        raise AssertionError("PC/SC still sees the removed card")


def _vpcd_port() -> int:
    """A port for the vpcd driver below the ephemeral range, so that the suite's own client
    connections (tens of thousands of them) can never be sitting on it."""
    for port in range(29000, 32000, 7):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port for the vpcd driver")


@pytest.fixture
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """pcscd with the vpcd driver, on a port of its own; started here unless the machine
    already runs one (then Debian's vpcd port). Yields the port the virtual card dials."""
    running = subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode == 0
    proc = None
    port = VPCD_PORT
    if not running:
        port = _vpcd_port()
        conf = tmp_path_factory.mktemp("reader.conf.d")
        (conf / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{port:#X}\n"
            "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
            f"CHANNELID    {port:#X}\n"
        )
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        proc = subprocess.Popen(
            [binary, "-f", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # ready when PC/SC lists the virtual reader
            try:
                if any("Virtual PCD" in str(r) for r in readers()):
                    break
            except Exception:  # pcscd is still starting
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("pcscd did not come up with the vpcd reader")
        yield port
    finally:  # the pcscd started here never outlives the test, even when it failed to start
        if proc is not None:
            proc.terminate()
            proc.wait(10)


PROFILE = CardReaderProfile(
    id="vpcd", name="Virtual PCD", vendor="vsmartcard", reader_name="Virtual PCD"
)


async def test_a_staff_card_is_read_and_logs_its_staff_member_in_at_the_window(
    pcscd: int, engine: QueueEngine, mosquitto: Mosquitto
) -> None:
    """One scenario, so that the one pcscd of the machine goes through it in order."""
    with pytest.raises(CardReadError, match="no reader"):
        read_card(PROFILE.model_copy(update={"reader_name": "Nothing Like This"}), timeout=1)
    with pytest.raises(CardReadError, match="no card"):
        await asyncio.to_thread(read_card, PROFILE, 1)
    card = await asyncio.to_thread(VirtualCard, UID, pcscd)
    assert await asyncio.to_thread(read_card, PROFILE, 10) == UID.hex().upper()
    await asyncio.to_thread(card.remove)

    setup = small_hall(version=2).model_dump(mode="json")
    setup["staff"][0]["card_no"] = UID.hex().upper()
    engine.apply_setup(HallSetup.model_validate(setup))
    registry = DeviceRegistry(engine.store, prefix="smarthall", hall="h")
    registry.register(engine.clock.now_ms(), device_id="reader-w1", kind="card_reader", window="w1")
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix="smarthall", hall="h"
    )
    agent = CardReaderAgent(
        profile=PROFILE, device="reader-w1", host=mosquitto.host, port=mosquitto.port,
        prefix="smarthall", hall="h", interval=0.1,
    )  # fmt: skip
    tasks = [asyncio.create_task(bus.run()), asyncio.create_task(CardLogin(engine, registry).run())]
    await asyncio.wait_for(bus.subscribed(), 10)
    tasks.append(asyncio.create_task(agent.run()))
    await asyncio.sleep(0.5)
    card = await asyncio.to_thread(VirtualCard, UID, pcscd)
    try:
        await until(lambda: engine.window_status("w1")["status"] == "open", 15)
        assert engine.window_status("w1")["staff"]["id"] == "s1"
    finally:
        await asyncio.to_thread(card.remove)
        await stop(tasks)
