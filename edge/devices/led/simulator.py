"""A pretend LED controller: decodes the frames it receives into what it would show, and answers.

Used by tests and by `hall device simulate led`: feed it bytes as a controller would get
them (over TCP with `serve`, over a serial line with `serve_port`) and read `screen`.
"""

from __future__ import annotations

import logging
import socket
import threading

import serial

from edge.devices.led.profile import LedProfile
from edge.devices.led.protocol import Command, protocol_for

__all__ = ["LedSimulator"]

log = logging.getLogger(__name__)


class LedSimulator:
    """What one controller of `profile` would show after the bytes fed to it."""

    def __init__(self, profile: LedProfile) -> None:
        self.profile = profile
        self.screen: list[str] = []
        self.commands: list[Command] = []
        self._protocol = protocol_for(profile)
        self._buffer = b""
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> bytes:
        """Take in received bytes; return the answers the controller sends back."""
        answers = []
        with self._lock:
            self._buffer += data
            while self._buffer:
                command, used = self._protocol.decode(self._buffer)
                if not used:
                    break
                self._buffer = self._buffer[used:]
                if command is not None:
                    self._apply(command)
                    answers.append(command.answer)
        return b"".join(answers)

    @property
    def shown(self) -> str:
        """The screen as text, one line per area."""
        return "\n".join(self.screen)

    def serve(self, conn: socket.socket) -> None:
        """Answer one TCP client until it hangs up."""
        with conn:
            while data := conn.recv(4096):
                if answer := self.feed(data):
                    conn.sendall(answer)

    def serve_port(self, port: serial.Serial, stop: threading.Event) -> None:
        """Answer on an open serial port until `stop` is set (give the port a read timeout)."""
        while not stop.is_set():
            data = port.read(max(1, port.in_waiting))
            if data and (answer := self.feed(data)):
                port.write(answer)

    def _apply(self, command: Command) -> None:
        self.commands.append(command)
        if command.kind == "show":
            self.screen = list(command.texts)
        elif command.kind == "clear":
            self.screen = []
        log.info("%s simulator: %s %s", self.profile.id, command.kind, list(command.texts))
