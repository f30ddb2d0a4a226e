"""LED frames, byte by byte, read back by a decoder written apart from the encoder.

The decoder below follows the public protocol descriptions (Onbon's manual and the
strongercjd analyser's field list, LED-485_setuptool, huidu-led) and imports nothing from
`edge.devices.led` but the CRC functions it checks against its own bitwise versions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from edge.devices.led.crc import crc16_arc, crc16_modbus
from edge.devices.led.profile import Area, LedProfile
from edge.devices.led.protocol import AreaText, protocol_for
from edge.devices.profiles import PROFILES_DIR, _merged, _read

PING_VECTOR = bytes.fromhex(
    "A5 A5 A5 A5 A5 A5 A5 A5 01 00 00 80 00 00 00 00 00 00 FE 02 05 00 A2 00 01 00 00 68 F8 5A"
)
# A BX-4K/5K "show 012345QRSTTV'B" frame from a public C client; its CRC checks out.
BX4K_TEXT_VECTOR = bytes.fromhex(
    "A5A5A5A5A5A5A5A5 0100 0080 000000 00 00 00 FE 02 3200"
    "A306 01 2D00 00 01 2900 00 0000 0000 1800 2000 00 00 00 0200 00 00 00 02 02 03 00 04 05"
    "0E000000 303132333435515253545456 2742 A87D 5A"
)

# --- the independent decoder -------------------------------------------------------------


def bitwise_crc16(data: bytes, init: int) -> int:
    crc = init
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def onbon_unframe(frame: bytes) -> dict[str, Any]:
    """Header fields and data of one Onbon frame; fails loudly on anything unexpected."""
    assert frame[:8] == b"\xa5" * 8, "eight A5 open a frame"
    assert frame[-1] == 0x5A, "5A closes a frame"
    escaped, body = frame[8:-1], bytearray()
    assert 0xA5 not in escaped and 0x5A not in escaped
    i = 0
    while i < len(escaped):
        if escaped[i] in (0xA6, 0x5B):
            follow = escaped[i + 1]
            assert follow in (1, 2), f"bad escape {escaped[i : i + 2].hex()}"
            body.append({0xA6: {2: 0xA5, 1: 0xA6}, 0x5B: {2: 0x5A, 1: 0x5B}}[escaped[i]][follow])
            i += 2
        else:
            body.append(escaped[i])
            i += 1
    length = int.from_bytes(body[12:14], "little")
    assert len(body) == 14 + length + 2, "header length = data length"
    assert int.from_bytes(body[-2:], "little") == bitwise_crc16(bytes(body[:-2]), 0)
    return {
        "dst": int.from_bytes(body[0:2], "little"),
        "src": int.from_bytes(body[2:4], "little"),
        "reserved": bytes(body[4:10]),
        "device_type": body[10],
        "version": body[11],
        "data": bytes(body[14:-2]),
    }


def onbon_areas(data: bytes, encoding: str = "gb2312") -> dict[str, Any]:
    """Fields of an A3 06 dynamic-area command, per the analyser's field list."""
    assert data[:2] == b"\xa3\x06"
    out: dict[str, Any] = {"rtn_req": data[2], "reserved": data[3:5], "areas": []}
    deleted = data[5]
    pos = 6 + deleted
    count = data[pos]
    pos += 1
    for _ in range(count):
        size = int.from_bytes(data[pos : pos + 2], "little")
        a = data[pos + 2 : pos + 2 + size]
        pos += 2 + size

        def word(at: int, a: bytes = a) -> int:
            return int.from_bytes(a[at : at + 2], "little")

        assert a[15] == 0, "no extension bytes expected"
        text_len = int.from_bytes(a[23:27], "little")
        assert len(a) == 27 + text_len
        out["areas"].append(
            {
                "type": a[0], "x8": word(1), "y": word(3), "w8": word(5), "h": word(7),
                "id": a[9], "line_space": a[10], "run_mode": a[11], "timeout": word(12),
                "sound": a[14], "align": a[16], "single_line": a[17], "new_line": a[18],
                "display": a[19], "exit": a[20], "speed": a[21], "stay": a[22],
                "text": a[27:].decode(encoding),
            }
        )  # fmt: skip
    assert pos == len(data), "nothing after the last area"
    return out


