"""The printer profile: what an ESC/POS ticket printer model can do, as data."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.devices.profiles import ProfileBase, SerialTransport, TcpTransport, UsbTransport

__all__ = ["Capabilities", "CutSettings", "FontMetrics", "PrinterProfile", "Transport"]

Transport = Annotated[SerialTransport | TcpTransport | UsbTransport, Field(discriminator="type")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capabilities(_Strict):
    """What the firmware understands; drivers ask these, never the model name."""

    qr: bool = Field(False, description="native QR code, GS ( k fn 65/67/69/80/81")
    raster_image: bool = Field(False, description="raster bit image GS v 0 (QR fallback)")
    barcode: bool = Field(False, description="1D barcodes, GS k")
    cut: bool = Field(False, description="an auto cutter")
    partial_cut: bool = Field(False, description="the cutter can leave a hinge")
    status_dle_eot: bool = Field(False, description="answers real-time DLE EOT n")
    italic: bool = Field(False, description="italic text, ESC 4 n (few ESC/POS firmwares)")
    underline: bool = Field(True, description="ESC - n")
    density: bool = Field(False, description="print density adjustable at run time")


class CutSettings(_Strict):
    variant: Literal["gs_v_0", "gs_v_66"] = Field(
        "gs_v_0", description="GS V 0 / GS V 1 (full/partial), or function B GS V 65/66 n"
    )
    feed_lines: int = Field(4, ge=0, le=20, description="lines fed (ESC d) before the cut")
    partial: bool = Field(False, description="leave a hinge (needs capabilities.partial_cut)")


class FontMetrics(_Strict):
    """One character cell of a font at size 1×1, in dots; a CJK character is two cells wide."""

    width: int = Field(ge=6, le=32)
    height: int = Field(ge=8, le=48)


class PrinterProfile(ProfileBase):
    """An ESC/POS receipt printer as the hall uses it to print tickets."""

    paper_width_mm: Literal[58, 80] = Field(description="roll width")
    dots_per_line: int = Field(ge=256, le=832, description="printable dots on one line")
    dpi: int = Field(203, ge=150, le=400, description="dots per inch")
    encoding: Literal["gb18030", "gbk", "utf-8", "big5"] = Field(
        description="how the firmware decodes Chinese text"
    )
    chinese_mode: Literal["boot", "fs_and"] = Field(
        description="boots in Chinese mode, or needs FS & to enter it (FS . leaves it)"
    )
    capabilities: Capabilities = Field(default_factory=Capabilities)
    cut: CutSettings = Field(default_factory=CutSettings)
    density_levels: int = Field(0, ge=0, le=9, description="levels of GS ( K / ESC 7; 0 = none")
    char_sizes: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8],
        description="width/height multipliers GS ! accepts",
    )
    font_a: FontMetrics = Field(default_factory=lambda: FontMetrics(width=12, height=24))
    font_b: FontMetrics = Field(default_factory=lambda: FontMetrics(width=9, height=17))
    transports: list[Transport] = Field(default_factory=list, description="how it connects")
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> PrinterProfile:
        if not self.char_sizes or 1 not in self.char_sizes:
            raise ValueError("char_sizes must include 1")
        if any(not 1 <= s <= 8 for s in self.char_sizes):
            raise ValueError("char_sizes are multipliers 1–8")
        if self.capabilities.partial_cut and not self.capabilities.cut:
            raise ValueError("partial_cut needs cut")
        if self.cut.partial and not self.capabilities.partial_cut:
            raise ValueError("cut.partial needs capabilities.partial_cut")
        if self.capabilities.density != (self.density_levels > 0):
            raise ValueError("capabilities.density and density_levels disagree")
        if not self.abstract and not self.transports:
            raise ValueError("a model needs at least one transport")
        return self

    def font(self, name: Literal["A", "B"]) -> FontMetrics:
        return self.font_a if name == "A" else self.font_b

    def fit_size(self, wanted: int) -> int:
        """The largest available multiplier not above `wanted`."""
        return max(s for s in self.char_sizes if s <= max(wanted, 1))

    def columns(self, font: Literal["A", "B"], width: int = 1) -> int:
        """Half-width characters on one line in `font` at width multiplier `width`."""
        return self.dots_per_line // (self.font(font).width * width)
