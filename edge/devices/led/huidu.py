"""Huidu (灰度) SDK 2.0 over TCP: a text program for the hall screen, heartbeat, handshake.

Packets are `len u16le | cmd u16le | payload` (after alparslanahmed/huidu-led): 0x2001
transport version ask (0x01000005) answered by 0x2002; SDK commands are XML in 0x2003
packets of at most 8000 XML bytes, each with `total u32le | offset u32le`, answered by
0x2004 the same way; 0x005F heartbeat answered by 0x0060; 0x2000 carries an error code.
The GUID the screen returns to `GetIFVersion` goes into every later command.

Built here: the handshake, `AddProgram` with one text area per row (replaces every
program), `DeleteProgram` to blank, heartbeat. Left out: file upload (pictures, video),
`UpdateProgram`, device settings (brightness, clock, network), UDP discovery, and the
HD2020/Gen6 family whose wire format differs.
"""

from __future__ import annotations

import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from edge.devices.led.profile import LedProfile
from edge.devices.led.protocol import AreaText, Command, Frame, LedProtocol, Reply

__all__ = ["HuiduSdk2", "packet", "sdk_packets"]

CMD_HEARTBEAT_ASK, CMD_HEARTBEAT_ANSWER = 0x005F, 0x0060
CMD_ERROR_ANSWER = 0x2000
CMD_SERVICE_ASK, CMD_SERVICE_ANSWER = 0x2001, 0x2002
CMD_SDK_ASK, CMD_SDK_ANSWER = 0x2003, 0x2004
TRANSPORT_VERSION = 0x01000005
SDK_VERSION = "1000000"
FRAGMENT = 8000
NO_GUID = "##GUID"

_COLOURS = {
    "red": "#ff0000", "green": "#00ff00", "yellow": "#ffff00",
    "blue": "#0000ff", "white": "#ffffff", "amber": "#ffbf00",
}  # fmt: skip
# effect -> (in effect code, single line)
_EFFECTS = {"static": (0, False), "type_out": (0, False), "scroll_left": (21, True),
            "scroll_up": (23, False)}  # fmt: skip


