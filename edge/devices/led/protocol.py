"""The contract every LED frame format implements, and the table naming each implementation."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.devices.led.errors import LedDeviceError
from edge.devices.led.profile import Area, Colour, Effect, LedProfile

__all__ = [
    "PROTOCOLS",
    "AreaText",
    "Command",
    "Frame",
    "LedProtocol",
    "Reply",
    "protocol_for",
]

# profile `protocol` -> "module:Class"; adding a frame format is adding a line here.
PROTOCOLS: dict[str, str] = {
    "onbon-bx-font": "edge.devices.led.onbon:OnbonFontCard",
    "modbus-numeric": "edge.devices.led.modbus:ModbusNumeric",
    "huidu-sdk2": "edge.devices.led.huidu:HuiduSdk2",
}


@dataclass(frozen=True)
class Frame:
    """Bytes to write; `reply` when the driver must read the controller's answer next."""

    data: bytes
    reply: bool = False


@dataclass(frozen=True)
class AreaText:
    """Text for one area of the screen, with how it enters."""

    area: Area
    text: str
    effect: Effect = "static"
    colour: Colour = "red"


@dataclass(frozen=True)
class Reply:
    """A controller's answer: `ok`, or what went wrong."""

    ok: bool
    detail: str = ""
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """What a controller understood from one request frame (used by the simulator)."""

    kind: str  # "ping", "clear", "show", "session", "heartbeat"
    texts: tuple[str, ...] = ()
    answer: bytes = b""


class LedProtocol(ABC):
    """Turns display requests into frames and reads answers, for one profile.

    Encoding is pure: no I/O. The driver writes the frames and, for a frame with
    `reply`, feeds what it reads to `parse_reply` until a whole answer is there.
    """

    def __init__(self, profile: LedProfile) -> None:
        self.profile = profile

    def width(self, text: str) -> int:
        """Half-width cells `text` takes: ASCII one, anything else (汉字) two."""
        return sum(1 if ord(ch) < 0x80 else 2 for ch in text)

    def can_show(self, text: str) -> bool:
        """Whether every character of `text` exists in the controller's font."""
        try:
            text.encode(self.profile.frame.encoding)
        except UnicodeEncodeError:
            return False
        return self.profile.capabilities.chinese or text.isascii()

    def session(self) -> list[Frame]:
        """Frames to send once after connecting (handshakes); none by default."""
        return []

    @abstractmethod
    def ping(self) -> list[Frame]:
        """Frames asking the controller to answer; the last one has `reply`."""

    @abstractmethod
    def clear(self) -> list[Frame]:
        """Frames blanking the screen."""

    @abstractmethod
    def show(self, texts: Sequence[AreaText]) -> list[Frame]:
        """Frames replacing what the screen shows with `texts`, one per area."""

    @abstractmethod
    def parse_reply(self, buffer: bytes) -> tuple[Reply | None, int]:
        """(answer, bytes used) from the start of `buffer`; (None, 0) while incomplete.

        (None, n > 0) means n bytes were used (noise, a fragment) and reading goes on.
        """

    def accept(self, reply: Reply) -> None:
        """Take in an answer; raise LedDeviceError when it reports a failure."""
        if not reply.ok:
            raise LedDeviceError(f"{self.profile.id}: controller refused: {reply.detail}")

    @abstractmethod
    def decode(self, buffer: bytes) -> tuple[Command | None, int]:
        """The controller's side: (command, bytes used) from `buffer`, for the simulator."""


def protocol_for(profile: LedProfile) -> LedProtocol:
    """The frame format implementation the profile names."""
    module_name, _, class_name = PROTOCOLS[profile.protocol].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(cls, type) and issubclass(cls, LedProtocol)
    return cls(profile)
