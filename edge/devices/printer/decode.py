"""Read an ESC/POS byte stream back into print operations (the subset the hall emits).

Used by the PNG renderer and the printer simulator. Text is decoded as the printer would:
in the profile's encoding while in Chinese mode (from boot, or between FS & and FS .),
otherwise as code page 437.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from edge.devices.printer.profile import PrinterProfile

__all__ = ["Op", "Style", "decode"]

log = logging.getLogger(__name__)

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10


@dataclass(frozen=True)
class Style:
    """A style change; fields left None are unchanged."""

    align: Literal["left", "center", "right"] | None = None
    bold: bool | None = None
    underline: int | None = None
    italic: bool | None = None
    font: Literal["A", "B"] | None = None
    width: int | None = None
    height: int | None = None
    reset: bool = False


@dataclass(frozen=True)
class Op:
    """One operation: `kind` names it; the other fields carry what it needs."""

    kind: Literal["text", "feed", "style", "qr_param", "qr_store", "qr_print", "raster", "cut"]
    text: str = ""
    lines: int = 0
    style: Style | None = None
    param: tuple[int, int] = (0, 0)  # qr_param: (fn, value)
    data: bytes = b""
    width_bytes: int = 0
    height: int = 0
    partial: bool = False


_ALIGN: dict[int, Literal["left", "center", "right"]] = {
    0: "left",
    1: "center",
    2: "right",
    48: "left",
    49: "center",
    50: "right",
}
_ESC_ARG1 = {
    ord("!"),
    ord("E"),
    ord("-"),
    ord("M"),
    ord("a"),
    ord("d"),
    ord("t"),
    ord("4"),
    ord("3"),
    ord("G"),
    ord("J"),
    ord("R"),
    ord("{"),
    ord("V"),
    ord(" "),
}


def decode(data: bytes, profile: PrinterProfile) -> list[Op]:
    """The operations in `data`; unknown commands are skipped and logged at debug."""
    ops: list[Op] = []
    chinese = profile.chinese_mode == "boot"
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b >= 0x20:
            j = i
            while j < n and data[j] >= 0x20:
                j += 1
            chunk = data[i:j]
            text = chunk.decode(profile.encoding if chinese else "cp437", errors="replace")
            ops.append(Op("text", text=text))
            i = j
        elif b == 0x0A:
            ops.append(Op("feed", lines=1))
            i += 1
        elif b == ESC and i + 1 < n:
            if data[i + 1] == ord("@"):  # ESC @ also ends a FS & Chinese mode
                chinese = profile.chinese_mode == "boot"
            i = _esc(data, i, ops)
        elif b == GS and i + 1 < n:
            i = _gs(data, i, ops)
        elif b == FS and i + 1 < n:
            if data[i + 1] == ord("&"):
                chinese = True
            elif data[i + 1] == ord("."):
                chinese = False
            else:
                log.debug("skipping FS %#x", data[i + 1])
            i += 2
        elif b == DLE and data[i + 1 : i + 2] == b"\x04":
            i += 3
        else:
            i += 1
    return ops


def _esc(data: bytes, i: int, ops: list[Op]) -> int:
    cmd = data[i + 1]
    if cmd == ord("@"):
        ops.append(Op("style", style=Style(reset=True)))
        return i + 2
    if cmd == ord("2"):
        return i + 2
    if cmd not in _ESC_ARG1 or i + 2 >= len(data):
        log.debug("skipping ESC %#x", cmd)
        return i + 2
    arg = data[i + 2]
    style = {
        ord("E"): Style(bold=bool(arg & 1)),
        ord("-"): Style(underline=arg % 48 if arg >= 48 else arg),
        ord("M"): Style(font="B" if arg in (1, 49) else "A"),
        ord("a"): Style(align=_ALIGN.get(arg, "left")),
        ord("4"): Style(italic=bool(arg & 1)),
        ord("!"): Style(
            font="B" if arg & 1 else "A",
            bold=bool(arg & 8),
            height=2 if arg & 0x10 else 1,
            width=2 if arg & 0x20 else 1,
            underline=1 if arg & 0x80 else 0,
        ),
    }.get(cmd)
    if style is not None:
        ops.append(Op("style", style=style))
    elif cmd == ord("d"):
        ops.append(Op("feed", lines=arg))
    return i + 3


def _gs(data: bytes, i: int, ops: list[Op]) -> int:
    cmd = data[i + 1]
    if cmd == ord("!") and i + 2 < len(data):
        arg = data[i + 2]
        ops.append(Op("style", style=Style(width=(arg >> 4) + 1, height=(arg & 0x0F) + 1)))
        return i + 3
    if cmd == ord("V") and i + 2 < len(data):
        m = data[i + 2]
        ops.append(Op("cut", partial=m in (1, 49, 66)))
        return i + 4 if m in (65, 66) else i + 3
    if cmd == ord("(") and i + 4 < len(data):
        length = data[i + 3] | data[i + 4] << 8
        body = data[i + 5 : i + 5 + length]
        if data[i + 2] == ord("k") and len(body) >= 2 and body[0] == 49:
            fn = body[1]
            if fn == 80:
                ops.append(Op("qr_store", data=body[3:]))
            elif fn == 81:
                ops.append(Op("qr_print"))
            elif len(body) >= 3:
                ops.append(Op("qr_param", param=(fn, body[2])))
        return i + 5 + length
    if cmd == ord("v") and i + 7 < len(data) and data[i + 2] in (0, 48):
        width_bytes = data[i + 4] | data[i + 5] << 8
        height = data[i + 6] | data[i + 7] << 8
        end = i + 8 + width_bytes * height
        ops.append(Op("raster", data=data[i + 8 : end], width_bytes=width_bytes, height=height))
        return end
    log.debug("skipping GS %#x", cmd)
    return i + 2
