"""No-shows against a real PostgreSQL, with the hall's edge syncing in-process: a slot becomes a
no-show only once the hall has synced past its end plus the grace period, so a citizen checked
in while the hall's link was down is never punished; a late check-in reverses the penalty; a
heartbeat that claims more than the cloud holds moves nothing; two workers mark each booking
once."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from cloud.config import BookingsConfig
from cloud.db import bookings, open_engine, penalties
from cloud.noshow import mark_no_shows
from edge.clock import ManualClock, to_ms
from edge.cloudconfig import ConfigPull
from edge.cloudsync import CloudSync
from edge.db import open_database
from edge.queue import QueueEngine
from tests.cloud.conftest import (
    ADMIN,
    CloudWorker,
    batch,
    cloud_config,
    event,
    next_working_day,
    register,
)
from tests.conftest import SHANGHAI, hall_time, stop, until
from tests.edge.hall import small_hall

DAY = next_working_day()


def no_show_worker(url: str) -> CloudWorker:
    """A worker that runs no-show rounds only when asked."""
    config = cloud_config(url)
    return CloudWorker(
        config.model_copy(update={"bookings": BookingsConfig(no_show_interval_seconds=0)})
    )


@pytest.fixture
async def clouds(postgresql_url: str) -> AsyncIterator[tuple[CloudWorker, CloudWorker]]:
    """Two workers on one database: the hall's link reaches the first; operators use the
    second, which stays up when the hall's link is cut."""
    link, ops = no_show_worker(postgresql_url), no_show_worker(postgresql_url)
    await link.start()
    await ops.start()
    try:
        yield link, ops
    finally:
        await link.stop()
        await ops.stop()


@pytest.fixture
def hall_engine(tmp_path: Path) -> Iterator[QueueEngine]:
    conn = open_database(tmp_path / "edge.sqlite3")
    engine = QueueEngine(conn, ManualClock(hall_time(DAY, 9, 0)))
    engine.apply_setup(small_hall(id=f"hall-{secrets.token_hex(4)}"))  # one per test
    engine.window_login("w1", engine.hall.staff["s1"])
    yield engine
    conn.close()


class Hall:
    """The edge of one hall, linked to the cloud: its pull, and its event sync running."""

    def __init__(self, engine: QueueEngine, link: CloudWorker, ops: CloudWorker) -> None:
        self.engine, self.link, self.ops = engine, link, ops
        self.id = engine.hall.hall.id
        self.clock = engine.clock
        assert isinstance(self.clock, ManualClock)
        self.sync: CloudSync | None = None
        self.pull: ConfigPull | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        body = await self.ops.admin("POST", "/api/halls", json={"id": self.id, "name": "测试大厅"})
        secret = str(body["token"]).rpartition(".")[2]
        options: dict[str, Any] = {"min_backoff": 0.05, "max_backoff": 0.2}
        self.pull = ConfigPull(
            self.engine, url=self.link.base, hall=self.id, secret=secret, **options
        )
        self.sync = CloudSync(self.engine, url=self.link.base, hall=self.id, secret=secret,
                              heartbeat_seconds=0.05, **options)  # fmt: skip
        self.task = asyncio.create_task(self.sync.run())

    async def close(self) -> None:
        if self.task is not None:
            await stop([self.task])

    async def book(self, code: str, start: str = "09:30", end: str = "10:00") -> None:
        await self.ops.admin("POST", f"/api/halls/{self.id}/bookings", json={
            "id": f"bk-{code}", "code": code, "name": "陈静", "phone": "13800000000",
            "id_number": "11010519491231002X", "business_type": "license",
            "date": DAY.isoformat(), "slot_start": start, "slot_end": end})  # fmt: skip

    def at(self, hour: int, minute: int = 0) -> int:
        """The hall's clock set to `hour:minute` of the day; that moment in ms."""
        self.clock.set(hall_time(DAY, hour, minute))
        return self.clock.now_ms()

    async def synced_through(self) -> int | None:
        report = await self.ops.admin("GET", f"/api/halls/{self.id}/sync")
        through: int | None = report["synced_through"]
        return through

    async def synced_past(self, moment: int) -> None:
        """Wait until the cloud holds everything the hall committed up to `moment`."""
        for _ in range(500):
            through = await self.synced_through()
            if through is not None and through >= moment:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"never synced past {moment}")

    async def no_shows_now(self) -> list[str]:
        """An operator's no-show round (every hall's): the codes it marked in this hall."""
        answer = await self.ops.admin("POST", "/api/no-shows/run")
        return [m["code"] for m in answer["marked"] if m["hall"] == self.id]

    def check_in(self, code: str) -> dict[str, Any]:
        return self.engine.check_in_booking(area="main", actor="kiosk:k1", code=code)

    def local_status(self, code: str) -> str:
        row = self.engine.conn.execute("SELECT status FROM bookings WHERE code = ?", (code,))
        return str(row.fetchone()["status"])

    async def penalties(self) -> list[dict[str, Any]]:
        body = await self.ops.admin("GET", f"/api/halls/{self.id}/penalties")
        found: list[dict[str, Any]] = body["penalties"]
        return found


