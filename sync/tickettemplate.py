"""The ticket layout as the cloud authors it and the edge prints it (§4.1.3, §1.2).

A template is an ordered list of elements, one per ticket field, each on its own line with an
alignment, a font (A/B), width/height multipliers and an effect. A text element's `format` is a
format string over the ticket's fields (`{number}`, `{waiting}`, … or `{value}` for its own
field); the QR element carries the ticket's WeChat binding link.
"""

from __future__ import annotations

import string
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_TEMPLATE",
    "FIELDS",
    "Align",
    "Effect",
    "QrElement",
    "TextElement",
    "TextField",
    "TicketElement",
    "TicketTemplate",
]

TextField = Literal[
    "number",
    "time",
    "business_type",
    "serving_windows",
    "waiting",
    "unit_name",
    "hint",
    "instructions",
]
Align = Literal["left", "center", "right"]
Effect = Literal["normal", "bold", "italic", "underline"]

FIELDS: tuple[str, ...] = TextField.__args__  # type: ignore[attr-defined]
_SAMPLE = {name: "1" for name in FIELDS} | {"value": "1"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextElement(_Strict):
    """One ticket field printed as text."""

    kind: TextField
    line: int = Field(ge=0, le=99, description="order on the ticket, top first")
    align: Align = "center"
    font: Literal["A", "B"] = "A"
    width: int = Field(1, ge=1, le=8, description="character width multiplier")
    height: int = Field(1, ge=1, le=8, description="character height multiplier")
    effect: Effect = "normal"
    format: str = Field("{value}", max_length=200, description="e.g. 前面还有 {waiting} 人等候")
    skip_if_empty: bool = Field(True, description="leave the line out when the field is empty")
    feed_after: int = Field(0, ge=0, le=5, description="blank lines after the element")

    @field_validator("format")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        _check_format(value)
        return value


class QrElement(_Strict):
    """The QR code binding the ticket to WeChat (§1.2), with an optional caption below."""

    kind: Literal["qr"]
    line: int = Field(ge=0, le=99)
    align: Align = "center"
    module_size: int = Field(6, ge=1, le=16, description="dots per QR module")
    error_correction: Literal["L", "M", "Q", "H"] = "M"
    caption: str = Field("", max_length=100, description="text under the code; a format string")
    feed_after: int = Field(0, ge=0, le=5)

    @field_validator("caption")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        _check_format(value)
        return value


TicketElement = Annotated[TextElement | QrElement, Field(discriminator="kind")]


class TicketTemplate(_Strict):
    """A ticket layout; every element at most once, every line number used once."""

    version: int = Field(1, ge=1)
    name: str = Field("默认取号凭条", min_length=1, max_length=40)
    time_format: str = Field("%Y-%m-%d %H:%M", description="strftime format of the issue time")
    windows_separator: str = Field("、", max_length=4, description="between window numbers")
    elements: list[TicketElement] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        kinds = [e.kind for e in self.elements]
        lines = [e.line for e in self.elements]
        problems = [
            f"element {k!r} appears twice" for k in sorted(set(kinds)) if kinds.count(k) > 1
        ]
        problems += [f"line {n} is used twice" for n in sorted(set(lines)) if lines.count(n) > 1]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def ordered(self) -> list[TextElement | QrElement]:
        """The elements top to bottom."""
        return sorted(self.elements, key=lambda e: e.line)


def _check_format(value: str) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"bad format string {value!r}: {exc}") from exc
    unknown = sorted({n for n in names if n not in _SAMPLE})
    if unknown:
        allowed = ", ".join(["value", *FIELDS])
        raise ValueError(f"unknown field(s) {', '.join(unknown)} in {value!r}; use {allowed}")
    try:
        value.format(**_SAMPLE)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"bad format string {value!r}: {exc}") from exc


DEFAULT_TEMPLATE = TicketTemplate(
    elements=[
        TextElement(kind="unit_name", line=0, effect="bold", width=1, height=2, feed_after=1),
        TextElement(kind="business_type", line=1, width=2, height=2),
        TextElement(kind="number", line=2, width=4, height=4, effect="bold", feed_after=1),
        TextElement(kind="waiting", line=3, format="前面还有 {waiting} 人等候"),
        TextElement(kind="serving_windows", line=4, format="请到 {serving_windows} 号窗口办理"),
        TextElement(kind="time", line=5, format="取号时间：{time}", feed_after=1),
        TextElement(kind="hint", line=6, align="left", format="业务提示：{hint}"),
        TextElement(
            kind="instructions",
            line=7,
            align="left",
            format="办理方法：{instructions}",
            feed_after=1,
        ),
        QrElement(kind="qr", line=8, caption="微信扫一扫，到号提醒（请妥善保管本凭条）"),
    ]
)
