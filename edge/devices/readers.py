"""Scanners and card readers: their profiles, and turning a HID scanner's key events into text.

A barcode/QR scanner is a USB keyboard: it types what it reads and ends with a suffix key.
`ScanDecoder` takes evdev key events (press, release, shift) in order and returns each complete
scan. A PC/SC reader is described by its reader-name pattern and the APDUs that read a card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from edge.devices.profiles import ProfileBase, UsbTransport

__all__ = ["CardReaderProfile", "ScanDecoder", "ScannerProfile"]

# evdev key code -> (plain, shifted), US layout: the layout scanners emulate by default.
_US: dict[int, tuple[str, str]] = {
    **{code: (ch, ch.upper()) for code, ch in zip(
        (30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22,
         47, 17, 45, 21, 44),
        "abcdefghijklmnopqrstuvwxyz",
        strict=True,
    )},
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"), 7: ("6", "^"),
    8: ("7", "&"), 9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"), 12: ("-", "_"),
    13: ("=", "+"), 26: ("[", "{"), 27: ("]", "}"), 39: (";", ":"), 40: ("'", '"'),
    41: ("`", "~"), 43: ("\\", "|"), 51: (",", "<"), 52: (".", ">"), 53: ("/", "?"),
    57: (" ", " "),
}  # fmt: skip
_SHIFT = {42, 54}  # KEY_LEFTSHIFT, KEY_RIGHTSHIFT
_SUFFIX = {"enter": 28, "tab": 15, "keypad_enter": 96}
EV_KEY = 1


class ScannerProfile(ProfileBase):
    """A HID barcode/QR scanner."""

    input: Literal["hid-keyboard"] = "hid-keyboard"
    keymap: Literal["us"] = "us"
    suffix: Literal["enter", "tab", "keypad_enter"] = Field(
        "enter", description="the key the scanner sends after each code"
    )
    symbologies: list[str] = Field(default_factory=list, description="e.g. qr, code128, ean13")
    transports: list[UsbTransport] = Field(default_factory=list)


class CardReaderProfile(ProfileBase):
    """A PC/SC contact or contactless reader (staff cards, social-security cards)."""

    interface: Literal["pcsc"] = "pcsc"
    reader_name: str = Field(description="regular expression matched against PC/SC reader names")
    uid_apdu: str = Field(
        "FF CA 00 00 00", description="APDU (hex) that returns the card's UID (PC/SC part 3)"
    )
    contactless: bool = True
    transports: list[UsbTransport] = Field(default_factory=list)

    @field_validator("reader_name")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"reader_name is not a regular expression: {exc}") from exc
        return value

    @field_validator("uid_apdu")
    @classmethod
    def _apdu(cls, value: str) -> str:
        data = bytes.fromhex(value)
        if len(data) < 4:
            raise ValueError("an APDU has at least CLA INS P1 P2")
        return value


@dataclass
class ScanDecoder:
    """Key events in, complete scans out; anything the keymap lacks is counted, not guessed."""

    suffix: str = "enter"
    max_length: int = 4096
    unknown_keys: int = 0
    _buffer: list[str] = field(default_factory=list)
    _shift: bool = False

    def feed(self, type_: int, code: int, value: int) -> str | None:
        """One evdev event (type, code, value: 1 press, 0 release, 2 repeat); a scan or None."""
        if type_ != EV_KEY:
            return None
        if code in _SHIFT:
            self._shift = value != 0
            return None
        if value != 1:
            return None
        if code == _SUFFIX[self.suffix]:
            text, self._buffer = "".join(self._buffer), []
            return text or None
        chars = _US.get(code)
        if chars is None:
            self.unknown_keys += 1
            return None
        if len(self._buffer) < self.max_length:
            self._buffer.append(chars[1] if self._shift else chars[0])
        return None
