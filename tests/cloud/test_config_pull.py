"""Cloud → edge against a real PostgreSQL: configuration versions authored in the cloud reach the
hall's edge and are applied once (a version the edge cannot apply leaves the last good one in
service and says why); bookings arrive as a snapshot and then as deltas after a cursor; a
check-in at the edge is never undone by a pull and reaches the cloud; a booking made while the
hall was cut off is honoured on its signed token alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from cloud.app import create_app
from cloud.bookings import booking_page
from cloud.config import BookingsConfig, SigningConfig
from cloud.db import hall_setups, open_engine
from cloud.signing import load_signing
from edge.api.app import create_app as create_edge_app
from edge.api.sync import CONFIG_PULL
from edge.clock import ManualClock
from edge.cloudconfig import ConfigPull, pull_state
from edge.cloudsync import CloudSync
from edge.config import (
    ApiClient,
    ApiConfig,
    BackupConfig,
    EdgeConfig,
    MqttConfig,
    VoiceConfig,
    token_digest,
)
from edge.config import CloudConfig as EdgeCloudConfig
from edge.db import open_database
from edge.devices.registry import DeviceRegistry
from edge.devices.scanning import ScanCheckIn
from edge.node import EdgeNode
from edge.queue import QueueEngine
from tests.cloud.conftest import CloudWorker, cloud_config, next_working_day
from tests.conftest import SHANGHAI, hall_time, stop, until
from tests.edge.hall import small_hall

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


DAY = next_working_day()


@pytest.fixture
async def cloud(postgresql_url: str) -> AsyncIterator[CloudWorker]:
    config = cloud_config(postgresql_url)
    running = CloudWorker(config.model_copy(update={"bookings": BookingsConfig(page_size=2)}))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def hall_engine(tmp_path: Path) -> Iterator[QueueEngine]:
    conn = open_database(tmp_path / "edge.sqlite3")
    engine = QueueEngine(conn, ManualClock(hall_time(DAY, 9, 30)))
    engine.apply_setup(small_hall(id=f"hall-{secrets.token_hex(4)}"))  # one per test
    yield engine
    conn.close()


async def linked(cloud: CloudWorker, engine: QueueEngine, **options: Any) -> ConfigPull:
    """Register the edge's hall with the cloud; the edge's pull, with the hall's secret."""
    hall = engine.hall.hall.id
    body = await cloud.admin("POST", "/api/halls", json={"id": hall, "name": "测试大厅"})
    secret = str(body["token"]).rpartition(".")[2]
    return ConfigPull(engine, url=cloud.base, hall=hall, secret=secret, min_backoff=0.05,
                      max_backoff=0.2, **options)  # fmt: skip


def setup_json(engine: QueueEngine, version: int, **hall: Any) -> dict[str, Any]:
    return small_hall(id=engine.hall.hall.id, version=version, **hall).model_dump(mode="json")


def booking_json(code: str, day: dt.date = DAY, **extra: Any) -> dict[str, Any]:
    return {"id": f"bk-{code}", "code": code, "name": "陈静", "phone": "13800000000",
            "business_type": "license", "date": day.isoformat(), "slot_start": "09:30",
            "slot_end": "10:00", **extra}  # fmt: skip


def events_of(engine: QueueEngine, type_: str) -> list[dict[str, Any]]:
    return [e.payload for e in engine.store.events_after(0, 10_000) if e.type == type_]


def local_booking(engine: QueueEngine, code: str) -> dict[str, Any] | None:
    row = engine.conn.execute("SELECT * FROM bookings WHERE code = ?", (code,)).fetchone()
    return dict(row) if row is not None else None


async def shipped(engine: QueueEngine, pull: ConfigPull) -> None:
    """The edge's events, shipped to the cloud by the edge's own sync until none is left."""
    sync = CloudSync(engine, url=pull.url, hall=pull.hall, secret=pull.headers[
        "Authorization"].rpartition(".")[2], min_backoff=0.05, max_backoff=0.2)  # fmt: skip
    task = asyncio.create_task(sync.run())
    try:
        await until(lambda: sync.status()["lag_events"] == 0 and sync.sent_batches > 0, 30)
    finally:
        await stop([task])


