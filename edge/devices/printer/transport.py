"""Connect to a ticket printer (serial, TCP or USB), send jobs and read its paper status."""

from __future__ import annotations

import enum
import logging
import socket
from types import TracebackType
from typing import Any

from escpos.exceptions import DeviceNotFoundError  # type: ignore[import-untyped]
from escpos.printer import Network, Serial, Usb  # type: ignore[import-untyped]
from serial import SerialTimeoutException
from usb.core import USBTimeoutError  # type: ignore[import-untyped]

from edge.devices.printer.profile import PrinterProfile
from edge.devices.profiles import SerialTransport, TcpTransport, UsbTransport

__all__ = [
    "PrinterAddressError",
    "PrinterError",
    "PrinterLink",
    "PrinterOffline",
    "PrinterStatus",
    "PrinterTimeout",
    "open_printer",
    "status_from_bytes",
]

log = logging.getLogger(__name__)

STATUS_PRINTER = b"\x10\x04\x01"  # DLE EOT 1: bit 3 = offline
STATUS_PAPER = b"\x10\x04\x04"  # DLE EOT 4: bits 2,3 = near end; bits 5,6 = out


class PrinterError(Exception):
    """A ticket printer could not do what was asked."""


class PrinterAddressError(PrinterError):
    """The device address does not fit the profile's transports."""


class PrinterOffline(PrinterError):
    """The printer cannot be reached, or stopped answering."""


class PrinterTimeout(PrinterOffline):
    """The printer took longer than the timeout."""


class PrinterStatus(enum.StrEnum):
    """What the kiosk needs to know before printing; not OK → offer a paperless ticket."""

    OK = "ok"
    PAPER_NEAR_END = "paper_near_end"
    PAPER_OUT = "paper_out"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # the printer has no real-time status (no DLE EOT)


def status_from_bytes(printer: bytes, paper: bytes) -> PrinterStatus:
    """The status from the answers to DLE EOT 1 and DLE EOT 4 (empty = no answer)."""
    if not _is_status(printer):
        return PrinterStatus.OFFLINE
    if _is_status(paper) and paper[0] & 0x60:
        return PrinterStatus.PAPER_OUT
    if printer[0] & 0x08:
        return PrinterStatus.OFFLINE
    if _is_status(paper) and paper[0] & 0x0C:
        return PrinterStatus.PAPER_NEAR_END
    return PrinterStatus.OK


def open_printer(profile: PrinterProfile, address: str, *, timeout: float = 2.0) -> PrinterLink:
    """A link to the printer at `address`, with the profile's settings for that transport.

    `address` is `serial:/dev/ttyUSB0` (or a bare `/dev/...` path), `tcp:HOST[:PORT]` or
    `usb[:VVVV:PPPP]` (hex ids; the profile's ids when left out). Nothing is opened yet.
    """
    scheme, _, rest = address.partition(":")
    if address.startswith("/dev/"):
        scheme, rest = "serial", address
    wanted = {"serial": SerialTransport, "tcp": TcpTransport, "usb": UsbTransport}.get(scheme)
    if wanted is None:
        raise PrinterAddressError(f"{address!r}: use serial:/dev/…, tcp:host[:port] or usb[:v:p]")
    transport = next((t for t in profile.transports if isinstance(t, wanted)), None)
    if transport is None:
        raise PrinterAddressError(f"{profile.id} has no {scheme} transport in its profile")
    device: Any
    if isinstance(transport, SerialTransport):
        device = Serial(
            devfile=rest,
            baudrate=transport.baudrate,
            bytesize=transport.bytesize,
            parity=transport.parity,
            stopbits=transport.stopbits,
            timeout=timeout,
            dsrdtr=False,
        )
    elif isinstance(transport, TcpTransport):
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
        try:
            device = Network(host=host or rest, port=int(port or transport.port), timeout=timeout)
        except ValueError as exc:
            raise PrinterAddressError(f"{address!r}: bad port") from exc
    else:
        ids = rest.split(":") if rest else []
        try:
            vendor, product = (
                (int(i, 16) for i in ids)
                if ids
                else (
                    transport.vendor_id,
                    transport.product_id,
                )
            )
        except ValueError as exc:
            raise PrinterAddressError(f"{address!r}: usb ids are two hex numbers") from exc
        device = Usb(vendor, product, timeout=int(timeout * 1000))
    return PrinterLink(profile, device, address, timeout)


class PrinterLink:
    """One open connection to a printer; use as a context manager."""

    def __init__(self, profile: PrinterProfile, device: Any, address: str, timeout: float):
        self.profile = profile
        self.address = address
        self.timeout = timeout
        self._device = device
        self._open = False

    def __enter__(self) -> PrinterLink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        if self._open:
            return
        try:
            self._device.open(raise_not_found=True)
        except DeviceNotFoundError as exc:
            raise PrinterOffline(f"{self.address}: {exc}") from exc
        except OSError as exc:  # pyusb's USBError is an OSError too
            raise PrinterOffline(f"{self.address}: {exc}") from exc
        raw = self._device.device
        if hasattr(raw, "write_timeout"):
            raw.write_timeout = self.timeout
        self._open = True

    def close(self) -> None:
        if self._open:
            try:
                self._device.close()
            except OSError as exc:
                log.debug("%s: closing: %s", self.address, exc)
            self._open = False

    def send(self, job: bytes) -> None:
        """Send a print job (from `encode.ticket_bytes`)."""
        self.open()
        try:
            self._device._raw(job)
        except (TimeoutError, SerialTimeoutException, USBTimeoutError) as exc:
            raise PrinterTimeout(f"{self.address}: write timed out") from exc
        except OSError as exc:
            raise PrinterOffline(f"{self.address}: {exc}") from exc

    def status(self) -> PrinterStatus:
        """Ask DLE EOT 1 then DLE EOT 4; no answer within the timeout is `offline`."""
        if not self.profile.capabilities.status_dle_eot:
            return PrinterStatus.UNKNOWN
        try:
            self.open()
            printer = self._ask(STATUS_PRINTER)
            paper = self._ask(STATUS_PAPER) if printer else b""
        except PrinterOffline as exc:
            log.info("%s: %s", self.address, exc)
            return PrinterStatus.OFFLINE
        status = status_from_bytes(printer, paper)
        log.debug("%s: status %s (%s %s)", self.address, status, printer.hex(), paper.hex())
        return status

    def _ask(self, query: bytes) -> bytes:
        raw = self._device.device
        try:
            if hasattr(raw, "reset_input_buffer"):
                raw.reset_input_buffer()
            self._device._raw(query)
            return self._read_one(raw)
        except (TimeoutError, USBTimeoutError):
            return b""
        except OSError as exc:
            raise PrinterOffline(str(exc)) from exc

    def _read_one(self, raw: Any) -> bytes:
        if isinstance(raw, socket.socket):
            return bytes(raw.recv(1))
        if hasattr(raw, "in_waiting"):  # serial: returns b"" after the timeout
            return bytes(raw.read(1))
        return bytes(raw.read(self._device.in_ep, 1, int(self.timeout * 1000)))[:1]  # pyusb


def _is_status(answer: bytes) -> bool:
    """A real-time status byte has bits 1 and 4 set, bits 0 and 7 clear."""
    return len(answer) == 1 and answer[0] & 0x93 == 0x12
