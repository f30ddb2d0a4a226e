"""Drive an LED window bar or hall screen: hall messages rendered through the profile's protocol.

The port is anything pyserial's `serial_for_url` opens: a device path (`/dev/ttyUSB0`), a
`socket://host:port` (a TCP controller or a serial-to-Ethernet converter), `loop://`;
`host:port` alone is read as `socket://host:port`. Text longer than the display holds is
scrolled when the display can scroll, otherwise cut; wording falls back to shorter forms
(and to ASCII on segment displays) before that.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

import serial

from edge.devices.led.errors import (
    LedConnectionError,
    LedDeviceError,
    LedNoReply,
    LedWriteError,
)
from edge.devices.led.profile import Effect, LedProfile
from edge.devices.led.protocol import AreaText, Frame, LedProtocol, protocol_for
from edge.devices.profiles import SerialTransport

__all__ = ["MESSAGES", "LedDisplay", "board_rows"]

log = logging.getLogger(__name__)

# What each hall message says, longest wording first; the first the display can show wins.
MESSAGES: dict[str, tuple[str, ...]] = {
    "call": (
        "请 {number} 号到 {window} 号窗口",
        "请{number}号到{window}号窗口",
        "{number}号到{window}号窗口",
        "{number}到{window}号窗口",
        "{number}→{window}号",
        "{number} {window}",
        "{number}",
    ),
    "paused": ("暂停服务", "PAUSE", "----"),
    "backstage": ("后台处理中", "后台处理", "BUSY"),
    "welcome": ("{text}", "欢迎光临", "HELLO"),
    "marquee": ("{text}",),
}

_READ_SLICE = 0.05  # seconds a single read may wait while an answer is awaited
_HOST_PORT = re.compile(r"^[\w.-]+:\d{1,5}$")


class LedDisplay:
    """One LED controller on a serial line or TCP; one caller at a time (a lock guards it)."""

    def __init__(self, profile: LedProfile, port: str, *, timeout: float = 2.0) -> None:
        self.profile = profile
        self.url = f"socket://{port}" if _HOST_PORT.match(port) else port
        self.timeout = timeout
        self._protocol: LedProtocol = protocol_for(profile)
        self._port: serial.Serial | None = None
        self._pending = b""
        self._lock = threading.RLock()

    @classmethod
    def at_host(cls, profile: LedProfile, host: str, *, timeout: float = 2.0) -> LedDisplay:
        """The controller at `host`, on the TCP port its profile names."""
        tcp = profile.transport("tcp")
        if tcp is None or tcp.type != "tcp":
            raise LedConnectionError(f"{profile.id} has no TCP transport; give a port URL")
        return cls(profile, f"socket://{host}:{tcp.port}", timeout=timeout)

    def __enter__(self) -> LedDisplay:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the port and run the protocol's handshake, if any."""
        with self._lock:
            if self._port is not None:
                return
            try:
                port = serial.serial_for_url(self.url, do_not_open=True)
                line = self.profile.transport("serial")
                if isinstance(line, SerialTransport):
                    port.baudrate, port.bytesize = line.baudrate, line.bytesize
                    port.parity, port.stopbits = line.parity, line.stopbits
                port.timeout, port.write_timeout = _READ_SLICE, self.timeout
                port.open()
            except (serial.SerialException, OSError, ValueError) as exc:
                raise LedConnectionError(
                    f"{self.profile.id}: cannot open {self.url}: {exc}"
                ) from exc
            _no_delay(port)
            self._port, self._pending = port, b""
            log.debug("%s: opened %s", self.profile.id, self.url)
            try:
                self._send(self._protocol.session())
            except Exception:
                self.close()
                raise

    def close(self) -> None:
        with self._lock:
            port, self._port = self._port, None
            if port is not None:
                port.close()

    # what a window bar shows

    def show_call(self, number: str, window: str | int) -> str:
        """「请 A012 号到 3 号窗口」, or the shortest wording the bar can show."""
        return self._say("call", number=number, window=str(window))

    def show_paused(self) -> str:
        """「暂停服务」: the window is paused."""
        return self._say("paused")

    def show_backstage(self) -> str:
        """「后台处理中」: the clerk is working on a file away from the counter."""
        return self._say("backstage")

    def show_welcome(self, text: str) -> str:
        return self._say("welcome", text=text)

    def marquee(self, text: str) -> str:
        """Scroll `text` (cut to the display when it cannot scroll)."""
        return self._say("marquee", scroll=True, text=text)

    def clear(self) -> None:
        self._run(self._protocol.clear)

    def ping(self) -> bool:
        """Whether the controller answers within the timeout."""
        try:
            self._run(self._protocol.ping)
        except LedNoReply:
            log.warning("%s at %s does not answer", self.profile.id, self.url)
            return False
        except LedDeviceError as exc:
            log.warning("%s answered a ping with an error: %s", self.profile.id, exc)
        return True

    # what the central screen shows

    def show_board(self, rows: Sequence[str]) -> list[str]:
        """One row a line (latest calls, waiting counts); rows beyond the screen are dropped."""
        areas = self.profile.areas()
        if len(rows) > len(areas):
            log.warning("%s: %d rows for %d lines", self.profile.id, len(rows), len(areas))
        colour = self.profile.capabilities.colours[0]
        items = []
        padded = [*rows[: len(areas)], *[""] * (len(areas) - len(rows))]
        for area, row in zip(areas, padded, strict=True):
            shown = "".join(ch for ch in row if self._protocol.can_show(ch))
            text, effect = self._place([shown], self.profile.columns) if shown else ("", "static")
            items.append(AreaText(area, text, effect, colour))
        self._run(lambda: self._protocol.show(items))
        return [item.text for item in items]

    # helpers

    def _say(self, kind: str, *, scroll: bool = False, **fields: str) -> str:
        options = [template.format(**fields) for template in MESSAGES[kind]]
        showable = [text for text in options if text and self._protocol.can_show(text)]
        if not showable:
            log.warning("%s can show none of %s", self.profile.id, options)
            showable = [""]
        capacity = self.profile.columns * self.profile.capabilities.lines
        text, effect = self._place(showable, capacity, scroll=scroll)
        item = AreaText(
            self.profile.whole_screen(), text, effect, self.profile.capabilities.colours[0]
        )
        self._run(lambda: self._protocol.show([item]))
        log.info("%s shows %r (%s)", self.profile.id, text, effect)
        return text

    def _place(
        self, options: list[str], capacity: int, *, scroll: bool = False
    ) -> tuple[str, Effect]:
        if not scroll:
            for text in options:
                if self._protocol.width(text) <= capacity:
                    return text, self.profile.layout.effect
        if self.profile.capabilities.scrolling:
            return options[0], "scroll_left"
        return self._cut(options[-1], capacity), "static"

    def _cut(self, text: str, capacity: int) -> str:
        out, used = [], 0
        for ch in text:
            used += self._protocol.width(ch)
            if used > capacity:
                break
            out.append(ch)
        return "".join(out)

    def _run(self, frames: Callable[[], list[Frame]]) -> None:
        """Open (and handshake) first: frames may carry what the handshake learnt."""
        with self._lock:
            self.open()
            self._send(frames())

    def _send(self, frames: list[Frame]) -> None:
        for frame in frames:
            if frame.reply:
                self._discard_input()
            self._write(frame.data)
            if frame.reply:
                self._await_reply()

    def _write(self, data: bytes) -> None:
        port = self._require_port()
        try:
            written = port.write(data)
        except serial.SerialTimeoutException as exc:
            self.close()
            raise LedWriteError(f"{self.profile.id}: write to {self.url} timed out") from exc
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise LedWriteError(f"{self.profile.id}: write to {self.url} failed: {exc}") from exc
        if written is not None and written != len(data):
            self.close()
            raise LedWriteError(f"{self.profile.id}: wrote {written} of {len(data)} bytes")

    def _await_reply(self) -> None:
        port = self._require_port()
        deadline = time.monotonic() + self.timeout
        while True:
            reply, used = self._protocol.parse_reply(self._pending)
            self._pending = self._pending[used:]
            if reply is not None:
                self._protocol.accept(reply)
                return
            if used:
                continue
            if time.monotonic() >= deadline:
                raise LedNoReply(f"{self.profile.id}: no answer from {self.url} in {self.timeout}s")
            try:
                self._pending += port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self.close()
                raise LedConnectionError(f"{self.profile.id}: reading {self.url}: {exc}") from exc

    def _discard_input(self) -> None:
        self._pending = b""
        try:
            self._require_port().reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            log.debug("%s: could not discard input: %s", self.profile.id, exc)

    def _require_port(self) -> serial.Serial:
        if self._port is None:
            raise LedWriteError(f"{self.profile.id}: {self.url} is not open")
        return self._port


def board_rows(calls: Sequence[tuple[str, str]], waiting: Mapping[str, int]) -> list[str]:
    """Rows for the central screen: the latest calls, then who waits for each business type."""
    rows = [f"请 {number} 号到 {window} 号窗口" for number, window in calls]
    return rows + [f"{business} 等候 {count} 人" for business, count in waiting.items()]


def _no_delay(port: serial.Serial) -> None:
    """Frames are small and sent one by one: on TCP, send each at once (no Nagle delay)."""
    sock = getattr(port, "_socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
