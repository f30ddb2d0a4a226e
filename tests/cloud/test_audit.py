"""The audit log: every admin write leaves one row — who, what, from where, old and new values —
in the change's own transaction; a resource that requires a reason refuses a change without
one; no secret ever reaches a row; the log is read back filtered and page by page."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from cloud.app import create_app
from cloud.audit import SYSTEM, record
from cloud.db import audit_log, calendar_exceptions, open_engine
from cloud.errors import ApiError
from tests.cloud.conftest import ADMIN, cloud_config, register
from tests.edge.hall import small_hall

BOOKING = {"id": "bk-1", "code": "AUDIT001", "name": "陈静", "phone": "13800000000",
           "id_number": "11010519491231002X", "business_type": "license",
           "date": "2030-03-12", "slot_start": "09:30", "slot_end": "10:00"}  # fmt: skip


async def entries(cloud: TestClient, **params: Any) -> list[dict[str, Any]]:
    """The audit rows the admin API answers for these filters, newest first."""
    response = await cloud.get("/api/audit", params=params, headers=ADMIN)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    rows: list[dict[str, Any]] = body["entries"]
    return rows


async def only(cloud: TestClient, hall: str, resource: str, resource_id: str) -> dict[str, Any]:
    rows = await entries(cloud, hall=hall, resource=resource, resource_id=resource_id)
    assert len(rows) == 1, rows
    assert rows[0]["actor"] == "admin:ops" and rows[0]["remote"] == "127.0.0.1"
    assert rows[0]["user_agent"]
    return rows[0]


async def put_setup(cloud: TestClient, hall: str, version: int, **info: Any) -> int:
    body = small_hall(id=hall, version=version, **info).model_dump(mode="json")
    response = await cloud.put(f"/api/halls/{hall}/setup", json=body, headers=ADMIN)
    return response.status


async def test_every_admin_write_leaves_one_row_with_who_what_and_where(
    cloud: TestClient,
) -> None:
    hall, _ = await register(cloud)
    row = await only(cloud, hall, "hall", hall)
    assert (row["action"], row["old"]) == ("create", None)
    assert row["new"] == {"id": hall, "name": "测试大厅", "created_at": row["new"]["created_at"],
                          "disabled": False}  # fmt: skip

    response = await cloud.patch(f"/api/halls/{hall}", json={"disabled": True}, headers=ADMIN)
    assert response.status == 200
    rows = await entries(cloud, hall=hall, resource="hall")
    assert [(r["action"], r["old"], r["new"]) for r in rows] == [
        ("update", {"disabled": False}, {"disabled": True}),
        ("create", None, row["new"]),
    ]

    assert await put_setup(cloud, hall, 1) == 201
    first = await only(cloud, hall, "hall_setup", "1")
    assert first["action"] == "create" and first["old"] is None
    assert first["new"]["version"] == 1 and first["new"]["hall"]["id"] == hall
    assert await put_setup(cloud, hall, 2, name="新大厅") == 201
    second = await only(cloud, hall, "hall_setup", "2")  # only the sections that changed
    assert set(second["new"]) == set(second["old"]) == {"version", "hall"}
    assert (second["old"]["hall"]["name"], second["new"]["hall"]["name"]) == ("测试大厅", "新大厅")

    path = f"/api/halls/{hall}/bookings"
    assert (await cloud.post(path, json=BOOKING, headers=ADMIN)).status == 201
    created = await only(cloud, hall, "booking", "bk-1")
    assert created["action"] == "create" and created["old"] is None
    assert created["new"]["slot_start"] == "09:30:00" and created["new"]["code"] == "AUDIT001"
    moved = {**BOOKING, "slot_start": "10:00", "slot_end": "10:30"}
    assert (await cloud.post(path, json=moved, headers=ADMIN)).status == 200
    rows = await entries(cloud, hall=hall, resource="booking", resource_id="bk-1")
    assert len(rows) == 2 and rows[0]["action"] == "update"
    assert rows[0]["old"]["slot_start"] == "09:30:00" and rows[0]["new"]["slot_start"] == "10:00:00"
    assert set(rows[0]["new"]) == {"slot_start", "slot_end", "change_seq", "updated_at"}

    day = f"/api/halls/{hall}/calendar/2030-03-13"
    change = {"working": False, "reason": "系统升级停办"}
    assert (await cloud.put(day, json=change, headers=ADMIN)).status == 200
    entered = await only(cloud, hall, "calendar_exception", "2030-03-13")
    assert (entered["action"], entered["reason"]) == ("create", "系统升级停办")
    assert entered["new"]["working"] is False and entered["new"]["created_by"] == "ops"
    header = {**ADMIN, "X-Change-Reason": quote("恢复办公")}
    assert (await cloud.delete(day, headers=header)).status == 200
    rows = await entries(cloud, hall=hall, resource="calendar_exception")
    assert [(r["action"], r["reason"], r["new"]) for r in rows] == [
        ("delete", "恢复办公", None), ("create", "系统升级停办", entered["new"])]  # fmt: skip
    assert rows[0]["old"]["reason"] == "系统升级停办"


async def test_a_refused_change_leaves_no_row(cloud: TestClient) -> None:
    hall, _ = await register(cloud)
    assert await put_setup(cloud, hall, 1) == 201
    assert await put_setup(cloud, hall, 1) == 409  # stale
    assert await put_setup(cloud, "no-such-hall", 1) == 404
    unknown_type = {**BOOKING, "business_type": "nothing"}
    response = await cloud.post(f"/api/halls/{hall}/bookings", json=unknown_type, headers=ADMIN)
    assert response.status == 422
    response = await cloud.delete(f"/api/halls/{hall}/calendar/2030-03-13",
                                  headers={**ADMIN, "X-Change-Reason": "x"})  # fmt: skip
    assert response.status == 404
    rows = await entries(cloud, hall=hall)
    assert [(r["resource"], r["action"]) for r in rows] == [("hall_setup", "create"),
                                                           ("hall", "create")]  # fmt: skip


async def test_a_change_that_needs_a_reason_is_refused_without_one(cloud: TestClient) -> None:
    hall, _ = await register(cloud)
    day = f"/api/halls/{hall}/calendar/2030-03-13"
    for body, headers in (
        ({"working": False}, ADMIN),
        ({"working": False, "reason": "  "}, ADMIN),
        ({"working": False}, {**ADMIN, "X-Change-Reason": "%20"}),
    ):
        response = await cloud.put(day, json=body, headers=headers)
        assert response.status == 422
        error = (await response.json())["error"]
        assert error["code"] == "reason_required" and "行事历" in error["message"]
    assert await entries(cloud, hall=hall, resource="calendar_exception") == []

    # the header stands in for a body without a reason
    headers = {**ADMIN, "X-Change-Reason": quote("临时停电")}
    assert (await cloud.put(day, json={"working": False}, headers=headers)).status == 200
    assert (await cloud.delete(day, headers=ADMIN)).status == 422  # still there, unchanged
    rows = await entries(cloud, hall=hall, resource="calendar_exception")
    assert [(r["action"], r["reason"]) for r in rows] == [("create", "临时停电")]
    view = await (await cloud.get(f"/api/halls/{hall}/calendar", params={"year": "2030"},
                                  headers=ADMIN)).json()  # fmt: skip
    assert {d["date"]: d for d in view["days"]}["2030-03-13"]["name"] == "临时停电"


async def test_the_change_and_its_row_roll_back_together(
    cloud: TestClient, database_url: str
) -> None:
    """`record` refusing (no reason) inside the transaction takes the change with it."""
    hall, _ = await register(cloud)
    engine = open_engine(database_url)
    try:
        with pytest.raises(ApiError):
            async with engine.begin() as conn:
                await conn.execute(sa.insert(calendar_exceptions).values(
                    hall=hall, date=dt.date(2030, 1, 2), working=False, reason="r",
                    created_by="ops", created_at=0))  # fmt: skip
                await record(conn, SYSTEM, action="create", resource="calendar_exception",
                             resource_id="today", hall=hall, new={}, now_ms=0)  # fmt: skip
        async with engine.connect() as conn:
            stored = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(calendar_exceptions)
                .where(calendar_exceptions.c.hall == hall)
            )
            logged = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(audit_log)
                .where(audit_log.c.hall == hall, audit_log.c.resource == "calendar_exception")
            )
    finally:
        await engine.dispose()
    assert (stored, logged) == (0, 0)


async def test_no_secret_reaches_the_log(cloud: TestClient) -> None:
    hall = "hall-secretive"
    response = await cloud.post("/api/halls", json={"id": hall, "name": "大厅"}, headers=ADMIN)
    answered = await response.json()
    await cloud.patch(f"/api/halls/{hall}", json={"disabled": True}, headers=ADMIN)
    assert (await cloud.post(f"/api/halls/{hall}/bookings", json=BOOKING,
                             headers=ADMIN)).status == 201  # fmt: skip
    booking = await (await cloud.post(f"/api/halls/{hall}/bookings", json=BOOKING,
                                      headers=ADMIN)).json()  # fmt: skip
    logged = json.dumps(await entries(cloud, hall=hall), ensure_ascii=False)
    assert len(await entries(cloud, hall=hall)) == 4
    for secret in (answered["secret"], answered["token"], booking["token"], "argon2"):
        assert secret not in logged
    assert "secret_hash" not in logged and '"token"' not in logged


async def test_secrets_nested_in_a_setup_stay_out_of_the_log(cloud: TestClient) -> None:
    hall, _ = await register(cloud)
    setup = small_hall(id=hall, version=1).model_dump(mode="json")
    assert any(staff["password_hash"] for staff in setup["staff"])
    response = await cloud.put(f"/api/halls/{hall}/setup", json=setup, headers=ADMIN)
    assert response.status == 201, await response.text()
    logged = json.dumps(await entries(cloud, hall=hall), ensure_ascii=False)
    assert "staff_no" in logged  # the staff are logged ...
    assert "password_hash" not in logged and "argon2" not in logged  # ... without their hashes


async def test_the_log_is_filtered_and_paged_newest_first(cloud: TestClient) -> None:
    hall, _ = await register(cloud)
    for i in range(5):
        booking = {**BOOKING, "id": f"bk-{i}", "code": f"PAGE{i:04d}"}
        assert (await cloud.post(f"/api/halls/{hall}/bookings", json=booking,
                                 headers=ADMIN)).status == 201  # fmt: skip
    everything = await entries(cloud, hall=hall)
    assert [r["resource_id"] for r in everything] == [f"bk-{i}" for i in range(4, -1, -1)] + [hall]
    ids = [r["id"] for r in everything]
    assert ids == sorted(ids, reverse=True)

    paged: list[int] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"hall": hall, "limit": 2}
        if before is not None:
            params["before_id"] = before
        body = await (await cloud.get("/api/audit", params=params, headers=ADMIN)).json()
        paged += [r["id"] for r in body["entries"]]
        before = body["next_before_id"]
        if before is None:
            break
    assert paged == ids

    one = await entries(cloud, resource="booking", resource_id="bk-3", hall=hall)
    assert [r["resource_id"] for r in one] == ["bk-3"]
    assert len(await entries(cloud, hall=hall, actor="admin:ops")) == 6
    assert await entries(cloud, hall=hall, actor="system") == []
    at = everything[2]["at"]
    assert all(r["at"] >= at for r in await entries(cloud, hall=hall, since=at))
    assert all(r["at"] < at for r in await entries(cloud, hall=hall, until=at))
    response = await cloud.get("/api/audit", params={"limit": "many"}, headers=ADMIN)
    assert response.status == 400


async def test_reading_the_log_needs_the_admin_token(cloud: TestClient) -> None:
    assert (await cloud.get("/api/audit")).status == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await cloud.get("/api/audit", headers=wrong)).status == 401


async def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(
    database_url: str, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    forwarded = {**ADMIN, "X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    for trusted, remote in ((False, "127.0.0.1"), (True, "198.51.100.7")):
        config = cloud_config(database_url, trust_forwarded_for=trusted)
        client = await aiohttp_client(create_app(config))
        hall = f"hall-proxy-{trusted}"
        response = await client.post("/api/halls", json={"id": hall, "name": "大厅"},
                                     headers=forwarded)  # fmt: skip
        assert response.status == 201
        assert [r["remote"] for r in await entries(client, hall=hall)] == [remote]
