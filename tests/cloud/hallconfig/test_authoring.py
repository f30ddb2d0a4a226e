"""A hall's configuration authored piece by piece in the cloud: published as the setup the edge
pulls (whose queue then serves those types, in each window's order), checked piece by piece
(a bad reference stores nothing), imported from a setup stored the old way, and never showing
a staff member's password hash."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from cloud.app import create_app
from cloud.db import audit_log, hall_setups, open_engine
from edge.clock import ManualClock
from edge.cloudconfig import ConfigPull
from edge.db import open_database
from edge.queue import QueueEngine
from sync.hallsetup import BusinessCategory, BusinessType, CallingArea, HallSetup, Window
from tests.cloud.conftest import ADMIN, cloud_config, next_working_day, register
from tests.conftest import hall_time
from tests.edge.hall import small_hall

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

DAY = next_working_day()
PASSWORD = "Pass-1001"

AREAS: list[dict[str, Any]] = [{"id": "main", "name": "主厅"}, {"id": "annex", "name": "附厅"}]
CATEGORIES: list[dict[str, Any]] = [
    {"id": "commerce", "name": "商事登记", "waiting_warning": 5},
    {"id": "social", "name": "社保"},
]
TYPES: list[dict[str, Any]] = [
    {"id": "license", "category": "commerce", "name": "证照变更", "prefix": "A",
     "hint": "请携带营业执照原件", "pinyin": "ZZBG"},
    {"id": "tax", "category": "commerce", "name": "税务登记", "prefix": "B", "daily_cap": 50,
     "hours": [{"start": "09:00", "end": "11:00"}], "department": "税务局"},
    {"id": "pension", "category": "social", "name": "养老保险", "prefix": "C",
     "duration_warning_seconds": 600, "instructions": "到二楼办理"},
]  # fmt: skip
WINDOWS: list[dict[str, Any]] = [
    {"id": "w1", "area": "main", "number": "1", "name": "综合窗口",
     "business_types": ["tax", "license"]},
    {"id": "w2", "area": "annex", "number": "2", "business_types": ["pension"]},
]  # fmt: skip
STAFF: list[dict[str, Any]] = [
    {"id": "s-li", "staff_no": "1001", "name": "李强", "password": PASSWORD, "title": "科员",
     "department": "税务局", "post_type": "party", "stars": 4,
     "business_types": ["tax", "license"], "can_issue_tickets": True},
    {"id": "s-wang", "staff_no": "1002", "name": "王芳", "card_no": "C1002",
     "business_types": ["pension"]},
]  # fmt: skip
SETTINGS: dict[str, Any] = {
    "name": "东城政务服务中心",
    "unit_name": "东城区行政审批局",
    "hours": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "17:00"}],
    "evaluation_gate": True,
    "auto_call_seconds": 30,
    "green_channel_age": 65,
}
VOICE: dict[str, Any] = {
    "languages": ["cmn", "yue"],
    "repeat": 3,
    "templates": {"cmn": "请{number}号到{window}号窗口", "yue": "請{number}號到{window}號窗口辦理"},
    "areas": [{"area": "annex", "silent": True, "templates": {"cmn": "{number}号请到附厅"}}],
}


async def call(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    response = await client.request(method, path, headers=ADMIN if headers is None else headers,
                                    **kwargs)  # fmt: skip
    text = await response.text()
    return response.status, json.loads(text) if text else None


async def author(client: TestClient[Any, Any], hall: str) -> list[str]:
    """Author the hall over HTTP, piece by piece; every answer's text."""
    base = f"/api/halls/{hall}/config"
    texts: list[str] = []
    for path, items in (
        ("areas", AREAS),
        ("categories", CATEGORIES),
        ("business-types", TYPES),
        ("windows", WINDOWS),
        ("staff", STAFF),
    ):
        for item in items:
            response = await client.post(f"{base}/{path}", json=item, headers=ADMIN)
            texts.append(await response.text())
            assert response.status == 201, texts[-1]
    for path, body in (("settings", SETTINGS), ("voice", VOICE)):
        method = "PATCH" if path == "settings" else "PUT"
        response = await client.request(method, f"{base}/{path}", json=body, headers=ADMIN)
        texts.append(await response.text())
        assert response.status == 200, texts[-1]
    return texts


