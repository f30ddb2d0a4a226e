"""Paper and offline status from fake printers that answer DLE EOT like the real ones."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Iterator

import pytest

from edge.devices import profiles
from edge.devices.printer.profile import PrinterProfile
from edge.devices.printer.transport import (
    PrinterAddressError,
    PrinterOffline,
    PrinterStatus,
    open_printer,
    status_from_bytes,
)
from tests.conftest import free_port

# Real-time status bytes (DLE EOT 1 printer, DLE EOT 4 paper roll sensor), Epson ESC/POS.
ANSWERS = {
    "ok": {1: 0x12, 4: 0x12},
    "near_end": {1: 0x12, 4: 0x1E},
    "out": {1: 0x1A, 4: 0x72},  # paper end also takes the printer offline
}
TIMEOUT = 0.3


@pytest.fixture(scope="module")
def printers() -> dict[str, PrinterProfile]:
    found = profiles.load_catalogue().kind("printers")
    return {k: v for k, v in found.items() if isinstance(v, PrinterProfile)}


class FakePrinter:
    """Answers DLE EOT n on a file descriptor, or stays silent; keeps what it was sent."""

    def __init__(self, answers: dict[int, int] | None) -> None:
        self.answers = answers
        self.received = bytearray()
        self._stop = threading.Event()

    def serve(self, read: int, write: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([read], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(read, 256)
            except OSError:
                return
            if not chunk:
                return
            self.received += chunk
            while self.answers is not None and (at := self.received.find(b"\x10\x04")) >= 0:
                if at + 2 >= len(self.received):
                    break
                n = self.received[at + 2]
                del self.received[at : at + 3]
                os.write(write, bytes([self.answers[n]]))

    def start(self, read: int, write: int) -> threading.Thread:
        thread = threading.Thread(target=self.serve, args=(read, write), daemon=True)
        thread.start()
        return thread

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join(timeout=2)


@pytest.fixture
def serial_printer(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakePrinter]]:
    """A fake printer behind a pseudo-terminal; the test asks it by name (`ok`, `silent`…)."""
    master, slave = os.openpty()
    fake = FakePrinter(ANSWERS.get(request.param))
    thread = fake.start(master, master)
    try:
        yield os.ttyname(slave), fake
    finally:
        fake.stop(thread)
        os.close(slave)
        os.close(master)


@pytest.fixture
def tcp_printer(request: pytest.FixtureRequest) -> Iterator[tuple[int, FakePrinter]]:
    server = socket.create_server(("127.0.0.1", free_port()))
    port = server.getsockname()[1]
    fake = FakePrinter(ANSWERS.get(request.param))
    served: list[tuple[socket.socket, threading.Thread]] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        served.append((conn, fake.start(conn.fileno(), conn.fileno())))

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield port, fake
    finally:
        server.close()
        acceptor.join(timeout=2)
        for conn, thread in served:
            fake.stop(thread)
            conn.close()


@pytest.mark.parametrize(
    ("serial_printer", "expected"),
    [
        ("ok", PrinterStatus.OK),
        ("near_end", PrinterStatus.PAPER_NEAR_END),
        ("out", PrinterStatus.PAPER_OUT),
        ("silent", PrinterStatus.OFFLINE),
    ],
    indirect=["serial_printer"],
)
def test_a_serial_printer_reports_its_paper(printers, serial_printer, expected):
    path, _ = serial_printer
    with open_printer(printers["zjiang-pos-5890"], f"serial:{path}", timeout=TIMEOUT) as link:
        assert link.status() is expected


@pytest.mark.parametrize(
    ("tcp_printer", "expected"),
    [("near_end", PrinterStatus.PAPER_NEAR_END), ("silent", PrinterStatus.OFFLINE)],
    indirect=["tcp_printer"],
)
def test_a_network_printer_reports_its_paper(printers, tcp_printer, expected):
    port, _ = tcp_printer
    with open_printer(
        printers["xprinter-xp-80c"], f"tcp:127.0.0.1:{port}", timeout=TIMEOUT
    ) as link:
        assert link.status() is expected


@pytest.mark.parametrize("serial_printer", ["ok"], indirect=True)
def test_a_job_reaches_the_printer(printers, serial_printer):
    path, fake = serial_printer
    with open_printer(printers["zjiang-pos-5890"], path, timeout=TIMEOUT) as link:
        link.send(b"\x1b@A012\n")
        assert link.status() is PrinterStatus.OK  # answered after the job: the job arrived
    assert bytes(fake.received).startswith(b"\x1b@A012\n")


def test_nobody_listening_is_offline(printers):
    link = open_printer(
        printers["xprinter-xp-80c"], f"tcp:127.0.0.1:{free_port()}", timeout=TIMEOUT
    )
    assert link.status() is PrinterStatus.OFFLINE
    with pytest.raises(PrinterOffline):
        link.send(b"\x1b@")


def test_an_address_the_profile_cannot_use_is_refused(printers):
    with pytest.raises(PrinterAddressError, match="no tcp transport"):
        open_printer(printers["zjiang-pos-5890"], "tcp:127.0.0.1")
    with pytest.raises(PrinterAddressError, match="use serial"):
        open_printer(printers["zjiang-pos-5890"], "lpt1")


def test_status_bytes_are_read_as_the_manual_says():
    assert status_from_bytes(b"\x12", b"\x12") is PrinterStatus.OK
    assert status_from_bytes(b"\x12", b"\x1e") is PrinterStatus.PAPER_NEAR_END
    assert status_from_bytes(b"\x12", b"\x16") is PrinterStatus.PAPER_NEAR_END
    assert status_from_bytes(b"\x1a", b"\x72") is PrinterStatus.PAPER_OUT
    assert status_from_bytes(b"\x1a", b"\x12") is PrinterStatus.OFFLINE  # cover open, say
    assert status_from_bytes(b"", b"") is PrinterStatus.OFFLINE
    assert status_from_bytes(b"A", b"") is PrinterStatus.OFFLINE  # not a status byte
