"""Voice calling as the cloud configures it: languages, speeds, repeats, phrases (§4.2.3, §5.2).

A call is spoken from a phrase template per language, "请{number}号到{window}号窗口办理" by
default; the edge cuts it into pieces — the template's fixed words, each character of the
ticket number, the window number read as a Chinese cardinal — and plays each piece from a cache
of clips, so that a call needs no network and no synthesis once the cache is prepared.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_PROMPTS",
    "DEFAULT_TEMPLATES",
    "LANGUAGES",
    "PROMPTS",
    "SPEEDS",
    "AreaVoice",
    "Language",
    "Languages",
    "Piece",
    "PromptName",
    "Speed",
    "VoiceSetup",
    "call_pieces",
    "cardinal",
    "spoken_characters",
]

Language = Literal["cmn", "yue"]
Speed = Literal["normal", "fast", "slow"]
PromptName = Literal["one_meter_line", "paused", "backstage", "evaluate", "thanks"]
LANGUAGES: tuple[Language, ...] = ("cmn", "yue")
SPEEDS: tuple[Speed, ...] = ("normal", "fast", "slow")
PROMPTS: tuple[PromptName, ...] = ("one_meter_line", "paused", "backstage", "evaluate", "thanks")
TEMPLATE_FIELDS = frozenset({"number", "window", "window_name", "service"})

DEFAULT_TEMPLATES: dict[Language, str] = {
    "cmn": "请{number}号到{window}号窗口办理",
    "yue": "請{number}號到{window}號窗口辦理",
}
DEFAULT_PROMPTS: dict[Language, dict[PromptName, str]] = {
    "cmn": {
        "one_meter_line": "请在一米线外等候",
        "paused": "暂停服务",
        "backstage": "后台处理中",
        "evaluate": "请您对本次服务进行评价",
        "thanks": "感谢您的评价",
    },
    "yue": {
        "one_meter_line": "請在一米線外等候",
        "paused": "暫停服務",
        "backstage": "後台處理中",
        "evaluate": "請您對本次服務進行評價",
        "thanks": "感謝您的評價",
    },
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _distinct(value: list[Language]) -> list[Language]:
    if len(set(value)) != len(value):
        raise ValueError("a language is listed twice")
    return value


def _templates(value: dict[Language, str]) -> dict[Language, str]:
    for text in value.values():
        _check_template(text)
    return value


# one language, or both in turn
Languages = Annotated[list[Language], Field(min_length=1, max_length=2), AfterValidator(_distinct)]
Templates = Annotated[dict[Language, str], AfterValidator(_templates)]


def _check_template(text: str) -> str:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"phrase template {text!r}: {exc}") from exc
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        known = ", ".join(sorted(TEMPLATE_FIELDS))
        raise ValueError(f"phrase template {text!r}: unknown field {unknown[0]!r} (known: {known})")
    if "number" not in fields:
        raise ValueError(f"phrase template {text!r} does not say the ticket {{number}}")
    return text


class AreaVoice(_Strict):
    """How one calling area is called aloud; what is not set comes from the hall's setting."""

    area: str = Field(min_length=1, max_length=64)
    languages: Languages | None = None
    speed: Speed | None = None
    repeat: int | None = Field(None, ge=1, le=5)
    silent: bool | None = Field(None, description="无声叫号: screens only, no voice")
    templates: Templates = Field(default_factory=dict)


class VoiceSetup(_Strict):
    """The hall's voice: defaults for every area, per-area settings, phrases and prompts."""

    languages: Languages = Field(default_factory=lambda: list(LANGUAGES[:1]))
    speed: Speed = "normal"
    repeat: int = Field(2, ge=1, le=5, description="how many times a call is said")
    silent: bool = False
    templates: Templates = Field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    prompts: dict[Language, dict[PromptName, str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PROMPTS.items()},
        description="what a window's Pad or player says (§5.2.2–§5.2.6)",
    )
    areas: list[AreaVoice] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        for lang in LANGUAGES:
            if lang not in self.templates:
                raise ValueError(f"no phrase template for {lang}")
            missing = [p for p in PROMPTS if p not in self.prompts.get(lang, {})]
            if missing:
                raise ValueError(f"no {lang} text for the prompt {missing[0]!r}")
        areas = [a.area for a in self.areas]
        if len(set(areas)) != len(areas):
            raise ValueError("an area has two voice settings")
        return self

    def area(self, area: str) -> AreaVoice | None:
        return next((a for a in self.areas if a.area == area), None)

    def template(self, area: str, lang: Language) -> str:
        own = self.area(area)
        if own is not None and lang in own.templates:
            return own.templates[lang]
        return self.templates[lang]


@dataclass(frozen=True)
class Piece:
    """One clip of an announcement: the text it says and the silence after it."""

    text: str
    gap_ms: int


_DIGITS = "零一二三四五六七八九"
_UNITS = ("", "十", "百", "千")
# gaps between the clips of one announcement, in milliseconds
DIGIT_GAP_MS = 40
WORD_GAP_MS = 90


def cardinal(value: int) -> str:
    """A number as it is read aloud in Chinese: 3 → 三, 12 → 十二, 105 → 一百零五."""
    if not 0 <= value < 10_000:
        raise ValueError(f"{value} is out of range for a window number")
    if value == 0:
        return _DIGITS[0]
    digits = [int(d) for d in str(value)]
    out: list[str] = []
    zero = False
    for i, d in enumerate(digits):
        unit = _UNITS[len(digits) - 1 - i]
        if d == 0:
            zero = True
            continue
        if zero and out:
            out.append(_DIGITS[0])
        zero = False
        out.append(_DIGITS[d] + unit)
    text = "".join(out)
    return text[1:] if text.startswith("一十") else text


def spoken_characters(text: str) -> list[str]:
    """A ticket number read one character at a time: A012 → A, 零, 一, 二."""
    return [_DIGITS[int(c)] if c.isdigit() else c.upper() for c in text if c.strip()]


def _window_pieces(number: str) -> list[str]:
    if number.isdigit():
        return [cardinal(int(number))]
    return spoken_characters(number)


def call_pieces(
    template: str, *, number: str, window: str, window_name: str = "", service: str = ""
) -> list[Piece]:
    """The clips of one call in one language, in order."""
    pieces: list[Piece] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        if literal.strip():
            pieces.append(Piece(literal.strip(), WORD_GAP_MS))
        if field == "number":
            pieces += [Piece(c, DIGIT_GAP_MS) for c in spoken_characters(number)]
        elif field == "window":
            pieces += [Piece(c, DIGIT_GAP_MS) for c in _window_pieces(window)]
        elif field == "window_name" and window_name:
            pieces.append(Piece(window_name, WORD_GAP_MS))
        elif field == "service" and service:
            pieces.append(Piece(service, WORD_GAP_MS))
    return pieces
