"""The LED profile: what a window bar or hall screen model is, as data validated on load.

A model that differs from another only in address, baud rate, lines, characters per line,
colours, area geometry or default effect is a new TOML file; a new frame format is code
(a protocol module registered in `edge.devices.led.protocol`).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.devices.profiles import ProfileBase, SerialTransport, TcpTransport

__all__ = [
    "Area",
    "Capabilities",
    "Colour",
    "Effect",
    "FrameFields",
    "Layout",
    "LedProfile",
    "ProtocolName",
]

ProtocolName = Literal["onbon-bx-font", "modbus-numeric", "huidu-sdk2"]
Colour = Literal["red", "green", "yellow", "blue", "white", "amber"]
# Protocol-neutral effects; each protocol maps them to its own codes.
Effect = Literal["static", "type_out", "scroll_left", "scroll_up"]
Checksum = Literal["crc16-arc", "crc16-modbus", "none"]
TextEncoding = Literal["gb2312", "gbk", "gb18030", "ascii", "utf-8"]

Transport = Annotated[SerialTransport | TcpTransport, Field(discriminator="type")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameFields(_Strict):
    """The frame fields that the protocol leaves to the model."""

    address: int = Field(1, ge=0, le=0xFFFF, description="screen number / Modbus slave id")
    device_type: int = Field(0xFE, ge=0, le=0xFF, description="Onbon device type; 0xFE any")
    checksum: Checksum = Field(description="checksum algorithm of the frame")
    encoding: TextEncoding = Field("gb2312", description="how text is encoded on the wire")
    acknowledge: bool = Field(
        False, description="ask the controller to answer every command and wait for it"
    )


class Capabilities(_Strict):
    """What the display can show; drivers ask these, never the model name."""

    lines: int = Field(ge=1, le=16, description="text lines (central screen: board rows)")
    chars_per_line: int = Field(
        ge=1, le=64, description="full-width (Chinese) characters per line; ASCII takes half"
    )
    colours: list[Colour] = Field(min_length=1, description="first is the default")
    scrolling: bool = Field(description="the controller can scroll text longer than a line")
    chinese: bool = Field(True, description="has a GB2312 font (False: digits and A-Z only)")
    width: int | None = Field(None, ge=1, le=8192, description="pixels")
    height: int | None = Field(None, ge=1, le=8192, description="pixels")


class Area(_Strict):
    """A rectangle of the screen, in pixels from the top-left corner."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class Layout(_Strict):
    """How text is placed and animated by default."""

    effect: Effect = "static"
    speed: int = Field(4, ge=0, le=15, description="effect speed, protocol units")
    stay_seconds: float = Field(3.0, ge=0, le=120, description="how long a page stays")
    areas: list[Area] = Field(
        default_factory=list, description="one per line; empty = equal horizontal bands"
    )


# protocol -> (checksums, encodings, transports, pixel geometry needed)
_RULES: dict[str, tuple[set[str], set[str], set[str], bool]] = {
    "onbon-bx-font": ({"crc16-arc"}, {"gb2312", "gbk", "gb18030"}, {"serial", "tcp"}, True),
    "modbus-numeric": ({"crc16-modbus"}, {"ascii"}, {"serial", "tcp"}, False),
    "huidu-sdk2": ({"none"}, {"utf-8"}, {"tcp"}, True),
}


class LedProfile(ProfileBase):
    """An LED window bar (窗口条屏) or central hall screen (综合屏) model."""

    protocol: ProtocolName = Field(description="the frame format implementation")
    role: Literal["window", "central"]
    frame: FrameFields
    transports: list[Transport] = Field(min_length=1)
    capabilities: Capabilities
    layout: Layout = Field(default_factory=Layout)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        checksums, encodings, transports, pixels = _RULES[self.protocol]
        frame, caps = self.frame, self.capabilities
        problems: list[str] = []
        if frame.checksum not in checksums:
            problems.append(f"frame.checksum {frame.checksum!r} is not one of {sorted(checksums)}")
        if frame.encoding not in encodings:
            problems.append(f"frame.encoding {frame.encoding!r} is not one of {sorted(encodings)}")
        for transport in self.transports:
            if transport.type not in transports:
                problems.append(f"transport {transport.type!r} is not one of {sorted(transports)}")
        if self.protocol == "modbus-numeric" and not 1 <= frame.address <= 247:
            problems.append(f"frame.address {frame.address} is not a Modbus slave id (1-247)")
        if self.protocol == "modbus-numeric" and caps.chinese:
            problems.append("capabilities.chinese must be false: a segment display has no font")
        if pixels and (caps.width is None or caps.height is None):
            problems.append("capabilities.width and capabilities.height are needed (pixels)")
        problems += self._area_problems()
        if problems:
            raise ValueError(f"{self.protocol}: " + "; ".join(problems))
        return self

    def _area_problems(self) -> list[str]:
        caps, areas = self.capabilities, self.layout.areas
        if not areas:
            return []
        problems = []
        if len(areas) != caps.lines:
            problems.append(f"layout.areas has {len(areas)} areas for {caps.lines} lines")
        for i, area in enumerate(areas):
            width, height = caps.width or 0, caps.height or 0
            if width and height and (area.x + area.width > width or area.y + area.height > height):
                problems.append(f"layout.areas[{i}] lies outside {caps.width}×{caps.height}")
            if self.protocol == "onbon-bx-font" and (area.x % 8 or area.width % 8):
                problems.append(f"layout.areas[{i}] x and width must be multiples of 8 pixels")
        return problems

    def areas(self) -> list[Area]:
        """One area per line: the profile's own, or equal horizontal bands of the screen."""
        if self.layout.areas:
            return list(self.layout.areas)
        caps = self.capabilities
        width, height = caps.width or 0, caps.height or 0
        band = height // caps.lines if height else 0
        return [
            Area(x=0, y=i * band, width=max(width, 1), height=max(band, 1))
            for i in range(caps.lines)
        ]

    def whole_screen(self) -> Area:
        """The full screen as one area (a window bar's text wraps across its lines)."""
        caps = self.capabilities
        return Area(x=0, y=0, width=caps.width or 1, height=caps.height or 1)

    @property
    def columns(self) -> int:
        """Cells per line: half-width cells on a display with a Chinese font, else characters."""
        caps = self.capabilities
        return 2 * caps.chars_per_line if caps.chinese else caps.chars_per_line

    def transport(self, kind: Literal["serial", "tcp"]) -> SerialTransport | TcpTransport | None:
        return next((t for t in self.transports if t.type == kind), None)
