"""A hall's counts from the events it synced: what the edge counted, computed again in the cloud.

The numbers are counts of stored events (every epoch of the hall), so that the edge can compare
them with its own log: `issued` = `ticket.issued`, `called` = `ticket.called` (a recall is not
a new call), `finished` = `ticket.finished`, `evaluations` = `ticket.evaluated` by level; per
staff member (the ticket's `staff`), the calls and the evaluations of the tickets they served.
`day` (YYYY-MM-DD, the ticket's business day) narrows every count to one day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.db import events

__all__ = ["HallCounts", "StaffTotals", "hall_counts"]

_COUNTED = ("ticket.issued", "ticket.called", "ticket.finished", "ticket.evaluated")


@dataclass
class StaffTotals:
    calls: int = 0
    evaluations: dict[str, int] = field(default_factory=dict)

    @property
    def evaluated(self) -> int:
        return sum(self.evaluations.values())


@dataclass
class HallCounts:
    issued: int = 0
    called: int = 0
    finished: int = 0
    evaluations: dict[str, int] = field(default_factory=dict)
    staff: dict[str, StaffTotals] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "issued": self.issued,
            "called": self.called,
            "finished": self.finished,
            "evaluations": dict(sorted(self.evaluations.items())),
            "staff": {
                s: {"calls": t.calls, "evaluations": dict(sorted(t.evaluations.items()))}
                for s, t in sorted(self.staff.items())
            },
        }


async def hall_counts(engine: AsyncEngine, hall: str, day: str | None = None) -> HallCounts:
    ticket = events.c.payload["ticket"]
    staff = sa.func.coalesce(ticket["staff"].as_string(), "")
    level = sa.func.coalesce(events.c.payload["level"].as_string(), "")
    where = [events.c.hall == hall, events.c.type.in_(_COUNTED)]
    if day is not None:
        where.append(ticket["day"].as_string() == day)
    query = (
        sa.select(events.c.type, staff, level, sa.func.count())
        .where(*where)
        .group_by(events.c.type, staff, level)
    )
    counts = HallCounts()
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    for type_, who, how, n in rows:
        if type_ == "ticket.issued":
            counts.issued += n
        elif type_ == "ticket.finished":
            counts.finished += n
        elif type_ == "ticket.called":
            counts.called += n
            if who:
                counts.staff.setdefault(who, StaffTotals()).calls += n
        else:
            counts.evaluations[how] = counts.evaluations.get(how, 0) + n
            if who:
                totals = counts.staff.setdefault(who, StaffTotals())
                totals.evaluations[how] = totals.evaluations.get(how, 0) + n
    return counts
