"""The calendar dates in the halls' setups follow the calendar as time moves on: a round stores
a recomputed version where the dates ahead changed, and nothing where they did not."""

from __future__ import annotations

import time

from aiohttp.test_utils import TestClient

from cloud.calendar_refresh import refresh_all, refresh_hall
from cloud.db import open_engine
from cloud.setups import store_setup
from tests.cloud.conftest import ADMIN, register
from tests.cloud.test_calendars import ahead, pulled, today
from tests.edge.hall import small_hall

DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_a_date_coming_into_the_window_is_sent_in_a_new_version(
    cloud: TestClient, database_url: str
) -> None:
    hall, auth = await register(cloud)
    # a local holiday 300 days ahead: beyond the reach of a version stored 200 days ago
    holiday = ahead(3, days=300)
    response = await cloud.put(
        f"/api/halls/{hall}/calendar/{holiday}",
        json={"working": False, "reason": "本地节日"},
        headers=ADMIN,
    )
    assert response.status == 200, await response.text()
    engine = open_engine(database_url)
    try:
        raw = small_hall(id=hall, version=5).model_dump_json().encode()
        await store_setup(engine, hall, raw, now_ms() - 200 * DAY_MS)
        old = await pulled(cloud, auth)
        assert holiday.isoformat() not in old["setup"]["hall"]["closed_dates"]

        assert await refresh_hall(engine, hall, now_ms()) == 6
        new = await pulled(cloud, auth, after=5)
        assert new["version"] == 6
        closed = new["setup"]["hall"]["closed_dates"]
        assert holiday.isoformat() in closed
        assert min(closed) >= today().isoformat()
        # everything but the dates is the version before it
        for part in ("areas", "categories", "business_types", "windows", "staff"):
            assert new["setup"][part] == old["setup"][part]

        # nothing changed since: the next rounds store nothing
        assert await refresh_hall(engine, hall, now_ms()) is None
        assert hall not in await refresh_all(engine, now_ms())

        audit = await cloud.get("/api/audit", params={"hall": hall, "resource": "hall_setup"},
                                headers=ADMIN)  # fmt: skip
        entries = (await audit.json())["entries"]
        assert entries[0]["actor"] == "system" and entries[0]["resource_id"] == "6"
    finally:
        await engine.dispose()


async def test_a_fresh_setup_needs_no_refresh(cloud: TestClient, database_url: str) -> None:
    hall, _ = await register(cloud)
    engine = open_engine(database_url)
    try:
        assert await refresh_hall(engine, hall, now_ms()) is None  # no setup yet
        raw = small_hall(id=hall, version=1).model_dump_json().encode()
        await store_setup(engine, hall, raw, now_ms())
        assert await refresh_hall(engine, hall, now_ms()) is None
    finally:
        await engine.dispose()