async def test_a_hall_authored_piece_by_piece_reaches_the_edge_whose_queue_serves_it(
    postgresql_url: str, aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(cloud_config(postgresql_url)))
    hall, hall_headers = await register(client)
    answers = await author(client, hall)

    status, preview = await call(client, "GET", f"/api/halls/{hall}/config/preview")
    assert status == 200 and preview["valid"], preview
    assert preview["changes"]["against_version"] is None
    assert preview["changes"]["windows"]["added"] == ["w1", "w2"]
    status, published = await call(client, "POST", f"/api/halls/{hall}/config/publish")
    assert status == 201 and published["version"] == 1, published

    # the stored version, as the edge is served it, is the contract's and what was authored
    response = await client.get("/sync/v1/config", headers=hall_headers)
    setup = HallSetup.model_validate((await response.json())["setup"])
    assert setup.version == 1 and setup.hall.id == hall
    info = setup.hall.model_dump(mode="json")
    assert {k: info[k] for k in SETTINGS} == {
        **SETTINGS,
        "hours": [
            {"start": "09:00:00", "end": "12:00:00"},
            {"start": "14:00:00", "end": "17:00:00"},
        ],
    }
    assert setup.areas == [CallingArea.model_validate(a) for a in AREAS]
    assert setup.categories == [BusinessCategory.model_validate(c) for c in CATEGORIES]
    assert setup.business_types == [BusinessType.model_validate(t) for t in TYPES]
    assert setup.windows == [Window.model_validate(w) for w in WINDOWS]
    assert setup.windows[0].business_types == ["tax", "license"]  # the window's own order
    for member, authored in zip(setup.staff, STAFF, strict=True):
        plain = member.model_dump()
        assert {k: plain[k] for k in authored if k != "password"} == {
            k: v for k, v in authored.items() if k != "password"
        }
    assert PasswordHasher().verify(setup.staff[0].password_hash, PASSWORD)
    assert setup.staff[1].password_hash == ""  # card login only
    assert setup.voice.languages == ["cmn", "yue"] and setup.voice.repeat == 3
    assert setup.voice.templates["cmn"] == "请{number}号到{window}号窗口"
    assert setup.voice.area("annex") is not None and setup.voice.area("annex").silent  # type: ignore[union-attr]
    assert setup.voice.template("annex", "cmn") == "{number}号请到附厅"

    # the hash leaves the cloud only inside the setup for the edge: not in any admin answer
    for path in ("staff", "staff/s-li", "preview", "settings", "voice"):
        response = await client.get(f"/api/halls/{hall}/config/{path}", headers=ADMIN)
        answers.append(await response.text())
    answers.append(json.dumps(preview))
    for text in answers:
        assert "password_hash" not in text and "$argon2" not in text, text
    status, staff = await call(client, "GET", f"/api/halls/{hall}/config/staff")
    assert [s["password_set"] for s in staff["items"]] == [True, False]

    # the edge pulls it; its queue serves those types, each window in its own order
    conn = open_database(tmp_path / "edge.sqlite3")
    try:
        engine = QueueEngine(conn, ManualClock(hall_time(DAY, 9, 30)))
        secret = hall_headers["Authorization"].rpartition(".")[2]
        pull = ConfigPull(engine, url=str(client.make_url("")).rstrip("/"), hall=hall,
                          secret=secret, min_backoff=0.05, max_backoff=0.2)  # fmt: skip
        await pull.pull_once()
        assert engine.hall.setup.version == 1 and engine.hall.hall.name == "东城政务服务中心"
        engine.window_login("w1", engine.hall.staff["s-li"])
        first = engine.issue_ticket(area="main", business_type="license", source="kiosk",
                                    actor="kiosk")  # fmt: skip
        second = engine.issue_ticket(area="main", business_type="tax", source="kiosk",
                                     actor="kiosk")  # fmt: skip
        assert first["number"].startswith("A") and second["number"].startswith("B")
        engine.call_next("w1", "s-li")  # tax first: the window serves it before license
        assert engine.ticket(second["id"])["status"] == "called"
        assert engine.ticket(first["id"])["status"] == "waiting"
    finally:
        conn.close()


