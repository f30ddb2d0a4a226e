"""Time for the edge: one source of 'now' so that tests can move the hall through its day."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock", "ms_to_datetime", "to_ms"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that stands still until moved; used by tests and by replays."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._ms = to_ms(start)

    def now_ms(self) -> int:
        return self._ms

    def set(self, moment: dt.datetime) -> None:
        self._ms = to_ms(moment)

    def advance(self, seconds: float) -> None:
        self._ms += round(seconds * 1000)


def to_ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def ms_to_datetime(ms: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz)
