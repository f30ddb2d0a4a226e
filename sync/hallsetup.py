"""Hall configuration as the cloud authors it and the edge applies it."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sync.numbering import PREFIX_PATTERN
from sync.voice import VoiceSetup

__all__ = [
    "Booking",
    "BusinessCategory",
    "BusinessType",
    "CallingArea",
    "HallInfo",
    "HallSetup",
    "StaffMember",
    "TimeRange",
    "Window",
]

_ID = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(_Strict):
    """A span of the day in the hall's local time, start inclusive, end exclusive."""

    start: dt.time
    end: dt.time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start >= self.end:
            raise ValueError(f"time range ends before it starts: {self.start}–{self.end}")
        return self

    def contains(self, moment: dt.time) -> bool:
        return self.start <= moment < self.end


class HallInfo(_Strict):
    id: str = _ID
    name: str = Field(min_length=1, description="hall name shown on screens")
    unit_name: str = Field("", description="unit name printed on tickets")
    timezone: str = "Asia/Shanghai"
    hours: list[TimeRange] = Field(
        default_factory=lambda: [
            TimeRange(start=dt.time(9), end=dt.time(12)),
            TimeRange(start=dt.time(13, 30), end=dt.time(17, 30)),
        ],
        description="the hall's working hours on a working day (§4.1.2 case 4)",
    )
    working_weekdays: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays, Monday = 1"
    )
    closed_dates: list[dt.date] = Field(default_factory=list, description="holidays")
    extra_working_dates: list[dt.date] = Field(
        default_factory=list, description="adjusted working days (调休上班)"
    )
    assignment: Literal["window", "staff"] = Field(
        "window", description="business types come from the window or from its staff (§4.6.3)"
    )
    evaluation_gate: bool = Field(False, description="one-ticket-one-evaluation (一号一评)")
    evaluation_gate_seconds: int = Field(
        60, ge=0, description="the gate opens by itself this many seconds after finishing"
    )
    auto_call_seconds: int = Field(
        0, ge=0, description="auto-call an idle open window after this many seconds; 0 = off"
    )
    green_channel_age: int | None = Field(
        70,
        ge=1,
        description="a citizen this old, known by ID number, gets the green channel by itself",
    )
    supplement_valid_days: int = Field(
        30, ge=1, description="how long a 补证补件 code lets the citizen return"
    )

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.closed_dates:
            return False
        return day in self.extra_working_dates or day.isoweekday() in self.working_weekdays


class CallingArea(_Strict):
    id: str = _ID
    name: str = Field(min_length=1)


class BusinessCategory(_Strict):
    id: str = _ID
    name: str = Field(min_length=1)
    waiting_warning: int | None = Field(
        None, ge=1, description="warn when more than this many wait in the category"
    )


class BusinessType(_Strict):
    id: str = _ID
    category: str = _ID
    name: str = Field(min_length=1, max_length=40)
    prefix: str
    description: str = ""
    hint: str = Field("", description="业务提示 printed on the ticket")
    instructions: str = Field("", description="办理方法 printed on the ticket")
    department: str = ""
    pinyin: str = Field(
        "", description="pinyin initials for kiosk search; derived from the name when empty"
    )
    hours: list[TimeRange] = Field(
        default_factory=list, description="service hours; empty means the hall's hours"
    )
    daily_cap: int | None = Field(None, ge=1, description="handled tickets a day")
    duration_warning_seconds: int | None = Field(
        None, ge=1, description="warn when one ticket is handled for longer than this"
    )

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not PREFIX_PATTERN.match(value):
            raise ValueError("prefix must be one or two capital letters")
        return value


class Window(_Strict):
    id: str = _ID
    area: str = _ID
    number: str = Field(min_length=1, max_length=8, description="what the voice says: 3 号窗口")
    name: str = ""
    business_types: list[str] = Field(
        default_factory=list, description="served types, highest priority first"
    )


class StaffMember(_Strict):
    id: str = _ID
    staff_no: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1)
    password_hash: str = Field("", description="Argon2 hash; empty means card login only")
    card_no: str = ""
    title: str = ""
    department: str = ""
    post_type: Literal["ordinary", "leifeng", "party"] = "ordinary"
    stars: int = Field(3, ge=1, le=5)
    business_types: list[str] = Field(
        default_factory=list, description="served types when assignment is by staff"
    )
    can_issue_tickets: bool = Field(False, description="may take tickets for citizens (§4.3.10)")


class Booking(_Strict):
    """A booking as the edge holds it: enough to check the citizen in at the kiosk."""

    id: str = _ID
    code: str = Field(min_length=4, max_length=32)
    name: str = ""
    phone: str = ""
    id_number: str = ""
    business_type: str = _ID
    date: dt.date
    slot_start: dt.time
    slot_end: dt.time
    # no_show: the cloud saw no check-in by the slot's end plus its grace period; the kiosk
    # still checks the citizen in (late), and the cloud then reverses the penalty
    status: Literal["booked", "cancelled", "checked_in", "no_show"] = "booked"


class HallSetup(_Strict):
    """Everything the edge needs to run its queue, applied as one version."""

    version: int = Field(ge=1)
    hall: HallInfo
    areas: list[CallingArea] = Field(min_length=1)
    categories: list[BusinessCategory] = Field(min_length=1)
    business_types: list[BusinessType] = Field(min_length=1)
    windows: list[Window] = Field(default_factory=list)
    staff: list[StaffMember] = Field(default_factory=list)
    voice: VoiceSetup = Field(default_factory=VoiceSetup, description="voice calling (§4.2.3)")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        for name, items in (
            ("area", self.areas),
            ("category", self.categories),
            ("business type", self.business_types),
            ("window", self.windows),
            ("staff member", self.staff),
        ):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    problems.append(f"{name} id {item.id!r} appears twice")
                seen.add(item.id)
        staff_numbers = [s.staff_no for s in self.staff]
        if len(set(staff_numbers)) != len(staff_numbers):
            problems.append("staff numbers must be unique")
        areas = {a.id for a in self.areas}
        categories = {c.id for c in self.categories}
        types = {t.id for t in self.business_types}
        for t in self.business_types:
            if t.category not in categories:
                problems.append(f"business type {t.id!r}: unknown category {t.category!r}")
        for w in self.windows:
            if w.area not in areas:
                problems.append(f"window {w.id!r}: unknown area {w.area!r}")
            problems.extend(_references(f"window {w.id!r}", w.business_types, types))
        for s in self.staff:
            problems.extend(_references(f"staff {s.id!r}", s.business_types, types))
        for v in self.voice.areas:
            if v.area not in areas:
                problems.append(f"voice: unknown area {v.area!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _references(owner: str, refs: list[str], known: set[str]) -> list[str]:
    problems = [f"{owner}: unknown business type {r!r}" for r in refs if r not in known]
    if len(set(refs)) != len(refs):
        problems.append(f"{owner}: a business type is listed twice")
    return problems