def modbus_unframe(frame: bytes) -> dict[str, Any]:
    assert int.from_bytes(frame[-2:], "little") == bitwise_crc16(frame[:-2], 0xFFFF)
    return {"slave": frame[0], "function": frame[1], "pdu": frame[2:-2]}


def huidu_packets(stream: bytes) -> list[tuple[int, bytes]]:
    packets, pos = [], 0
    while pos < len(stream):
        size = int.from_bytes(stream[pos : pos + 2], "little")
        packets.append(
            (int.from_bytes(stream[pos + 2 : pos + 4], "little"), stream[pos + 4 : pos + size])
        )
        pos += size
    assert pos == len(stream)
    return packets


def huidu_xml(packets: list[tuple[int, bytes]]) -> list[ET.Element]:
    """Reassemble 0x2003 fragments into XML documents."""
    documents, parts = [], bytearray()
    for cmd, payload in packets:
        if cmd != 0x2003:
            continue
        total, offset = (
            int.from_bytes(payload[:4], "little"),
            int.from_bytes(payload[4:8], "little"),
        )
        assert offset == len(parts) and len(payload) - 8 <= 8000
        parts += payload[8:]
        if len(parts) == total:
            documents.append(ET.fromstring(bytes(parts)))
            parts = bytearray()
    return documents


# --- fixtures ---------------------------------------------------------------------------------


def led_profile(profile_id: str, **changes: Any) -> LedProfile:
    folder = PROFILES_DIR / "leds"
    raw = {path.stem: _read(path) for path in Path(folder).glob("*.toml")}
    merged = _merged("leds", profile_id, raw, [])
    for key, value in changes.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return LedProfile.model_validate(merged)


# --- tests --------------------------------------------------------------------------------------


def test_crc16_variants_give_their_published_check_values() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D == bitwise_crc16(b"123456789", 0)
    assert crc16_modbus(b"123456789") == 0x4B37 == bitwise_crc16(b"123456789", 0xFFFF)


def test_onbon_ping_reproduces_the_published_frame() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16")
    [frame] = protocol_for(profile).ping()
    assert frame.data == PING_VECTOR and frame.reply
    fields = onbon_unframe(frame.data)
    assert (fields["dst"], fields["src"], fields["device_type"]) == (1, 0x8000, 0xFE)
    assert fields["version"] == 2 and fields["data"] == bytes.fromhex("A2 00 01 00 00")


def test_the_decoder_reads_a_public_bx_text_frame() -> None:
    fields = onbon_unframe(BX4K_TEXT_VECTOR)
    [area] = onbon_areas(fields["data"], "ascii")["areas"]
    assert (area["x8"], area["w8"], area["h"], area["display"]) == (0, 0x18, 0x20, 0x03)
    assert area["text"] == "012345QRSTTV'B"


def test_bytes_that_look_like_frame_marks_are_escaped_and_come_back() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16", frame={"address": 0x5AA5})
    # GB2312 ァ is A5 A1, Α (alpha) is A6 A1; ASCII Z[ are 5A 5B.
    text = "ァΑZ["
    area = AreaText(profile.whole_screen(), text)
    [frame] = protocol_for(profile).show([area])
    body = frame.data[8:-1]
    assert b"\xa6\x02" in body and b"\x5b\x02" in body and b"\x5b\x01" in body
    fields = onbon_unframe(frame.data)
    assert fields["dst"] == 0x5AA5
    assert onbon_areas(fields["data"])["areas"][0]["text"] == text


def test_onbon_call_frame_carries_the_call_in_gb2312_field_by_field() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16", frame={"address": 3})
    area = AreaText(profile.whole_screen(), "请A012号到3号窗口", "scroll_left")
    [frame] = protocol_for(profile).show([area])
    fields = onbon_unframe(frame.data)
    assert fields["dst"] == 3 and fields["src"] == 0x8000 and fields["reserved"] == bytes(6)
    command = onbon_areas(fields["data"])
    assert command["rtn_req"] == 0x02  # no answer wanted: acknowledge = false
    [decoded] = command["areas"]
    assert decoded["text"] == "请A012号到3号窗口"
    assert (decoded["x8"], decoded["y"], decoded["w8"], decoded["h"]) == (0, 0, 16, 16)
    assert decoded["display"] == 0x03 and decoded["single_line"] == 0x01
    assert decoded["speed"] == 4


