"""The edge and the cloud together, against a real PostgreSQL: a hall works a whole day with its
link to the cloud cut, the link heals, and the cloud ends up with exactly what happened, once —
also when the cloud's answers get lost on the way back, and when the cloud loses an hour."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cloud.db import events, migrate
from cloud.devdb import PostgresServer, create_database, drop_database
from edge.clock import ManualClock
from edge.cloudsync import CloudSync, sync_state
from edge.db import open_database
from edge.queue import QueueEngine
from edge.queue.counter import EVALUATION_LEVELS
from tests.cloud.conftest import CloudWorker, cloud_config
from tests.conftest import WORKDAY, free_port, hall_time, stop, until
from tests.edge.hall import small_hall


@pytest.fixture
async def cloud(postgresql_url: str) -> AsyncIterator[CloudWorker]:
    running = CloudWorker(cloud_config(postgresql_url))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def hall_engine(tmp_path: Path) -> AsyncIterator[QueueEngine]:
    conn = open_database(tmp_path / "edge.sqlite3")
    engine = QueueEngine(conn, ManualClock(hall_time(WORKDAY, 9, 0)))
    engine.apply_setup(small_hall(id=f"hall-{secrets.token_hex(4)}"))  # one per test
    yield engine  # type: ignore[misc]
    conn.close()


async def registered(cloud: CloudWorker, engine: QueueEngine) -> str:
    """Register the edge's hall with the cloud; the hall's secret."""
    hall = engine.hall.hall.id
    body = await cloud.admin("POST", "/api/halls", json={"id": hall, "name": "测试大厅"})
    return str(body["token"]).rpartition(".")[2]


def work_a_day(engine: QueueEngine, tickets: int, seed: int = 7) -> None:
    """`tickets` citizens, each taken, called, finished and (mostly) evaluated, over four
    windows in two areas, with the hall's clock moving on."""
    rng = random.Random(seed)
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    for window, staff in (("w1", "s1"), ("w2", "s2"), ("w3", "s3")):
        engine.window_login(window, engine.hall.staff[staff])
    served = {"w1": ("main", "license"), "w2": ("main", "license"), "w3": ("annex", "pension")}
    for i in range(tickets):
        window = ("w1", "w2", "w3")[i % 3]
        area, business_type = served[window]
        engine.issue_ticket(area=area, business_type=business_type, source="kiosk", actor="k:1")
        ticket = engine.call_next(window, "staff:x")["window"]["current"]["id"]
        if rng.random() < 0.1:
            engine.recall(window, "staff:x")
        engine.finish(window, "staff:x", request_evaluation=True)
        if rng.random() < 0.9:
            engine.evaluate(ticket, rng.choice(EVALUATION_LEVELS), "pad:x")
        clock.advance(0.6)


def edge_counts(engine: QueueEngine) -> dict[str, Any]:
    """The same report the cloud makes, from the edge's own tables (not from its events)."""
    one = lambda sql: engine.conn.execute(sql).fetchone()[0]  # noqa: E731
    evaluations = dict(
        engine.conn.execute(
            "SELECT evaluation, count(*) FROM tickets WHERE evaluation IS NOT NULL "
            "GROUP BY evaluation"
        ).fetchall()
    )
    staff: dict[str, Any] = {}
    for who, calls in engine.conn.execute("SELECT staff, count(*) FROM calls GROUP BY staff"):
        staff[who] = {"calls": calls, "evaluations": {}}
    for who, level, n in engine.conn.execute(
        "SELECT staff, evaluation, count(*) FROM tickets WHERE evaluation IS NOT NULL "
        "GROUP BY staff, evaluation"
    ):
        staff[who]["evaluations"][level] = n
    return {
        "issued": one("SELECT count(*) FROM tickets"),
        "called": one("SELECT count(*) FROM calls"),
        "finished": one("SELECT count(*) FROM tickets WHERE status = 'finished'"),
        "evaluations": dict(sorted(evaluations.items())),
        "staff": {s: staff[s] for s in sorted(staff)},
    }


