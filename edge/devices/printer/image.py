"""Draw an ESC/POS print job as a PNG of the paper, for the printer simulator and reviews."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import qrcode  # type: ignore[import-untyped]
from PIL import Image, ImageDraw

from edge.devices.printer.decode import Op, Style, decode
from edge.devices.printer.fonts import cjk_font
from edge.devices.printer.profile import PrinterProfile

__all__ = ["PaperRenderer", "render_png"]

log = logging.getLogger(__name__)

LINE_DOTS = 34  # an empty line: the default 1/6 inch at 203 dpi
LINE_GAP = 6  # dots between a text line and the next
MARGIN_TOP = 24
_QR_EC = {
    48: qrcode.constants.ERROR_CORRECT_L,
    49: qrcode.constants.ERROR_CORRECT_M,
    50: qrcode.constants.ERROR_CORRECT_Q,
    51: qrcode.constants.ERROR_CORRECT_H,
}


def render_png(data: bytes, profile: PrinterProfile, path: Path | None = None) -> Image.Image:
    """The paper after printing `data` (one or more whole jobs); saved to `path` if given."""
    renderer = PaperRenderer(profile)
    renderer.feed(data)
    image = renderer.image()
    if path is not None:
        image.save(path, format="PNG", optimize=True)
    return image


@dataclass(frozen=True)
class _State:
    align: Literal["left", "center", "right"] = "left"
    bold: bool = False
    underline: int = 0
    italic: bool = False
    font: Literal["A", "B"] = "A"
    width: int = 1
    height: int = 1


class PaperRenderer:
    """A virtual roll of paper: feed it ESC/POS jobs, then take its image."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.paper_dots = round(profile.paper_width_mm / 25.4 * profile.dpi)
        self.margin = (self.paper_dots - profile.dots_per_line) // 2
        self._rows: list[tuple[Image.Image, int]] = []
        self._line: list[Image.Image] = []
        self._line_align: Literal["left", "center", "right"] = "left"
        self._state = _State()
        self._qr_module, self._qr_ec, self._qr_data = 3, 48, b""

    def feed(self, data: bytes) -> None:
        """Print whole jobs (a command split across two calls is not understood)."""
        for op in decode(data, self.profile):
            self._apply(op)

    def image(self) -> Image.Image:
        """The paper so far, black on white, one bit per dot."""
        self._flush(blank=False)
        height = MARGIN_TOP * 2 + sum(img.height for img, _ in self._rows)
        paper = Image.new("L", (self.paper_dots, height), 255)
        y = MARGIN_TOP
        for img, x in self._rows:
            paper.paste(img, (x, y))
            y += img.height
        return paper.point(lambda v: 255 if v >= 128 else 0, mode="1")

    def _apply(self, op: Op) -> None:
        if op.kind == "text":
            if not self._line:
                self._line_align = self._state.align
            self._line.append(self._segment(op.text, self._state))
        elif op.kind == "feed":
            self._flush(blank=True)
            for _ in range(op.lines - 1):
                self._flush(blank=True)
        elif op.kind == "style" and op.style is not None:
            self._state = _restyle(self._state, op.style)
        elif op.kind == "qr_param":
            fn, value = op.param
            if fn == 67:
                self._qr_module = max(1, min(value, 16))
            elif fn == 69:
                self._qr_ec = value
        elif op.kind == "qr_store":
            self._qr_data = op.data
        elif op.kind == "qr_print":
            self._add_row(self._qr_image(), self._state.align)
        elif op.kind == "raster":
            self._add_row(_raster(op.data, op.width_bytes, op.height), self._state.align)
        elif op.kind == "cut":
            self._flush(blank=False)
            self._rows.append((_cut_line(self.paper_dots, op.partial), 0))

    def _flush(self, *, blank: bool) -> None:
        if not self._line:
            if blank:
                self._rows.append((Image.new("L", (1, LINE_DOTS), 255), self.margin))
            return
        height = max(seg.height for seg in self._line) + LINE_GAP
        row = Image.new("L", (sum(seg.width for seg in self._line), height), 255)
        x = 0
        for seg in self._line:
            row.paste(seg, (x, height - LINE_GAP - seg.height))
            x += seg.width
        self._line = []
        self._add_row(row, self._line_align)

    def _add_row(self, img: Image.Image, align: str) -> None:
        dots = self.profile.dots_per_line
        if img.width > dots:
            img = img.crop((0, 0, dots, img.height))
        free = dots - img.width
        offset = {"left": 0, "center": free // 2, "right": free}.get(align, 0)
        self._rows.append((img, self.margin + offset))

    def _segment(self, text: str, state: _State) -> Image.Image:
        metrics = self.profile.font(state.font)
        spans = [2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text]
        cell, height = metrics.width, metrics.height
        img = Image.new("L", (max(sum(spans) * cell, 1), height), 255)
        draw = ImageDraw.Draw(img)
        font = cjk_font(height - 2)
        x = 0
        for char, span in zip(text, spans, strict=True):
            centre = (x + span * cell / 2, height / 2)
            draw.text(centre, char, font=font, fill=0, anchor="mm")
            if state.bold:
                draw.text((centre[0] + 1, centre[1]), char, font=font, fill=0, anchor="mm")
            x += span * cell
        if state.underline:
            draw.rectangle((0, height - state.underline, img.width, height - 1), fill=0)
        if state.italic:
            shear = 0.2
            img = img.transform(
                img.size,
                Image.Transform.AFFINE,
                (1, shear, -shear * height, 0, 1, 0),
                fillcolor=255,
            )
        if (state.width, state.height) != (1, 1):
            size = (img.width * state.width, img.height * state.height)
            img = img.resize(size, Image.Resampling.NEAREST)
        return img

    def _qr_image(self) -> Image.Image:
        code = qrcode.QRCode(border=0, error_correction=_QR_EC.get(self._qr_ec, 0))
        code.add_data(self._qr_data)
        code.make(fit=True)
        matrix: list[list[bool]] = code.get_matrix()
        size = self._qr_module
        img = Image.new("L", (len(matrix) * size, len(matrix) * size + LINE_GAP), 255)
        draw = ImageDraw.Draw(img)
        for y, cells in enumerate(matrix):
            for x, dark in enumerate(cells):
                if dark:
                    draw.rectangle(
                        (x * size, y * size, x * size + size - 1, y * size + size - 1), 0
                    )
        return img


def _restyle(state: _State, style: Style) -> _State:
    if style.reset:
        return _State()
    changes = {k: v for k, v in vars(style).items() if v is not None and k != "reset"}
    return replace(state, **changes)


def _raster(data: bytes, width_bytes: int, height: int) -> Image.Image:
    inverted = bytes(~b & 0xFF for b in data.ljust(width_bytes * height, b"\0"))
    return Image.frombytes("1", (width_bytes * 8, height), inverted).convert("L")


def _cut_line(width: int, partial: bool) -> Image.Image:
    img = Image.new("L", (width, 24), 255)
    draw = ImageDraw.Draw(img)
    dash = 6 if partial else 12
    for x in range(0, width, dash * 2):
        draw.line((x, 12, x + dash - 1, 12), fill=0, width=2)
    return img