async def test_a_version_authored_in_the_cloud_reaches_the_edge_once(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    pull = await linked(cloud, hall_engine)
    hall = hall_engine.hall.hall.id
    await cloud.admin("PUT", f"/api/halls/{hall}/setup", json=setup_json(hall_engine, 2,
                      name="新大厅", auto_call_seconds=30))  # fmt: skip
    await pull.pull_once()
    assert hall_engine.hall.setup.version == 2 and hall_engine.hall.hall.name == "新大厅"
    assert [e["version"] for e in events_of(hall_engine, "config.applied")] == [1, 2]

    await pull.pull_once()  # nothing newer: the cloud answers 204, nothing is applied again
    assert len(events_of(hall_engine, "config.applied")) == 2

    hall_engine.apply_setup(small_hall(id=hall, version=5))  # the hall's own file, newer
    await cloud.admin("PUT", f"/api/halls/{hall}/setup", json=setup_json(hall_engine, 3))
    await pull.pull_once()  # the cloud's 3 is older than the 5 served: not applied
    assert hall_engine.hall.setup.version == 5 and pull_state(hall_engine)["config_error"] == ""
    assert len(events_of(hall_engine, "config.applied")) == 3


async def test_a_version_the_edge_cannot_apply_leaves_the_last_good_one_and_says_why(
    cloud: CloudWorker, hall_engine: QueueEngine, postgresql_url: str, aiohttp_client: ClientFactory
) -> None:
    pull = await linked(cloud, hall_engine, interval=0.05)
    hall = hall_engine.hall.hall.id
    # valid to the schema, but no time zone this box knows: the queue refuses it
    await cloud.admin("PUT", f"/api/halls/{hall}/setup",
                      json=setup_json(hall_engine, 2, timezone="Mars/Olympus_Mons"))  # fmt: skip
    task = asyncio.create_task(pull.run())
    try:
        await until(lambda: pull.pulls >= 2)
    finally:
        await stop([task])
    assert hall_engine.hall.setup.version == 1 and hall_engine.hall.hall.timezone == "Asia/Shanghai"
    state = pull_state(hall_engine)
    assert state["config_refused_version"] == 2 and "Mars/Olympus_Mons" in state["config_error"]
    refused = events_of(hall_engine, "config.refused")
    assert len(refused) == 1 and refused[0]["version"] == 2  # not retried on every pull

    edge_app = create_edge_app(hall_engine, [ApiClient(
        id="ops", kind="admin", token_sha256=token_digest("ops-token"))])  # fmt: skip
    edge_app[CONFIG_PULL] = pull
    edge = await aiohttp_client(edge_app)
    response = await edge.get("/api/sync", headers={"Authorization": "Bearer ops-token"})
    status = await response.json()
    assert response.status == 200 and status["config_version"] == 1
    assert "Mars/Olympus_Mons" in status["config_error"] and status["last_pull"] is not None
    assert status["bookings_cursor"] and status["booking_keys_from"] == "cloud"

    # a cloud running newer code stores a version this edge's model cannot read
    newer = setup_json(hall_engine, 3)
    newer["hall"]["queue_display_mode"] = "wide"
    engine = open_engine(postgresql_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(hall_setups).values(hall=hall, version=3, body=newer,
                                                         created_at=0))  # fmt: skip
    await engine.dispose()
    await pull.pull_once()
    state = pull_state(hall_engine)
    assert hall_engine.hall.setup.version == 1 and state["config_refused_version"] == 3
    assert "cannot read" in state["config_error"] and "queue_display_mode" in state["config_error"]

    await cloud.admin("PUT", f"/api/halls/{hall}/setup", json=setup_json(hall_engine, 4))
    await pull.pull_once()  # the next good version mends it
    assert hall_engine.hall.setup.version == 4 and pull_state(hall_engine)["config_error"] == ""

    await shipped(hall_engine, pull)  # the refusals reach the cloud as events, not as poison
    report = await cloud.admin("GET", f"/api/halls/{hall}/sync")
    assert report["quarantine"]["count"] == 0


async def test_bookings_arrive_as_a_snapshot_then_as_deltas(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    pull = await linked(cloud, hall_engine)
    hall = hall_engine.hall.hall.id
    path = f"/api/halls/{hall}/bookings"
    for code in ("SNAP0001", "SNAP0002", "SNAP0003"):
        await cloud.admin("POST", path, json=booking_json(code))
    await cloud.admin("POST", path, json=booking_json("LATER001", DAY + dt.timedelta(days=30)))
    await cloud.admin("POST", path, json=booking_json("PAST0001", DAY - dt.timedelta(days=3)))
    await pull.pull_once()  # three pages of two
    assert {c: local_booking(hall_engine, c) is not None
            for c in ("SNAP0001", "SNAP0002", "SNAP0003", "LATER001", "PAST0001")} == {
        "SNAP0001": True, "SNAP0002": True, "SNAP0003": True, "LATER001": False,
        "PAST0001": False}  # fmt: skip
    cursor = pull_state(hall_engine)["bookings_cursor"]

    await cloud.admin("POST", path, json=booking_json("SNAP0001", slot_start="11:00",
                                                      slot_end="11:30"))  # fmt: skip
    await cloud.admin("POST", path, json=booking_json("SNAP0002", status="cancelled"))
    created = await cloud.admin("POST", path, json={k: v for k, v in booking_json("x").items()
                                                    if k not in ("id", "code")})  # fmt: skip
    code = created["booking"]["code"]
    secret = pull.headers
    pages: list[dict[str, Any]] = []
    while not pages or pages[-1]["more"]:
        status, page = await cloud.call("GET", "/sync/v1/bookings", headers=secret,
                                        params={"cursor": cursor})  # fmt: skip
        assert status == 200
        pages.append(page)
        cursor = page["cursor"]
    changed = [b for page in pages for b in page["bookings"]]  # only the changes, in order
    assert len(pages) == 2 and [b["code"] for b in changed] == ["SNAP0001", "SNAP0002", code]
    assert all(b["token"].startswith("BK1.") for b in changed)

    await pull.pull_once()
    assert local_booking(hall_engine, "SNAP0001")["slot_start"] == "11:00"  # type: ignore[index]
    assert local_booking(hall_engine, "SNAP0002")["status"] == "cancelled"  # type: ignore[index]
    assert local_booking(hall_engine, code)["status"] == "booked"  # type: ignore[index]
    status, page = await cloud.call(
        "GET",
        "/sync/v1/bookings",
        headers=secret,
        params={"cursor": pull_state(hall_engine)["bookings_cursor"]},
    )
    assert status == 200 and page["bookings"] == [] and not page["more"]


async def test_days_entering_the_window_arrive_with_their_old_bookings(
    cloud: CloudWorker, hall_engine: QueueEngine, postgresql_url: str
) -> None:
    """The cursor is a change number, not a time: a booking made weeks ahead, before the
    snapshot, still reaches the edge when its day enters the window."""
    await linked(cloud, hall_engine)
    hall = hall_engine.hall.hall.id
    path = f"/api/halls/{hall}/bookings"
    await cloud.admin("POST", path, json=booking_json("AHEAD001", DAY + dt.timedelta(days=9)))
    await cloud.admin("POST", path, json=booking_json("TODAY001", DAY))
    engine = open_engine(postgresql_url, pool_size=1)
    key = load_signing(cloud.config.signing).key
    noon = dt.datetime.combine(DAY, dt.time(12), tzinfo=SHANGHAI)

    async def page(cursor: str | None, days_later: int) -> Any:
        now = noon + dt.timedelta(days=days_later)
        return await booking_page(engine, hall, cursor, key, window_days=7, limit=500, now=now)

    try:
        first = await page(None, 0)
        assert [b.code for b in first.bookings] == ["TODAY001"] and not first.more
        same_day = await page(first.cursor, 0)
        assert same_day.bookings == []
        await cloud.admin("POST", path, json=booking_json("TODAY001", slot_start="09:00"))
        moved_on = await page(same_day.cursor, 3)  # AHEAD001's day is now inside the window
        assert sorted(b.code for b in moved_on.bookings) == ["AHEAD001"]  # TODAY001 is past
        assert (await page(moved_on.cursor, 3)).bookings == []
    finally:
        await engine.dispose()


async def test_a_check_in_at_the_edge_is_never_undone_and_reaches_the_cloud(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    pull = await linked(cloud, hall_engine)
    hall = hall_engine.hall.hall.id
    path = f"/api/halls/{hall}/bookings"
    await cloud.admin("POST", path, json=booking_json("CHECK001"))
    await pull.pull_once()
    await cloud.stop()  # the link is down: the citizen checks in at the kiosk all the same
    hall_engine.window_login("w1", hall_engine.hall.staff["s1"])
    ticket = hall_engine.check_in_booking(area="main", actor="kiosk:k1", code="CHECK001")
    with pytest.raises(aiohttp.ClientError):
        await pull.pull_once()
    await cloud.start()

    # the cloud does not know yet and changes the booking: the pull keeps the check-in
    await cloud.admin("POST", path, json=booking_json("CHECK001", slot_end="10:30"))
    await pull.pull_once()
    local = local_booking(hall_engine, "CHECK001")
    assert local is not None and local["status"] == "checked_in"
    assert local["slot_end"] == "10:30" and local["ticket_id"] == ticket["id"]

    await shipped(hall_engine, pull)
    status, page = await cloud.call("GET", "/sync/v1/bookings", headers=pull.headers)
    assert [(b["code"], b["status"]) for b in page["bookings"]] == [("CHECK001", "checked_in")]
    status, body = await cloud.call("POST", path, json=booking_json("CHECK001"))
    assert status == 409 and body["error"]["code"] == "booking_checked_in"


async def test_a_booking_made_after_the_link_was_lost_is_honoured_on_its_token(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    pull = await linked(cloud, hall_engine)
    hall = hall_engine.hall.hall.id
    await pull.pull_once()  # while linked: the edge learns the cloud's public keys
    served = await cloud.admin("GET", "/api/signing/public-keys", headers={})
    assert pull.status()["booking_keys"] == served["keys"]
    # the link drops; the citizen books on the portal and gets the QR code
    answer = await cloud.admin("POST", f"/api/halls/{hall}/bookings", json=booking_json("OFF00001"))
    token = answer["token"]
    assert local_booking(hall_engine, "OFF00001") is None

    # after a restart with no link, the keys come from the edge's own database
    restarted = ConfigPull(hall_engine, url=cloud.base, hall=hall, secret="gone")
    assert restarted.status()["booking_keys"] == served["keys"]
    registry = DeviceRegistry(hall_engine.store, prefix="smarthall", hall=hall)
    registry.register(hall_engine.clock.now_ms(), device_id="scan-1", kind="scanner",
                      area="main", attached_to="kiosk-1")  # fmt: skip
    hall_engine.window_login("w1", hall_engine.hall.staff["s1"])
    checkin = ScanCheckIn(hall_engine, registry, booking_keys=restarted.booking_keys)
    task = asyncio.create_task(checkin.run())
    try:
        with hall_engine.store.transaction(hall_engine.clock.now_ms()) as tx:  # as the bus does
            tx.event("device.event", {"device": {"id": "scan-1"}, "type": "scanner.scanned",
                                      "ts": 1, "data": {"text": token}})  # fmt: skip
        await until(lambda: events_of(hall_engine, "ticket.issued"))
    finally:
        await stop([task])
    issued = events_of(hall_engine, "ticket.issued")[0]["ticket"]
    assert issued["source"] == "booking" and issued["booking_id"] == "bk-OFF00001"
    assert events_of(hall_engine, "scanner.refused") == []

    await shipped(hall_engine, pull)  # the link is back: the cloud learns of the check-in
    _, page = await cloud.call("GET", "/sync/v1/bookings", headers=pull.headers)
    assert ("OFF00001", "checked_in") in [(b["code"], b["status"]) for b in page["bookings"]]


async def test_the_admin_api_refuses_what_it_cannot_store(
    cloud: CloudWorker, hall_engine: QueueEngine
) -> None:
    pull = await linked(cloud, hall_engine)
    hall = hall_engine.hall.hall.id
    good = setup_json(hall_engine, 2)

    status, body = await cloud.call("PUT", f"/api/halls/{hall}/setup", json=good, headers={})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    bad_admin = {"Authorization": "Bearer nope"}
    status, _ = await cloud.call("POST", f"/api/halls/{hall}/bookings", json=booking_json("A1234"),
                                 headers=bad_admin)  # fmt: skip
    assert status == 401
    status, _ = await cloud.call("GET", "/sync/v1/config", headers={})
    assert status == 401

    status, body = await cloud.call("PUT", "/api/halls/no-such-hall/setup", json=good)
    assert status == 404 and body["error"]["code"] == "unknown_hall"
    status, body = await cloud.call("POST", "/api/halls/no-such-hall/bookings",
                                    json=booking_json("A1234"))  # fmt: skip
    assert status == 404 and body["error"]["code"] == "unknown_hall"

    broken = setup_json(hall_engine, 2)
    broken["windows"][0]["business_types"] = ["ghost"]
    broken["areas"] = []
    status, body = await cloud.call("PUT", f"/api/halls/{hall}/setup", json=broken)
    assert status == 422 and body["error"]["code"] == "invalid_setup"
    assert body["error"]["message"].startswith("大厅配置无效")
    assert any(p["where"] == "areas" for p in body["problems"])
    other = small_hall(id="another-hall", version=2).model_dump(mode="json")
    status, body = await cloud.call("PUT", f"/api/halls/{hall}/setup", json=other)
    assert status == 422 and "another-hall" in body["error"]["message"]
    status, body = await cloud.call("PUT", f"/api/halls/{hall}/setup", data=b"{")
    assert status == 422 and body["error"]["code"] == "invalid_setup"

    assert (await cloud.call("PUT", f"/api/halls/{hall}/setup", json=good))[0] == 201
    for version in (2, 1):
        status, body = await cloud.call("PUT", f"/api/halls/{hall}/setup",
                                        json=setup_json(hall_engine, version))  # fmt: skip
        assert status == 409 and body["error"]["code"] == "stale_setup" and body["newest"] == 2

    path = f"/api/halls/{hall}/bookings"
    status, body = await cloud.call("POST", path, json=booking_json("A1234", slot_end="09:00"))
    assert status == 422 and body["error"]["code"] == "invalid_booking"
    status, body = await cloud.call("POST", path, json=booking_json("A1234", business_type="x"))
    assert status == 422 and "x" in body["error"]["message"]  # not in the hall's setup
    assert (await cloud.call("POST", path, json=booking_json("A1234")))[0] == 201
    assert (await cloud.call("POST", path, json=booking_json("A1234")))[0] == 200  # a change
    status, body = await cloud.call("POST", path, json={**booking_json("A1234"), "id": "bk-2"})
    assert status == 409 and body["error"]["code"] == "booking_code_taken"

    status, body = await cloud.call("GET", "/sync/v1/bookings", headers=pull.headers,
                                    params={"cursor": "not-a-cursor"})  # fmt: skip
    assert status == 400 and body["error"]["code"] == "invalid_request"
    status, _ = await cloud.call("GET", "/sync/v1/config", headers=pull.headers,
                                 params={"after": "two"})  # fmt: skip
    assert status == 400


async def test_a_cloud_without_a_key_makes_one_at_its_first_start(
    tmp_path: Path, postgresql_url: str, sqlite_url: str, aiohttp_client: ClientFactory
) -> None:
    key_file = tmp_path / "keys" / "signing.key"
    config = cloud_config(postgresql_url).model_copy(
        update={"signing": SigningConfig(private_key_file=str(key_file))}
    )
    first = await aiohttp_client(create_app(config))
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    keys = await (await first.get("/api/signing/public-keys")).json()
    second = await aiohttp_client(create_app(config))  # another worker: the same key
    assert await (await second.get("/api/signing/public-keys")).json() == keys
    assert keys["keys"] == load_signing(config.signing).public_keys and len(keys["keys"]) == 1
    # with no key file named, an embedded cloud keeps its key beside its database
    embedded = cloud_config(sqlite_url).model_copy(update={"signing": SigningConfig()})
    await aiohttp_client(create_app(embedded))
    assert (Path(sqlite_url.partition(":///")[2]).parent / "signing.key").exists()


async def test_an_edge_node_linked_to_the_cloud_pulls_by_itself(
    cloud: CloudWorker, tmp_path: Path
) -> None:
    hall = f"hall-{secrets.token_hex(4)}"
    body = await cloud.admin("POST", "/api/halls", json={"id": hall, "name": "测试大厅"})
    (tmp_path / "hall.secret").write_text(str(body["token"]).rpartition(".")[2])
    config = EdgeConfig(
        mqtt=MqttConfig(enabled=False),
        voice=VoiceConfig(enabled=False),
        backup=BackupConfig(enabled=False),
        cloud=EdgeCloudConfig(url=cloud.base, secret_file="hall.secret", pull_seconds=0.1),
        api=ApiConfig(port=0, clients=[ApiClient(id="ops", kind="admin",
                                                 token_sha256=token_digest("ops-token"))]),
    )  # fmt: skip
    node = EdgeNode(config, tmp_path, setup=small_hall(id=hall))
    await node.start()
    try:
        assert node.engine is not None
        await cloud.admin("PUT", f"/api/halls/{hall}/setup",
                          json=small_hall(id=hall, version=2).model_dump(mode="json"))  # fmt: skip
        await cloud.admin("POST", f"/api/halls/{hall}/bookings", json=booking_json("NODE0001"))
        engine = node.engine
        await until(lambda: engine.hall.setup.version == 2 and local_booking(engine, "NODE0001"))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{node.port}/api/sync",
                        headers={"Authorization": "Bearer ops-token"}) as response,
        ):  # fmt: skip
            status = await response.json()
        assert status["config_version"] == 2 and status["config_error"] == ""
        assert status["booking_keys_from"] == "cloud" and len(status["booking_keys"]) == 1
    finally:
        await node.stop()
