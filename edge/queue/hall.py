"""A hall's configuration indexed for the queue: lookups, serving types, hours and calendar."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from edge.clock import ms_to_datetime
from sync.hallsetup import BusinessType, HallSetup, StaffMember, TimeRange, Window
from sync.pinyin import pinyin_initials

__all__ = ["HallIndex", "LocalMoment"]


@dataclass(frozen=True)
class LocalMoment:
    """A moment in the hall's own time zone: its business day and time of day."""

    ms: int
    day: dt.date
    time: dt.time

    @property
    def day_text(self) -> str:
        return self.day.isoformat()


class HallIndex:
    """Read-only lookups over one applied `HallSetup` version."""

    def __init__(self, setup: HallSetup) -> None:
        self.setup = setup
        self.hall = setup.hall
        self.tz = ZoneInfo(setup.hall.timezone)
        self.areas = {a.id: a for a in setup.areas}
        self.categories = {c.id: c for c in setup.categories}
        self.types = {t.id: t for t in setup.business_types}
        self.windows = {w.id: w for w in setup.windows}
        self.staff = {s.id: s for s in setup.staff}
        self.staff_by_no = {s.staff_no: s for s in setup.staff}
        self.staff_by_card = {s.card_no: s for s in setup.staff if s.card_no}
        self.type_order = {t.id: i for i, t in enumerate(setup.business_types)}
        self.initials = {
            t.id: (t.pinyin or pinyin_initials(t.name)).lower() for t in setup.business_types
        }
        self.area_types: dict[str, list[str]] = {}
        for area in setup.areas:
            if self.hall.assignment == "staff":
                self.area_types[area.id] = [t.id for t in setup.business_types]
            else:
                served = {t for w in setup.windows if w.area == area.id for t in w.business_types}
                self.area_types[area.id] = [t.id for t in setup.business_types if t.id in served]

    def local(self, ms: int) -> LocalMoment:
        moment = ms_to_datetime(ms, self.tz)
        return LocalMoment(ms=ms, day=moment.date(), time=moment.time())

    def local_ms(self, day: dt.date, time: dt.time) -> int:
        moment = dt.datetime.combine(day, time, tzinfo=self.tz)
        return round(moment.timestamp() * 1000)

    def serving_types(self, window: Window, staff: StaffMember | None) -> list[str]:
        """The business types a window calls, highest priority first (§4.3 item 9, §4.6.3)."""
        if self.hall.assignment == "staff":
            return list(staff.business_types) if staff is not None else []
        return list(window.business_types)

    def hall_open(self, at: LocalMoment) -> bool:
        """§4.1.2 case 4: a working day and inside the hall's hours."""
        return self.hall.is_working_day(at.day) and _within(self.hall.hours, at.time)

    def type_in_hours(self, business_type: BusinessType, at: LocalMoment) -> bool:
        """§4.1.2 case 3: inside the type's own service hours (the hall's when it has none)."""
        return not business_type.hours or _within(business_type.hours, at.time)


def _within(ranges: list[TimeRange], moment: dt.time) -> bool:
    return any(r.contains(moment) for r in ranges)