def packet(cmd: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", 4 + len(payload), cmd) + payload


def sdk_packets(xml: bytes, cmd: int = CMD_SDK_ASK) -> list[bytes]:
    """XML cut into fragments of at most 8000 bytes, each saying where it belongs."""
    return [
        packet(cmd, struct.pack("<II", len(xml), offset) + xml[offset : offset + FRAGMENT])
        for offset in range(0, len(xml), FRAGMENT)
    ]


def sdk_xml(guid: str, method: str, inner: ET.Element | None = None, out: bool = False) -> bytes:
    root = ET.Element("sdk", guid=guid)
    call = ET.SubElement(root, "out" if out else "in", method=method)
    if out:
        call.set("result", "kSuccess")
    if inner is not None:
        call.append(inner)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\r\n{body}'.encode()


class HuiduSdk2(LedProtocol):
    """A Huidu asynchronous controller (e.g. HD-C16, HD-A3) reached over TCP."""

    def __init__(self, profile: LedProfile) -> None:
        super().__init__(profile)
        self.guid = NO_GUID
        self._assembling: dict[int, bytearray] = {}

    def session(self) -> list[Frame]:
        version = ET.Element("version", value=SDK_VERSION)
        return [
            Frame(packet(CMD_SERVICE_ASK, struct.pack("<I", TRANSPORT_VERSION)), reply=True),
            *self._sdk(sdk_xml(NO_GUID, "GetIFVersion", version)),
        ]

    def ping(self) -> list[Frame]:
        return [Frame(packet(CMD_HEARTBEAT_ASK), reply=True)]

    def clear(self) -> list[Frame]:
        return self._sdk(sdk_xml(self.guid, "DeleteProgram"))

    def show(self, texts: Sequence[AreaText]) -> list[Frame]:
        return self._sdk(sdk_xml(self.guid, "AddProgram", self._screen(texts)))

    def parse_reply(self, buffer: bytes) -> tuple[Reply | None, int]:
        if len(buffer) < 4:
            return None, 0
        size, cmd = struct.unpack_from("<HH", buffer)
        if size < 4:
            return Reply(False, f"bad packet length {size}"), len(buffer)
        if len(buffer) < size:
            return None, 0
        payload = buffer[4:size]
        if cmd in (CMD_SERVICE_ANSWER, CMD_HEARTBEAT_ANSWER):
            return Reply(True, f"0x{cmd:04x}"), size
        if cmd == CMD_ERROR_ANSWER:
            code = int.from_bytes(payload[:2], "little")
            return Reply(False, f"error answer {code}"), size
        if cmd != CMD_SDK_ANSWER:
            return None, size
        xml = self._assemble(payload)
        if xml is None:
            return None, size
        root = ET.fromstring(xml)
        out = root.find("out")
        method = out.get("method", "") if out is not None else ""
        result = out.get("result", "") if out is not None else "no <out>"
        values = {"guid": root.get("guid", ""), "method": method}
        return Reply(result == "kSuccess", f"{method}: {result}", values), size

    def accept(self, reply: Reply) -> None:
        super().accept(reply)
        if reply.values.get("method") == "GetIFVersion" and reply.values.get("guid"):
            self.guid = reply.values["guid"]

    def decode(self, buffer: bytes) -> tuple[Command | None, int]:
        if len(buffer) < 4:
            return None, 0
        size, cmd = struct.unpack_from("<HH", buffer)
        if len(buffer) < size or size < 4:
            return None, 0 if size >= 4 else len(buffer)
        if cmd == CMD_SERVICE_ASK:
            answer = packet(CMD_SERVICE_ANSWER, struct.pack("<I", TRANSPORT_VERSION))
            return Command("session", answer=answer), size
        if cmd == CMD_HEARTBEAT_ASK:
            return Command("heartbeat", answer=packet(CMD_HEARTBEAT_ANSWER)), size
        xml = self._assemble(buffer[4:size]) if cmd == CMD_SDK_ASK else None
        if xml is None:
            return None, size
        call = ET.fromstring(xml).find("in")
        method = call.get("method", "") if call is not None else ""
        if method == "GetIFVersion":
            self.guid = self._uuid("device")
        answer = b"".join(sdk_packets(sdk_xml(self.guid, method, out=True), CMD_SDK_ANSWER))
        if method == "AddProgram" and call is not None:
            texts = tuple(s.text or "" for s in call.iter("string"))
            return Command("show", texts, answer), size
        kind = {"GetIFVersion": "session", "DeleteProgram": "clear"}.get(method, method)
        return Command(kind, answer=answer), size

    # helpers

    def _sdk(self, xml: bytes) -> list[Frame]:
        fragments = sdk_packets(xml)
        return [Frame(data, reply=i == len(fragments) - 1) for i, data in enumerate(fragments)]

    def _assemble(self, payload: bytes) -> bytes | None:
        total, offset = struct.unpack_from("<II", payload)
        chunk = payload[8:]
        buffer = self._assembling.setdefault(total, bytearray(total))
        buffer[offset : offset + len(chunk)] = chunk
        if offset + len(chunk) < total:
            return None
        return bytes(self._assembling.pop(total))

    def _uuid(self, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"smarthall:led:{self.profile.id}:{name}"))

    def _screen(self, texts: Sequence[AreaText]) -> ET.Element:
        screen = ET.Element("screen")
        program = ET.SubElement(
            screen, "program", type="normal", id="0", guid=self._uuid("program"), name="hall"
        )
        ET.SubElement(program, "playControl", count="1", disabled="false")
        stay = str(int(self.profile.layout.stay_seconds * 10))
        speed = str(self.profile.layout.speed)
        for i, item in enumerate(texts):
            area = ET.SubElement(program, "area", guid=self._uuid(f"area{i}"), name=f"row{i}")
            area.set("alpha", "255")
            rect = item.area
            ET.SubElement(area, "rectangle", x=str(rect.x), y=str(rect.y))
            area[-1].set("width", str(rect.width))
            area[-1].set("height", str(rect.height))
            resources = ET.SubElement(area, "resources")
            effect, single_line = _EFFECTS[item.effect]
            text = ET.SubElement(resources, "text", guid=self._uuid(f"text{i}"), name=f"row{i}")
            text.set("singleLine", "true" if single_line else "false")
            ET.SubElement(text, "style", align="center", valign="middle")
            ET.SubElement(text, "string").text = item.text
            font = ET.SubElement(
                text, "font", name="SimSun", size=str(max(8, rect.height * 3 // 4))
            )
            font.set("color", _COLOURS[item.colour])
            for flag in ("bold", "italic", "underline"):
                font.set(flag, "false")
            ET.SubElement(text, "effect", {"in": str(effect), "inSpeed": speed, "out": "0",
                                           "outSpeed": speed, "duration": stay})  # fmt: skip
        return screen