@pytest.fixture
async def hall(
    clouds: tuple[CloudWorker, CloudWorker], hall_engine: QueueEngine
) -> AsyncIterator[Hall]:
    link, ops = clouds
    running = Hall(hall_engine, link, ops)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


async def cloud_status(url: str, hall: str, code: str) -> str:
    engine = open_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            status = await conn.scalar(
                sa.select(bookings.c.status).where(bookings.c.hall == hall, bookings.c.code == code)
            )
    finally:
        await engine.dispose()
    return str(status)


async def test_a_citizen_checked_in_while_the_link_was_down_is_never_a_no_show(
    hall: Hall, clouds: tuple[CloudWorker, CloudWorker], postgresql_url: str
) -> None:
    link, _ = clouds
    await hall.book("OFFLINE1")  # 09:30–10:00
    assert hall.pull is not None and hall.sync is not None
    await hall.pull.pull_once()
    await hall.synced_past(hall.at(9, 5))

    await link.stop()  # the hall's link is cut before the slot
    hall.at(9, 40)
    ticket = hall.check_in("OFFLINE1")  # the citizen came, on time
    hall.at(11, 0)  # the slot's end plus the grace period are long past, for the hall too
    await until(lambda: hall.sync is not None and hall.sync.status()["last_error"] != "")

    assert await hall.no_shows_now() == []  # the hall is synced through 09:05 only
    through = await hall.synced_through()
    assert through is not None and through < to_ms(hall_time(DAY, 9, 40))
    assert await cloud_status(postgresql_url, hall.id, "OFFLINE1") == "booked"

    await link.start()  # the link heals: the check-in arrives, then the hall's mark moves on
    await hall.synced_past(to_ms(hall_time(DAY, 11, 0)))
    assert await cloud_status(postgresql_url, hall.id, "OFFLINE1") == "checked_in"
    assert await hall.no_shows_now() == []
    assert await hall.penalties() == []  # nobody was ever punished
    assert ticket["booking"]["late"] is False


async def test_a_booking_nobody_checks_in_is_a_no_show_once_the_hall_synced_past_its_grace(
    hall: Hall, postgresql_url: str
) -> None:
    await hall.book("NOBODY01")  # 09:30–10:00, 30 minutes' grace
    await hall.book("LATER001", start="11:00", end="11:30")
    await hall.synced_past(hall.at(10, 29))
    assert await hall.no_shows_now() == []  # still within the grace period

    await hall.synced_past(hall.at(10, 31))
    assert await hall.no_shows_now() == ["NOBODY01"]
    assert await hall.no_shows_now() == []  # once
    assert await cloud_status(postgresql_url, hall.id, "NOBODY01") == "no_show"
    assert await cloud_status(postgresql_url, hall.id, "LATER001") == "booked"
    [penalty] = await hall.penalties()
    assert penalty["booking"]["code"] == "NOBODY01" and penalty["state"] == "standing"
    assert penalty["phone"] == "13800000000" and penalty["id_number"] == "11010519491231002X"
    assert penalty["reversed_at"] is None

    assert hall.pull is not None
    await hall.pull.pull_once()  # the edge learns the status through the bookings pull
    assert hall.local_status("NOBODY01") == "no_show"
    assert hall.local_status("LATER001") == "booked"


async def test_a_late_check_in_reverses_the_penalty_when_it_syncs(
    hall: Hall, postgresql_url: str
) -> None:
    await hall.book("LATECOME")
    assert hall.pull is not None
    await hall.pull.pull_once()
    await hall.synced_past(hall.at(10, 31))
    assert await hall.no_shows_now() == ["LATECOME"]
    await hall.pull.pull_once()
    assert hall.local_status("LATECOME") == "no_show"

    hall.at(10, 45)  # the citizen comes after all: the kiosk still checks them in, late
    ticket = hall.check_in("LATECOME")
    assert ticket["booking"]["late"] is True and hall.local_status("LATECOME") == "checked_in"
    await hall.synced_past(to_ms(hall_time(DAY, 10, 45)))

    assert await cloud_status(postgresql_url, hall.id, "LATECOME") == "checked_in"
    [penalty] = await hall.penalties()
    assert penalty["state"] == "reversed" and penalty["reversed_reason"] == "late check-in synced"
    assert penalty["reversed_at"] >= penalty["created_at"]
    await hall.pull.pull_once()  # and the edge's copy stays checked in
    assert hall.local_status("LATECOME") == "checked_in"
    assert await hall.no_shows_now() == []


