"""A laid-out ticket as ESC/POS bytes for one printer profile.

python-escpos (its `Dummy` printer) supplies the commands for initialisation, alignment, font,
size, bold, underline, native QR and feeding. Text is NOT sent through `Escpos.text()`: that
only GB18030-encodes strings holding a U+4E00–U+9FA5 ideograph and turns full-width
punctuation (（）￥) into '?' otherwise. Text is encoded here in the profile's encoding and sent
raw, wrapped in FS & … FS . when the printer does not start in Chinese mode.
"""

from __future__ import annotations

import logging
from typing import Any

import qrcode  # type: ignore[import-untyped]
from escpos.constants import (  # type: ignore[import-untyped]
    QR_ECLEVEL_H,
    QR_ECLEVEL_L,
    QR_ECLEVEL_M,
    QR_ECLEVEL_Q,
)
from escpos.printer import Dummy  # type: ignore[import-untyped]

from edge.devices.printer.layout import Block, QrBlock, TextLine
from edge.devices.printer.profile import PrinterProfile

__all__ = ["CHINESE_OFF", "CHINESE_ON", "cut_command", "encode_text", "ticket_bytes"]

log = logging.getLogger(__name__)

CHINESE_ON = b"\x1c&"  # FS &
CHINESE_OFF = b"\x1c."  # FS .
ITALIC = {True: b"\x1b4\x01", False: b"\x1b4\x00"}  # ESC 4 n, where the firmware has it
_EC = {"L": QR_ECLEVEL_L, "M": QR_ECLEVEL_M, "Q": QR_ECLEVEL_Q, "H": QR_ECLEVEL_H}
_QR_EC = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


def ticket_bytes(blocks: list[Block], profile: PrinterProfile) -> bytes:
    """The whole print job: initialise, the blocks, feed and cut (when the printer cuts)."""
    printer: Any = Dummy()
    printer.hw("INIT")
    for block in blocks:
        if isinstance(block, TextLine):
            _text_line(printer, block, profile)
        elif isinstance(block, QrBlock):
            _qr(printer, block, profile)
        else:
            printer._raw(b"\n" * block.lines)
    printer.set(align="left", bold=False, underline=0, custom_size=True, width=1, height=1)
    if profile.cut.feed_lines:
        printer.print_and_feed(profile.cut.feed_lines)
    if profile.capabilities.cut:
        printer._raw(cut_command(profile))
    return bytes(printer.output)


def encode_text(text: str, profile: PrinterProfile) -> bytes:
    """`text` as the printer reads it: Chinese mode entered and left around non-ASCII text
    when the profile says the printer needs FS &."""
    data = text.encode(profile.encoding, errors="replace")
    if data != text.encode(profile.encoding, errors="ignore"):
        log.warning("%s: %r has characters %s cannot encode", profile.id, text, profile.encoding)
    if profile.chinese_mode == "fs_and" and not text.isascii():
        return CHINESE_ON + data + CHINESE_OFF
    return data


def cut_command(profile: PrinterProfile) -> bytes:
    """GS V 0 (full) / GS V 1 (partial), or function B GS V 65/66 0: feed to the cutter, cut."""
    partial = profile.cut.partial
    if profile.cut.variant == "gs_v_66":
        return b"\x1dV" + bytes([66 if partial else 65, 0])
    return b"\x1dV" + bytes([1 if partial else 0])


def _text_line(printer: Any, line: TextLine, profile: PrinterProfile) -> None:
    printer.set(
        align=line.align,
        font=line.font.lower(),
        bold=line.bold,
        underline=1 if line.underline else 0,
        custom_size=True,
        width=line.width,
        height=line.height,
    )
    if profile.capabilities.italic:
        printer._raw(ITALIC[line.italic])
    printer._raw(encode_text(line.text, profile) + b"\n")


def _qr(printer: Any, block: QrBlock, profile: PrinterProfile) -> None:
    printer.set(align=block.align)
    if profile.capabilities.qr:
        printer.qr(
            block.payload, ec=_EC[block.error_correction], size=block.module_size, native=True
        )
        printer._raw(b"\n")
        return
    printer._raw(_raster_qr(block, profile) + b"\n")


def _raster_qr(block: QrBlock, profile: PrinterProfile) -> bytes:
    """The QR code as a GS v 0 raster image as wide as the line, placed for its alignment."""
    code = qrcode.QRCode(border=1, error_correction=_QR_EC[block.error_correction])
    code.add_data(block.payload)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    size = block.module_size
    width_dots = len(matrix) * size
    while width_dots > profile.dots_per_line and size > 1:
        size -= 1
        width_dots = len(matrix) * size
    free = profile.dots_per_line - width_dots
    left = {"left": 0, "center": free // 2, "right": free}[block.align] // 8 * 8
    row_bytes = profile.dots_per_line // 8  # the full line: ESC a cannot move it
    rows = bytearray()
    for cells in matrix:
        bits = [False] * left + [c for c in cells for _ in range(size)]
        row = bytearray(row_bytes)
        for x, dark in enumerate(bits):
            if dark:
                row[x // 8] |= 0x80 >> (x % 8)
        rows += bytes(row) * size
    height = len(matrix) * size
    header = b"\x1dv0\x00" + row_bytes.to_bytes(2, "little") + height.to_bytes(2, "little")
    return header + bytes(rows)
