"""Onbon (仰邦) BX-5K/6K font-card frames: ping, clear screen, dynamic-area text in GB2312.

Frame: eight A5, the escaped body (14-byte header + data + CRC-16/ARC little-endian over
the unescaped header and data), one 5A. Header: DstAddr u16, SrcAddr u16 (0x8000 for the
PC), 3 reserved, option, CRC mode, display mode, device type, protocol version 0x02, data
length u16. Data starts with CmdGroup, Cmd, RtnReq (0x01 answer, 0x02 no answer).

`A3 06` (update dynamic areas) follows strongercjd/Onbon-Protocol-Analysis (an Onbon
engineer's decoder) and the BX4K C example whose frame checks out: 2 reserved, delete-count
(+ ids), area count, then per area a u16 length and: type, X and width in 8-pixel units,
Y and height in pixels, area id, line space, run mode, timeout u16, sound off, 0 extension
bytes, alignment, single line, auto newline, display mode, exit mode, speed, stay (0.5 s
units), text length u32, text. onbonlab/bx.k.java writes no area count and an extra
type-setting byte; we do not follow it there.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from edge.devices.led.crc import crc16_arc
from edge.devices.led.errors import LedEncodeError
from edge.devices.led.protocol import AreaText, Command, Frame, LedProtocol, Reply

__all__ = ["OnbonFontCard", "OnbonPacket", "escape", "unescape", "unpack"]

HEAD = b"\xa5" * 8
TAIL = b"\x5a"
PC_ADDRESS = 0x8000
PROTOCOL_VERSION = 0x02
MAX_AREAS = 4  # a font card keeps up to four dynamic areas

_ESCAPES = {0xA5: b"\xa6\x02", 0xA6: b"\xa6\x01", 0x5A: b"\x5b\x02", 0x5B: b"\x5b\x01"}
_UNESCAPES = {(0xA6, 0x02): 0xA5, (0xA6, 0x01): 0xA6, (0x5B, 0x02): 0x5A, (0x5B, 0x01): 0x5B}
_EFFECTS = {"static": 0x01, "type_out": 0x02, "scroll_left": 0x03, "scroll_up": 0x05}
_HEADER = struct.Struct("<HH3xBBBBBH")  # dst, src, option, crc mode, display mode, type, ver, len

CMD_PING = b"\xa2\x00"
CMD_CLEAR = b"\xa3\x10"
CMD_DYNAMIC_AREA = b"\xa3\x06"
NACK = b"\xa0\x01"


@dataclass(frozen=True)
class OnbonPacket:
    """An unescaped, CRC-checked frame body."""

    dst: int
    src: int
    device_type: int
    data: bytes


def escape(body: bytes) -> bytes:
    return b"".join(_ESCAPES.get(b, bytes((b,))) for b in body)


def unescape(body: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        pair = (body[i], body[i + 1]) if i + 1 < len(body) else None
        if pair in _UNESCAPES:
            out.append(_UNESCAPES[pair])
            i += 2
        elif body[i] in (0xA6, 0x5B):
            raise ValueError(f"bad escape at byte {i}: {body[i : i + 2].hex(' ')}")
        else:
            out.append(body[i])
            i += 1
    return bytes(out)


def pack(dst: int, src: int, device_type: int, data: bytes) -> bytes:
    header = _HEADER.pack(dst, src, 0, 0, 0, device_type, PROTOCOL_VERSION, len(data))
    body = header + data
    return HEAD + escape(body + struct.pack("<H", crc16_arc(body))) + TAIL


def unpack(frame: bytes) -> OnbonPacket:
    """Check and open one frame (leading A5s, body, 5A); ValueError when it is damaged."""
    if not frame.startswith(b"\xa5") or not frame.endswith(TAIL):
        raise ValueError("not an Onbon frame (A5 … 5A)")
    body = unescape(frame.lstrip(b"\xa5")[:-1])
    if len(body) < _HEADER.size + 2:
        raise ValueError(f"frame body of {len(body)} bytes is too short")
    dst, src, _opt, _crc_mode, _disp, device_type, _ver, length = _HEADER.unpack_from(body)
    data, crc = body[_HEADER.size : -2], int.from_bytes(body[-2:], "little")
    if len(data) != length:
        raise ValueError(f"data length {len(data)} ≠ header length {length}")
    if crc != crc16_arc(body[:-2]):
        raise ValueError(f"CRC {crc:04x} ≠ {crc16_arc(body[:-2]):04x}")
    return OnbonPacket(dst, src, device_type, data)


def _next_frame(buffer: bytes) -> tuple[bytes | None, int]:
    """The first whole frame in `buffer` and the bytes up to its end."""
    start = buffer.find(b"\xa5")
    if start < 0:
        return None, len(buffer)
    end = buffer.find(TAIL, start)
    if end < 0:
        return None, start
    return buffer[start : end + 1], end + 1


class OnbonFontCard(LedProtocol):
    """BX-5K/6K font card: the controller renders GB2312 text with its own font."""

    def ping(self) -> list[Frame]:
        return [Frame(self._pack(CMD_PING + b"\x01\x00\x00"), reply=True)]

    def clear(self) -> list[Frame]:
        return [Frame(self._pack(CMD_CLEAR + self._rtn_req() + b"\x00\x00"), self._ack)]

    def show(self, texts: Sequence[AreaText]) -> list[Frame]:
        if not 1 <= len(texts) <= MAX_AREAS:
            raise LedEncodeError(f"a font card shows 1 to {MAX_AREAS} areas, not {len(texts)}")
        data = bytearray(CMD_DYNAMIC_AREA + self._rtn_req() + b"\x00\x00")
        data += bytes((0, len(texts)))  # delete no area; update these
        for area_id, item in enumerate(texts):
            area = self._area(area_id, item)
            data += struct.pack("<H", len(area)) + area
        return [Frame(self._pack(bytes(data)), self._ack)]

    def parse_reply(self, buffer: bytes) -> tuple[Reply | None, int]:
        frame, used = _next_frame(buffer)
        if frame is None:
            return None, used
        try:
            packet = unpack(frame)
        except ValueError as exc:
            return Reply(False, f"damaged answer: {exc}"), used
        if packet.data[:2] == NACK:
            return Reply(False, f"NACK {packet.data.hex(' ')}"), used
        return Reply(True, packet.data.hex(" ")), used

    def decode(self, buffer: bytes) -> tuple[Command | None, int]:
        frame, used = _next_frame(buffer)
        if frame is None:
            return None, used
        try:
            packet = unpack(frame)
        except ValueError:
            return None, used
        if packet.dst not in (self.profile.frame.address, 0xFFFF, 0xFFFE):
            return None, used  # another screen on the bus
        group_cmd, wants_answer = packet.data[:2], packet.data[2:3] == b"\x01"
        answer = self._answer(group_cmd) if wants_answer else b""
        if group_cmd == CMD_PING:
            return Command("ping", answer=answer), used
        if group_cmd == CMD_CLEAR:
            return Command("clear", answer=answer), used
        if group_cmd == CMD_DYNAMIC_AREA:
            return Command("show", tuple(self._texts(packet.data)), answer), used
        return Command(f"unknown {group_cmd.hex()}", answer=answer), used

    # helpers

    @property
    def _ack(self) -> bool:
        return self.profile.frame.acknowledge

    def _rtn_req(self) -> bytes:
        return b"\x01" if self._ack else b"\x02"

    def _pack(self, data: bytes) -> bytes:
        frame = self.profile.frame
        return pack(frame.address, PC_ADDRESS, frame.device_type, data)

    def _area(self, area_id: int, item: AreaText) -> bytes:
        area, layout = item.area, self.profile.layout
        text = (item.text or " ").encode(self.profile.frame.encoding)
        caps = self.profile.capabilities
        line_height = max((caps.height or area.height) // caps.lines, 1)
        multi_line = area.height >= 2 * line_height and item.effect != "scroll_left"
        head = struct.pack(
            "<BHHHHBBBHBBBBBBBBBI",
            0x00,  # area type: dynamic text
            area.x // 8,
            area.y,
            area.width // 8,
            area.height,
            area_id,
            0,  # line space
            0,  # run mode: loop the area's pages
            0,  # timeout (only for run modes 2, 3)
            0,  # sound off
            0,  # no extension bytes
            0,  # alignment: controller default
            0x02 if multi_line else 0x01,  # single line / multi line
            0x02 if multi_line else 0x01,  # automatic line breaks
            _EFFECTS[item.effect],
            0,  # exit mode
            layout.speed,
            min(int(layout.stay_seconds * 2), 0xFF),
            len(text),
        )
        return head + text

    def _texts(self, data: bytes) -> list[str]:
        pos, texts = 5, []
        deleted = data[pos]
        pos += 1 + deleted
        count = data[pos]
        pos += 1
        for _ in range(count):
            (length,) = struct.unpack_from("<H", data, pos)
            area = data[pos + 2 : pos + 2 + length]
            pos += 2 + length
            (text_len,) = struct.unpack_from("<I", area, 23)
            texts.append(area[27 : 27 + text_len].decode(self.profile.frame.encoding))
        return texts

    def _answer(self, group_cmd: bytes) -> bytes:
        frame = self.profile.frame
        data = group_cmd + b"\x00\x00\x00\x00\x00\x00\x00"  # status, error, length: all clear
        return pack(PC_ADDRESS, frame.address, frame.device_type, data)