async def test_a_heartbeat_beyond_what_the_cloud_holds_moves_nothing(cloud: TestClient) -> None:
    hall, headers = await register(cloud)
    events = [event(seq) for seq in (1, 2, 3)]
    response = await cloud.post("/sync/v1/events", json=batch(hall, events, after=0),
                                headers=headers)  # fmt: skip
    assert response.status == 200

    async def beat(mark: int, at: int, epoch: str = "ep1") -> tuple[int, Any]:
        body = {"v": 1, "epoch": epoch, "mark": mark, "at": at}
        response = await cloud.post("/sync/v1/heartbeat", json=body, headers=headers)
        return response.status, await response.json()

    async def through() -> Any:
        report = await (await cloud.get(f"/api/halls/{hall}/sync", headers=ADMIN)).json()
        return report["synced_through"]

    status, body = await beat(5, 1_000_000)  # the hall committed 4 and 5: the cloud lacks them
    assert status == 409 and body["error"]["code"] == "sync_gap" and body["mark"] == 3
    assert await through() is None
    status, body = await beat(3, 1_000_000)
    assert status == 200 and body["synced_through"] == 1_000_000 and body["mark"] == 3
    status, body = await beat(4, 2_000_000)
    assert status == 409 and body["mark"] == 3
    status, body = await beat(1, 3_000_000, epoch="ep-unknown")  # an epoch never sent
    assert status == 409 and body["mark"] == 0
    assert await through() == 1_000_000
    status, body = await beat(3, 500_000)  # the hall's clock jumped back: the mark does not
    assert status == 200 and body["synced_through"] == 1_000_000
    status, _ = await beat(3, 1_000_000, epoch="../x")
    assert status == 400
    other, _ = await register(cloud)  # a hall beats only for itself: its own epochs
    response = await cloud.post(
        "/sync/v1/heartbeat", json={"v": 1, "epoch": "ep1", "mark": 0, "at": 9}, headers=headers
    )
    assert response.status == 200
    report = await (await cloud.get(f"/api/halls/{other}/sync", headers=ADMIN)).json()
    assert report["synced_through"] is None


async def test_two_workers_at_once_mark_each_booking_once(
    cloud: TestClient, database_url: str
) -> None:
    day = dt.date(2026, 1, 5)
    halls: list[str] = []
    for _ in range(3):
        hall, headers = await register(cloud)
        halls.append(hall)
        for i in range(12):
            response = await cloud.post(f"/api/halls/{hall}/bookings", headers=ADMIN, json={
                "code": f"TWO{i:05d}", "phone": f"1380000{i:04d}", "business_type": "license",
                "date": day.isoformat(), "slot_start": "09:00", "slot_end": "09:30"})  # fmt: skip
            assert response.status == 201
        await cloud.post("/sync/v1/events", json=batch(hall, [event(1)], after=0), headers=headers)
        end_of_day = to_ms(dt.datetime.combine(day, dt.time(18), tzinfo=SHANGHAI))
        beat = {"v": 1, "epoch": "ep1", "mark": 1, "at": end_of_day}
        response = await cloud.post("/sync/v1/heartbeat", json=beat, headers=headers)
        assert response.status == 200

    workers = [open_engine(database_url, pool_size=2) for _ in range(2)]
    try:
        rounds = await asyncio.gather(
            *(mark_no_shows(w, grace_minutes=30, now_ms=1) for w in workers for _ in range(2))
        )
        async with workers[0].connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(penalties.c.hall, penalties.c.booking).where(
                        penalties.c.hall.in_(halls)
                    )
                )
            ).all()
            statuses = (
                await conn.execute(
                    sa.select(bookings.c.status, sa.func.count())
                    .where(bookings.c.hall.in_(halls))
                    .group_by(bookings.c.status)
                )
            ).all()
    finally:
        for w in workers:
            await w.dispose()
    marked = [(m.hall, m.booking) for r in rounds for m in r if m.hall in halls]
    assert len(marked) == len(set(marked)) == 36
    assert sorted(marked) == sorted((r.hall, r.booking) for r in rows)
    assert dict(statuses) == {"no_show": 36}