async def test_pieces_are_checked_as_they_are_written_and_a_bad_one_stores_nothing(
    database_url: str, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(cloud_config(database_url)))
    hall, _ = await register(client)
    base = f"/api/halls/{hall}/config"

    status, body = await call(client, "POST", f"{base}/publish")  # nothing authored yet
    assert status == 422 and body["error"]["code"] == "invalid_setup"
    assert "叫号区域" in body["error"]["message"]
    await author(client, hall)

    refusals = [
        ("POST", "business-types", {"id": "x", "category": "nope", "name": "无", "prefix": "X"},
         422, "hall_config_reference"),
        ("POST", "business-types", {"id": "x", "category": "social", "name": "无", "prefix": "x1"},
         422, "invalid_hall_config"),
        ("POST", "windows", {"id": "w9", "area": "nowhere", "number": "9"}, 422,
         "hall_config_reference"),
        ("POST", "windows", {"id": "w9", "area": "main", "number": "9",
                             "business_types": ["tax", "ghost"]}, 422, "hall_config_reference"),
        ("POST", "windows", {"id": "w9", "area": "main", "number": "9",
                             "business_types": ["tax", "tax"]}, 422, "invalid_hall_config"),
        ("POST", "windows", {"id": "w9", "area": "main", "number": "9", "colour": "red"}, 422,
         "invalid_hall_config"),
        ("POST", "windows", {"id": "w1", "area": "main", "number": "9"}, 409,
         "hall_config_exists"),
        ("POST", "windows", {"id": "w9", "area": "main", "number": "9", "name": "窗" * 201},
         422, "invalid_hall_config"),
        ("POST", "areas", {"id": "a9", "name": "区" * 201}, 422, "invalid_hall_config"),
        ("POST", "staff", {"id": "s9", "staff_no": "1001", "name": "重号"}, 409,
         "hall_config_exists"),
        ("POST", "staff", {"id": "s9", "staff_no": "1009", "name": "某", "password_hash": "x"},
         422, "invalid_hall_config"),
        ("PATCH", "windows/w1", {"area": "nowhere"}, 422, "hall_config_reference"),
        ("PATCH", "windows/w404", {"name": "无"}, 404, "unknown_hall_config"),
        ("DELETE", "categories/commerce", None, 409, "hall_config_in_use"),
        ("DELETE", "areas/annex", None, 409, "hall_config_in_use"),
        ("DELETE", "business-types/tax", None, 409, "hall_config_in_use"),
        ("PUT", "windows/w1/business-types", ["license", "ghost"], 422, "hall_config_reference"),
        ("PATCH", "settings", {"closed_dates": ["2026-01-01"]}, 422, "invalid_hall_config"),
        ("PATCH", "settings", {"assignment": "random"}, 422, "invalid_hall_config"),
        ("PATCH", "settings", {"unit_name": "单" * 201}, 422, "invalid_hall_config"),
        ("PUT", "voice", {"areas": [{"area": "nowhere"}]}, 422, "hall_config_reference"),
        ("PUT", "voice", {"templates": {"cmn": "请到{window}号窗口", "yue": "{number}"}}, 422,
         "invalid_hall_config"),
    ]  # fmt: skip
    for method, path, payload, code, error in refusals:
        status, body = await call(client, method, f"{base}/{path}", json=payload)
        assert (status, body["error"]["code"]) == (code, error), (method, path, body)
        assert body["error"]["message"], body

    for path, ids in (
        ("business-types", ["license", "tax", "pension"]),
        ("windows", ["w1", "w2"]),
        ("staff", ["s-li", "s-wang"]),
        ("categories", ["commerce", "social"]),
        ("areas", ["main", "annex"]),
    ):
        status, body = await call(client, "GET", f"{base}/{path}")
        assert [i["id"] for i in body["items"]] == ids, path
    status, w1 = await call(client, "GET", f"{base}/windows/w1")
    assert w1["area"] == "main" and w1["business_types"] == ["tax", "license"]

    # the window's order, changed as a list of its own, is the order the setup carries
    status, body = await call(client, "PUT", f"{base}/windows/w1/business-types",
                              json=["license", "pension", "tax"])  # fmt: skip
    assert status == 200 and body["business_types"] == ["license", "pension", "tax"]
    status, body = await call(client, "DELETE", f"{base}/windows/w2")
    assert status == 204
    status, preview = await call(client, "GET", f"{base}/preview")
    assert preview["setup"]["windows"] == [
        {"id": "w1", "area": "main", "number": "1", "name": "综合窗口",
         "business_types": ["license", "pension", "tax"]}
    ]  # fmt: skip
    status, published = await call(client, "POST", f"{base}/publish")
    assert status == 201 and published["version"] == 1
    status, preview = await call(client, "GET", f"{base}/preview")
    assert preview["setup"]["version"] == 2 and preview["changes"]["unchanged"]
    status, body = await call(client, "PATCH", f"{base}/business-types/tax", json={"daily_cap": 9})
    assert status == 200 and body["daily_cap"] == 9
    status, preview = await call(client, "GET", f"{base}/preview")
    assert preview["changes"]["business_types"]["changed"] == ["tax"]

    engine = open_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            versions = (
                await conn.scalars(
                    sa.select(hall_setups.c.version).where(hall_setups.c.hall == hall)
                )
            ).all()
            audited = (
                await conn.execute(
                    sa.select(audit_log.c.resource, audit_log.c.action, audit_log.c.actor).where(
                        audit_log.c.hall == hall
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert versions == [1]  # the refused publish stored nothing
    assert ("hall_window", "delete", "admin:ops") in audited
    assert ("hall_setup", "create", "admin:ops") in audited
    assert sum(1 for r in audited if r.resource == "hall_window") == 2 + 1 + 1  # +put, +delete


async def test_a_hall_set_up_the_old_way_moves_over_and_publishes_the_same_setup(
    database_url: str, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(cloud_config(database_url)))
    hall, _ = await register(client)
    base = f"/api/halls/{hall}/config"
    status, body = await call(client, "POST", f"{base}/import")
    assert status == 404 and body["error"]["code"] == "no_hall_setup"

    old = small_hall(id=hall, version=3, auto_call_seconds=20, evaluation_gate=True)
    status, _ = await call(
        client, "PUT", f"/api/halls/{hall}/setup", json=old.model_dump(mode="json")
    )
    assert status == 201
    status, counts = await call(client, "POST", f"{base}/import")
    assert status == 200, counts
    assert counts == {"hall": hall, "from_version": 3, "areas": 2, "categories": 2,
                      "business_types": 4, "windows": 4, "staff": 4}  # fmt: skip
    status, windows = await call(client, "GET", f"{base}/windows")
    assert [w["business_types"] for w in windows["items"]][:2] == [["license", "tax"],
                                                                   ["tax", "license"]]  # fmt: skip
    status, published = await call(client, "POST", f"{base}/publish")
    assert status == 201 and published["version"] == 4

    engine = open_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            bodies = dict(
                (
                    await conn.execute(
                        sa.select(hall_setups.c.version, hall_setups.c.body).where(
                            hall_setups.c.hall == hall
                        )
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert {**bodies[4], "version": 3} == bodies[3]  # the same setup, one version on

    # a posted setup replaces what was authored
    other = small_hall(id=hall, version=1).model_dump(mode="json")
    other["windows"] = other["windows"][:1]
    status, counts = await call(client, "POST", f"{base}/import", json=other)
    assert status == 200 and counts["windows"] == 1
    other["business_types"][0]["prefix"] = "lower"
    status, body = await call(client, "POST", f"{base}/import", json=other)
    assert status == 422 and body["error"]["code"] == "invalid_setup"
    status, windows = await call(client, "GET", f"{base}/windows")
    assert [w["id"] for w in windows["items"]] == ["w1"]  # the refused import changed nothing
