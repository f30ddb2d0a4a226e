"""A ticket laid out for one printer: the template's elements as styled, wrapped lines."""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from edge.devices.printer.profile import PrinterProfile
from sync.hallsetup import BusinessType, HallInfo
from sync.tickettemplate import Align, QrElement, TextElement, TicketTemplate

__all__ = [
    "Block",
    "Feed",
    "QrBlock",
    "TextLine",
    "TicketContent",
    "display_width",
    "layout",
    "wrap",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TicketContent:
    """What a ticket says (§4.1.3), independent of how it is laid out."""

    number: str
    issued_at: dt.datetime
    business_type: str
    serving_windows: tuple[str, ...] = ()
    waiting: int = 0
    unit_name: str = ""
    hint: str = ""
    instructions: str = ""

    @classmethod
    def from_view(
        cls, view: Mapping[str, Any], *, hall: HallInfo, business_type: BusinessType
    ) -> TicketContent:
        """From `edge.queue.views.ticket_view` of a just-issued ticket and the hall setup."""
        issued = dt.datetime.fromtimestamp(view["issued_at"] / 1000, ZoneInfo(hall.timezone))
        return cls(
            number=view["number"],
            issued_at=issued,
            business_type=view.get("business_type_name") or business_type.name,
            serving_windows=tuple(view.get("serving_windows") or ()),
            waiting=int(view.get("waiting_at_issue") or 0),
            unit_name=hall.unit_name,
            hint=business_type.hint,
            instructions=business_type.instructions,
        )

    def fields(self, template: TicketTemplate) -> dict[str, str]:
        return {
            "number": self.number,
            "time": self.issued_at.strftime(template.time_format),
            "business_type": self.business_type,
            "serving_windows": template.windows_separator.join(self.serving_windows),
            "waiting": str(self.waiting),
            "unit_name": self.unit_name,
            "hint": self.hint,
            "instructions": self.instructions,
        }


@dataclass(frozen=True)
class TextLine:
    """One printed line; `text` already fits the line at its font and width."""

    text: str
    align: Align = "left"
    font: Literal["A", "B"] = "A"
    width: int = 1
    height: int = 1
    bold: bool = False
    underline: bool = False
    italic: bool = False


@dataclass(frozen=True)
class QrBlock:
    payload: str
    align: Align = "center"
    module_size: int = 6
    error_correction: Literal["L", "M", "Q", "H"] = "M"


@dataclass(frozen=True)
class Feed:
    lines: int


Block = TextLine | QrBlock | Feed


def layout(
    content: TicketContent,
    template: TicketTemplate,
    profile: PrinterProfile,
    qr_payload: str | None = None,
) -> list[Block]:
    """The ticket top to bottom as the printer can print it."""
    fields = content.fields(template)
    blocks: list[Block] = []
    for element in template.ordered():
        if isinstance(element, QrElement):
            blocks.extend(_qr(element, fields, profile, qr_payload))
        else:
            blocks.extend(_text(element, fields, profile))
        if element.feed_after and blocks:
            blocks.append(Feed(element.feed_after))
    return blocks


def display_width(text: str) -> int:
    """Columns `text` takes: a wide (CJK, full-width) character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


_TOKEN = re.compile(r"[!-~]+| +|.", re.DOTALL)
_NO_LINE_START = frozenset("）」』】》〉，。、；：！？…%)]}>,.;:!?")


def wrap(text: str, columns: int) -> list[str]:
    """Break `text` into lines of at most `columns` columns; Latin words stay whole if they fit."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in _TOKEN.findall(paragraph):
            if display_width(line + token) <= columns:
                line += token
                continue
            carried = ""
            if token[0] in _NO_LINE_START and len(line) > 1:
                line, carried = line[:-1], line[-1]  # 避头: no line starts with （ ）。，…
            if line.strip():
                lines.append(line.rstrip())
            line = carried + ("" if token.isspace() else token)
            while display_width(line) > columns:
                cut = _fit(line, columns)
                lines.append(line[:cut])
                line = line[cut:]
        if line.strip() or not lines:
            lines.append(line.rstrip())
    return lines


def _fit(text: str, columns: int) -> int:
    used = 0
    for i, c in enumerate(text):
        used += display_width(c)
        if used > columns:
            return max(i, 1)
    return len(text)


def _text(element: TextElement, fields: dict[str, str], profile: PrinterProfile) -> list[Block]:
    value = fields[element.kind]
    if element.skip_if_empty and not value.strip():
        return []
    text = element.format.format(value=value, **fields)
    italic = element.effect == "italic"
    if italic and not profile.capabilities.italic:
        log.debug("%s: no italic on %s, printing %s upright", element.kind, profile.id, text)
        italic = False
    width, height = profile.fit_size(element.width), profile.fit_size(element.height)
    if (width, height) != (element.width, element.height):
        log.debug(
            "%s: size %sx%s not on %s", element.kind, element.width, element.height, profile.id
        )
    underline = element.effect == "underline" and profile.capabilities.underline
    columns = profile.columns(element.font, width)
    return [
        TextLine(
            text=line,
            align=element.align,
            font=element.font,
            width=width,
            height=height,
            bold=element.effect == "bold",
            underline=underline,
            italic=italic,
        )
        for line in wrap(text, columns)
    ]


def _qr(
    element: QrElement, fields: dict[str, str], profile: PrinterProfile, payload: str | None
) -> list[Block]:
    if not payload:
        return []
    if not (profile.capabilities.qr or profile.capabilities.raster_image):
        log.warning("%s prints no QR code nor images: ticket without its WeChat link", profile.id)
        return []
    blocks: list[Block] = [
        QrBlock(payload, element.align, element.module_size, element.error_correction)
    ]
    if element.caption:
        caption = element.caption.format(value=payload, **fields)
        blocks += [TextLine(line, element.align) for line in wrap(caption, profile.columns("A"))]
    return blocks