def syncing(engine: QueueEngine, url: str, secret: str, **options: Any) -> CloudSync:
    return CloudSync(
        engine, url=url, hall=engine.hall.hall.id, secret=secret, batch_size=500, min_backoff=0.05,
        max_backoff=0.3, **options,
    )  # fmt: skip


async def caught_up(sync: CloudSync, seconds: float = 60.0) -> None:
    await until(lambda: sync.status()["lag_events"] == 0 and sync.status()["committed"] > 0,
                seconds)  # fmt: skip


@pytest.mark.slow
async def test_a_day_worked_offline_reaches_the_cloud_exactly_once(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    secret = await registered(cloud, hall_engine)
    await cloud.stop()  # the link is cut before the hall opens
    sync = syncing(hall_engine, cloud.base, secret)
    task = asyncio.create_task(sync.run())
    try:
        work_a_day(hall_engine, 5000)
        await asyncio.sleep(0.5)
        status = sync.status()
        assert status["lag_events"] > 15_000 and status["last_error"]  # it tried, and says why
        assert sync.sent_batches == 0

        await cloud.start()  # the link heals
        await caught_up(sync)
    finally:
        await stop([task])
    counts = await cloud.admin("GET", f"/api/halls/{hall_engine.hall.hall.id}/counts")
    assert counts == edge_counts(hall_engine)
    assert counts["issued"] == 5000
    state = sync_state(hall_engine)
    events = hall_engine.conn.execute("SELECT count(*), max(seq) FROM events").fetchone()
    assert state.mark == events[1] and state.last_error == ""
    report = await cloud.admin("GET", f"/api/halls/{hall_engine.hall.hall.id}/sync")
    assert str(events[1]) in str(report) and sync.status()["lag_seconds"] == 0.0


class LossyProxy:
    """Between the edge and the cloud: forwards each request, and on the chosen ones drops the
    cloud's answer after the cloud has acted on it (a network that fails on the way back)."""

    def __init__(self, target_port: int, drop_every: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.drop_every = drop_every
        self.requests = 0
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _http_message(reader)
                if request is None:
                    return
                self.requests += 1
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
                up_writer.write(request)
                await up_writer.drain()
                answer = await _http_message(up_reader)
                up_writer.close()
                if answer is None or self.requests % self.drop_every == 0:
                    self.dropped += 1
                    return  # the cloud committed; the edge never hears it
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def _http_message(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 message with a Content-Length body, as bytes; None at the end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head + body


@pytest.mark.slow
async def test_answers_lost_on_the_way_back_double_nothing(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    secret = await registered(cloud, hall_engine)
    assert cloud.node is not None
    proxy = LossyProxy(cloud.port, drop_every=3)
    await proxy.start()
    sync = syncing(hall_engine, f"http://127.0.0.1:{proxy.port}", secret)
    sync.batch_size = 200
    task = asyncio.create_task(sync.run())
    try:
        work_a_day(hall_engine, 600, seed=11)
        await caught_up(sync)
    finally:
        await stop([task])
        await proxy.stop()
    assert proxy.dropped >= 3
    assert await cloud.admin("GET", f"/api/halls/{hall_engine.hall.hall.id}/counts") == edge_counts(
        hall_engine
    )


@pytest.mark.slow
async def test_a_cloud_that_lost_an_hour_gets_it_again_from_the_edge(
    cloud: CloudWorker, hall_engine: QueueEngine, postgresql_url: str
) -> None:
    secret = await registered(cloud, hall_engine)
    sync = syncing(hall_engine, cloud.base, secret)
    task = asyncio.create_task(sync.run())
    try:
        work_a_day(hall_engine, 300, seed=3)
        await caught_up(sync)
        before = sync_state(hall_engine).mark
        # the cloud's database is restored to before the last third of the day's events
        kept = before * 2 // 3
        await forget_after(postgresql_url, hall_engine.hall.hall.id, kept)
        await stop([task])  # the edge notices at its next start (or its next failure)
        sync = syncing(hall_engine, cloud.base, secret)
        task = asyncio.create_task(sync.run())
        await until(lambda: sync.sent_batches > 0 and sync.status()["lag_events"] == 0, 30)
        assert sync_state(hall_engine).mark == before
    finally:
        await stop([task])
    assert await cloud.admin("GET", f"/api/halls/{hall_engine.hall.hall.id}/counts") == edge_counts(
        hall_engine
    )


async def forget_after(url: str, hall: str, seq: int) -> None:
    """What restoring the cloud's database to an earlier point does to this hall's data."""
    import sqlalchemy as sa

    from cloud.db import events, hall_epochs, open_engine

    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.delete(events).where(events.c.hall == hall, events.c.seq > seq))
            await conn.execute(
                sa.update(hall_epochs).where(hall_epochs.c.hall == hall).values(mark=seq)
            )
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_a_hall_clock_two_hours_off_and_jumping_back_changes_nothing(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    secret = await registered(cloud, hall_engine)
    clock = hall_engine.clock
    assert isinstance(clock, ManualClock)
    clock.set(hall_time(WORKDAY, 11, 0))  # two hours ahead of the real 9:00
    sync = syncing(hall_engine, cloud.base, secret)
    task = asyncio.create_task(sync.run())
    try:
        work_a_day(hall_engine, 150, seed=21)
        clock.set(hall_time(WORKDAY, 10, 15))  # an NTP fix: the clock jumps back 45 minutes
        work_a_day(hall_engine, 150, seed=22)
        await caught_up(sync)
    finally:
        await stop([task])
    hall = hall_engine.hall.hall.id
    assert await cloud.admin("GET", f"/api/halls/{hall}/counts") == edge_counts(hall_engine)
    # the cloud keeps the log in the edge's order, whatever its timestamps say
    engine = open_engine_for(cloud)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(events.c.seq, events.c.at)
                    .where(events.c.hall == hall)
                    .order_by(events.c.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    seqs = [r[0] for r in rows]
    ats = [r[1] for r in rows]
    assert seqs == sorted(seqs) and len(seqs) == sync_state(hall_engine).mark
    assert any(b < a for a, b in itertools.pairwise(ats))  # time went backwards


def open_engine_for(cloud: CloudWorker) -> Any:
    from cloud.db import open_engine

    return open_engine(cloud.config.database.url)


@pytest.mark.slow
async def test_an_edge_restored_from_an_hour_old_backup_doubles_nothing_and_reuses_no_number(
    cloud: CloudWorker, tmp_path: Path
) -> None:
    from edge.backup import restore, take_snapshot

    database = tmp_path / "hall" / "edge.sqlite3"
    database.parent.mkdir()
    clock = ManualClock(hall_time(WORKDAY, 9, 0))
    setup = small_hall(id=f"hall-{secrets.token_hex(4)}")

    def open_hall() -> QueueEngine:
        engine = QueueEngine(open_database(database), clock)
        if not engine.configured:
            engine.apply_setup(setup)
        return engine

    engine = open_hall()
    secret = await registered(cloud, engine)
    sync = syncing(engine, cloud.base, secret)
    task = asyncio.create_task(sync.run())
    try:
        work_a_day(engine, 100, seed=31)
        snapshot = take_snapshot(database, tmp_path / "backups")
        work_a_day(engine, 100, seed=32)  # the hour the backup does not have
        await caught_up(sync)
    finally:
        await stop([task])
    lost_hour = {r[0] for r in engine.conn.execute("SELECT id FROM events")}
    engine.conn.close()

    restored = restore(database, snapshot.path)  # the disk died; yesterday's copy comes back
    engine = open_hall()
    state = sync_state(engine)
    assert state.epoch != restored.old_epoch and state.epoch_start == snapshot.seq
    sync = syncing(engine, cloud.base, secret)
    task = asyncio.create_task(sync.run())
    try:
        work_a_day(engine, 100, seed=33)
        await caught_up(sync)
    finally:
        await stop([task])
    hall = setup.hall.id
    cloud_engine = open_engine_for(cloud)
    try:
        async with cloud_engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(events.c.id, events.c.epoch, events.c.type, events.c.payload).where(
                        events.c.hall == hall
                    )
                )
            ).all()
    finally:
        await cloud_engine.dispose()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "an event stored twice"
    now = {r[0] for r in engine.conn.execute("SELECT id FROM events")}
    assert set(ids) == lost_hour | now  # the lost hour stays in the cloud, nothing came twice
    numbers = [
        (r[3]["ticket"]["day"], r[3]["ticket"]["number"]) for r in rows if r[2] == "ticket.issued"
    ]
    assert len(numbers) == 300 and len(set(numbers)) == 300, "a number given out twice"
    assert {r[1] for r in rows} == {restored.old_epoch, state.epoch}
    engine.conn.close()


async def test_acknowledged_events_are_kept_two_weeks_and_unsent_ones_for_ever(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    secret = await registered(cloud, hall_engine)
    sync = syncing(hall_engine, cloud.base, secret)
    task = asyncio.create_task(sync.run())
    try:
        work_a_day(hall_engine, 20, seed=41)
        await caught_up(sync)
    finally:
        await stop([task])
    acked = sync_state(hall_engine).mark
    clock = hall_engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(13 * 86_400)
    hall_engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="k:1")
    await cloud.stop()  # this one the cloud does not get

    def kept() -> int:
        return int(hall_engine.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    before = kept()
    for days, still in ((0, before), (2, before - acked)):  # 13 days, then 15 days old
        clock.advance(days * 86_400)
        sync = syncing(hall_engine, cloud.base, secret)
        task = asyncio.create_task(sync.run())
        await asyncio.sleep(0.3)
        await stop([task])
        assert kept() == still
    assert sync.status()["lag_events"] == 1  # the unsent event stays until the cloud has it


@pytest.mark.slow
async def test_a_cloud_database_restored_from_an_hour_old_dump_gets_the_hour_again(
    postgres: PostgresServer, hall_engine: QueueEngine, tmp_path: Path
) -> None:
    name = await asyncio.to_thread(create_database, postgres, "smarthall_restore")
    await asyncio.to_thread(migrate, postgres.url(name))
    cloud = CloudWorker(cloud_config(postgres.url(name)))
    await cloud.start()
    dump = tmp_path / "cloud.dump"
    server = ["-h", postgres.host, "-p", str(postgres.port), "-U", postgres.user]
    try:
        secret = await registered(cloud, hall_engine)
        sync = syncing(hall_engine, cloud.base, secret)
        task = asyncio.create_task(sync.run())
        try:
            work_a_day(hall_engine, 100, seed=51)
            await caught_up(sync)
            await asyncio.to_thread(  # the cloud's nightly dump
                subprocess.run, ["pg_dump", "-Fc", *server, "-d", name, "-f", str(dump)],
                check=True,
            )  # fmt: skip
            work_a_day(hall_engine, 100, seed=52)  # the hour the dump does not have
            await caught_up(sync)

            # the cloud's disk dies: its database comes back from the dump, an hour behind
            await cloud.stop()
            await asyncio.to_thread(drop_database, postgres, name)
            await asyncio.to_thread(
                subprocess.run,
                ["psql", *server, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'],
                check=True, capture_output=True,
            )  # fmt: skip
            await asyncio.to_thread(
                subprocess.run, ["pg_restore", *server, "-d", name, str(dump)], check=True
            )
            await cloud.start()
            lost = await cloud.admin("GET", f"/api/halls/{hall_engine.hall.hall.id}/counts")
            assert lost["issued"] == 100  # the hour is gone from the cloud
            work_a_day(hall_engine, 10, seed=53)  # the hall goes on; the cloud learns what it lost
            await caught_up(sync)
        finally:
            await stop([task])
        hall = hall_engine.hall.hall.id
        assert await cloud.admin("GET", f"/api/halls/{hall}/counts") == edge_counts(hall_engine)
    finally:
        await cloud.stop()
        await asyncio.to_thread(drop_database, postgres, name)
