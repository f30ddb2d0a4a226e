"""The cloud knows every event the edge writes, and counts a hall's day from them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cloud.app import ENGINE
from cloud.reports import hall_counts
from sync.events import EVENT_TYPES, poison_reason
from tests.cloud.conftest import ADMIN, batch, event, register

EDGE = Path(__file__).resolve().parents[2] / "edge"


def test_every_event_type_the_edge_writes_is_known_to_the_cloud() -> None:
    written: set[str] = set()
    for source in EDGE.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        written |= set(re.findall(r'tx\.event\(\s*"([a-z0-9_.]+)"', text))
        # types chosen by a condition: `"window.resumed", "paused": "window.paused"`, …
        for call in re.findall(r"tx\.event\(\s*\n?\s*([^,]+if[^,]+else[^,]+),", text):
            written |= set(re.findall(r'"([a-z]+\.[a-z_]+)"', call))
    assert len(written) >= 25, written
    assert written - set(EVENT_TYPES) == set()


def test_a_payload_without_what_the_reports_need_is_poison() -> None:
    assert poison_reason("ticket.issued", {"ticket": {"id": "t1"}}) is not None
    assert poison_reason("ticket.evaluated", {"ticket": {"id": "t1"}, "level": "ok"}) is not None
    assert poison_reason("ticket.evaluated", {"ticket": {"id": "t1"}, "level": "basic"}) is None
    assert poison_reason("device.online", {"device": "d1"}) is not None
    assert poison_reason("nobody.knows", {}) == "unknown event type nobody.knows"


def ticket(n: int, staff: str = "s01", day: str = "2025-01-06") -> dict[str, Any]:
    return {"id": f"t{n}", "business_type": "b1", "day": day, "window": "w01", "staff": staff}


async def test_a_halls_counts_come_from_its_stored_events(cloud: Any) -> None:
    hall, auth = await register(cloud)
    sent = [
        event(1, ticket=ticket(1)),
        event(2, ticket=ticket(2)),
        event(3, ticket=ticket(3, day="2025-01-07")),
        event(4, "ticket.called", ticket=ticket(1, "s01"), auto=False),
        event(5, "ticket.called", ticket=ticket(2, "s02"), auto=True),
        event(6, "ticket.recalled", ticket=ticket(2, "s02")),
        event(7, "ticket.finished", ticket=ticket(1, "s01"), evaluation_requested=True),
        event(8, "ticket.evaluated", ticket=ticket(1, "s01"), level="very_satisfied"),
        event(9, "ticket.evaluated", ticket=ticket(2, "s02"), level="dissatisfied"),
        event(10, "ticket.evaluated", ticket=ticket(3, "s02"), level="superb"),  # poison
        event(11, "window.paused", window={"id": "w01"}),
    ]
    assert (await cloud.post("/sync/v1/events", json=batch(hall, sent, after=0),
                             headers=auth)).status == 200  # fmt: skip
    counts = await hall_counts(cloud.server.app[ENGINE], hall)
    assert counts.as_json() == {
        "issued": 3,
        "called": 2,
        "finished": 1,
        "evaluations": {"dissatisfied": 1, "very_satisfied": 1},
        "staff": {
            "s01": {"calls": 1, "evaluations": {"very_satisfied": 1}},
            "s02": {"calls": 1, "evaluations": {"dissatisfied": 1}},
        },
    }
    day = await cloud.get(f"/api/halls/{hall}/counts", params={"day": "2025-01-07"},
                          headers=ADMIN)  # fmt: skip
    assert await day.json() == {"issued": 1, "called": 0, "finished": 0, "evaluations": {},
                                "staff": {}}  # fmt: skip
