"""Modbus-RTU seven-segment displays (e.g. LED-485-046): numbers and a few letters.

Registers as sman-dk/LED-485_setuptool uses them: FC06 register 0x0000 takes a signed
16-bit number; FC16 from register 0x0080 takes segment codes, two characters a register
(first character in the high byte). CRC-16/MODBUS, low byte first.

What such a display can show: digits, space, A-Z as the setuptool's segment table draws
them (M, W, X are rough), and '-' (segment g). No Chinese: a call "A012 → 3" becomes
"A012 3" when it fits the display's characters, else "A012".
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from edge.devices.led.crc import crc16_modbus
from edge.devices.led.protocol import AreaText, Command, Frame, LedProtocol, Reply

__all__ = ["SEGMENTS", "ModbusNumeric", "frame"]

NUMBER_REGISTER = 0x0000
SEGMENT_REGISTER = 0x0080

# Seven-segment codes (bit 0 = a … bit 6 = g), after LED-485_setuptool's table, plus '-'.
SEGMENTS: dict[str, int] = {
    " ": 0x00, "-": 0x40, "0": 0x3F, "1": 0x06, "2": 0x5B, "3": 0x4F, "4": 0x66,
    "5": 0x6D, "6": 0x7D, "7": 0x07, "8": 0x7F, "9": 0x6F, "A": 0x77, "B": 0x7C,
    "C": 0x39, "D": 0x5E, "E": 0x79, "F": 0x71, "G": 0x3D, "H": 0x76, "I": 0x10,
    "J": 0x0E, "K": 0x7A, "L": 0x38, "M": 0x55, "N": 0x54, "O": 0x5C, "P": 0x73,
    "Q": 0x67, "R": 0x50, "S": 0x64, "T": 0x78, "U": 0x3E, "V": 0x62, "W": 0x6A,
    "X": 0x36, "Y": 0x6E, "Z": 0x49,
}  # fmt: skip
_CHARACTERS = {code: ch for ch, code in reversed(SEGMENTS.items())}


def frame(pdu: bytes, slave: int) -> bytes:
    """An RTU frame: slave id, PDU, CRC-16/MODBUS low byte first."""
    adu = bytes((slave,)) + pdu
    return adu + struct.pack("<H", crc16_modbus(adu))


class ModbusNumeric(LedProtocol):
    """A numeric display on a Modbus-RTU bus; `frame.address` is its slave id."""

    def width(self, text: str) -> int:
        return len(text)

    def can_show(self, text: str) -> bool:
        return all(ch in SEGMENTS for ch in text.upper())

    def ping(self) -> list[Frame]:
        # FC03: read the number register; any well-formed answer means the display is there.
        return [Frame(self._frame(struct.pack(">BHH", 0x03, NUMBER_REGISTER, 1)), reply=True)]

    def clear(self) -> list[Frame]:
        return self._segments(" " * self.profile.capabilities.chars_per_line)

    def show(self, texts: Sequence[AreaText]) -> list[Frame]:
        text = texts[0].text.upper() if texts else ""
        digits = text.strip()
        if digits.isdigit() and not digits.startswith("0") and int(digits) <= 0x7FFF:
            pdu = struct.pack(">BHH", 0x06, NUMBER_REGISTER, int(digits))
            return [Frame(self._frame(pdu), self.profile.frame.acknowledge)]
        return self._segments(text)

    def parse_reply(self, buffer: bytes) -> tuple[Reply | None, int]:
        if len(buffer) < 5:
            return None, 0
        function = buffer[1]
        size = 5 if function & 0x80 else 5 + buffer[2] if function == 0x03 else 8
        if len(buffer) < size:
            return None, 0
        adu, crc = buffer[: size - 2], int.from_bytes(buffer[size - 2 : size], "little")
        if crc != crc16_modbus(adu) or adu[0] != self.profile.frame.address:
            return None, 1  # noise or another slave: slide on by one byte
        if function & 0x80:
            return Reply(False, f"Modbus exception {adu[2]} to function {function & 0x7F}"), size
        return Reply(True, adu.hex(" ")), size

    def decode(self, buffer: bytes) -> tuple[Command | None, int]:
        if len(buffer) < 8:
            return None, 0
        function = buffer[1]
        size = 9 + buffer[6] if function == 0x10 and len(buffer) > 6 else 8
        if len(buffer) < size:
            return None, 0
        adu = buffer[: size - 2]
        if int.from_bytes(buffer[size - 2 : size], "little") != crc16_modbus(adu):
            return None, 1
        if adu[0] != self.profile.frame.address:
            return None, size
        (register,) = struct.unpack_from(">H", adu, 2)
        if function == 0x03:
            answer = self._frame(bytes((0x03, 2, 0, 0)))
            return Command("ping", answer=answer), size
        answer = self._frame(adu[1:6])
        if function == 0x06 and register == NUMBER_REGISTER:
            (value,) = struct.unpack_from(">h", adu, 4)
            return Command("show", (str(value),), answer), size
        if function == 0x10 and register == SEGMENT_REGISTER:
            text = "".join(_CHARACTERS.get(code, "?") for code in adu[7:])
            kind = "clear" if not text.strip() else "show"
            return Command(kind, (text.rstrip(),), answer), size
        return Command(f"unknown function {function}", answer=answer), size

    # helpers

    def _frame(self, pdu: bytes) -> bytes:
        return frame(pdu, self.profile.frame.address)

    def _segments(self, text: str) -> list[Frame]:
        cells = self.profile.capabilities.chars_per_line
        padded = text[:cells].ljust(cells + cells % 2)
        codes = bytes(SEGMENTS[ch] for ch in padded)
        pdu = struct.pack(">BHHB", 0x10, SEGMENT_REGISTER, len(codes) // 2, len(codes)) + codes
        return [Frame(self._frame(pdu), self.profile.frame.acknowledge)]