def test_onbon_clear_frame() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16", frame={"acknowledge": True})
    [frame] = protocol_for(profile).clear()
    assert onbon_unframe(frame.data)["data"] == bytes.fromhex("A3 10 01 00 00") and frame.reply


def test_onbon_two_line_bar_wraps_in_one_area() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x32")
    [frame] = protocol_for(profile).show([AreaText(profile.whole_screen(), "暂停服务", "type_out")])
    [area] = onbon_areas(onbon_unframe(frame.data)["data"])["areas"]
    assert (area["h"], area["single_line"], area["new_line"], area["display"]) == (32, 2, 2, 2)


def test_modbus_segment_string_goes_to_register_0x80() -> None:
    profile = led_profile("led-485-046", frame={"address": 7})
    [frame] = protocol_for(profile).show([AreaText(Area(x=0, y=0, width=1, height=1), "A012 3")])
    fields = modbus_unframe(frame.data)
    assert (fields["slave"], fields["function"]) == (7, 0x10)
    pdu = fields["pdu"]
    assert pdu[:5] == bytes.fromhex("0080 0003 06")  # start 0x80, 3 registers, 6 bytes
    # A 0 1 2 space 3 as the setuptool's segment table draws them
    assert pdu[5:] == bytes.fromhex("77 3F 06 5B 00 4F")


def test_modbus_plain_number_goes_to_register_0() -> None:
    profile = led_profile("led-485-046")
    [frame] = protocol_for(profile).show([AreaText(Area(x=0, y=0, width=1, height=1), "42")])
    fields = modbus_unframe(frame.data)
    assert (fields["function"], fields["pdu"]) == (0x06, bytes.fromhex("0000 002A"))


def test_modbus_ping_reads_one_register() -> None:
    [frame] = protocol_for(led_profile("led-485-046")).ping()
    assert modbus_unframe(frame.data) == {
        "slave": 1,
        "function": 3,
        "pdu": bytes.fromhex("0000 0001"),
    }


def test_huidu_handshake_then_text_program() -> None:
    profile = led_profile("huidu-sdk2-hall-192x96")
    protocol = protocol_for(profile)
    session = b"".join(f.data for f in protocol.session())
    packets = huidu_packets(session)
    assert packets[0] == (0x2001, (0x01000005).to_bytes(4, "little"))
    [hello] = huidu_xml(packets)
    assert hello.get("guid") == "##GUID" and hello.find("in").get("method") == "GetIFVersion"  # type: ignore[union-attr]

    rows = ["请 A012 号到 3 号窗口", "综合业务 等候 12 人"]
    areas = profile.areas()
    texts = [AreaText(area, row, "static", "green") for area, row in zip(areas, rows, strict=False)]
    [program] = huidu_xml(huidu_packets(b"".join(f.data for f in protocol.show(texts))))
    assert program.find("in").get("method") == "AddProgram"  # type: ignore[union-attr]
    decoded = [area.findtext("resources/text/string") for area in program.iter("area")]
    assert decoded == rows
    rect = next(program.iter("rectangle")).attrib
    assert rect == {"x": "0", "y": "0", "width": "192", "height": "16"}
    assert next(program.iter("font")).get("color") == "#00ff00"


def test_huidu_long_xml_is_cut_into_8000_byte_fragments() -> None:
    profile = led_profile("huidu-sdk2-hall-192x96")
    protocol = protocol_for(profile)
    long_row = "叫号" * 3000  # 18 000 bytes of UTF-8
    frames = protocol.show([AreaText(profile.areas()[0], long_row)])
    assert len(frames) == 3 and [f.reply for f in frames] == [False, False, True]
    [program] = huidu_xml(huidu_packets(b"".join(f.data for f in frames)))
    assert next(program.iter("string")).text == long_row


def test_huidu_heartbeat() -> None:
    [frame] = protocol_for(led_profile("huidu-sdk2-hall-192x96")).ping()
    assert huidu_packets(frame.data) == [(0x005F, b"")]


@pytest.mark.parametrize("text", ["", "Z", "[Z]", "ァΑ", "请 A012 号到 3 号窗口"])
def test_short_texts_round_trip_through_the_decoder(text: str) -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16")
    [frame] = protocol_for(profile).show([AreaText(profile.whole_screen(), text)])
    decoded = onbon_areas(onbon_unframe(frame.data)["data"])["areas"][0]["text"]
    assert decoded == (text or " ")
