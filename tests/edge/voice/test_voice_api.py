"""The remote silent switch and the voice settings through the edge API (§4.2.3 (3))."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from edge.clock import ManualClock
from edge.db import open_database
from edge.queue import QueueEngine
from edge.voice.settings import area_settings
from tests.edge.test_api import bearer, error_code, login
from tests.edge.test_api import client as client


async def test_the_admin_side_switches_an_area_silent_and_back(
    client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    resp = await client.get("/api/voice", headers=bearer("admin"))
    assert resp.status == 200
    areas = {a["area"]: a for a in (await resp.json())["areas"]}
    assert areas["main"] == {
        "area": "main",
        "languages": ["cmn"],
        "speed": "normal",
        "repeat": 2,
        "silent": False,
        "overridden": False,
    }
    resp = await client.patch(
        "/api/voice/areas/main", json={"silent": True, "speed": "slow"}, headers=bearer("cloud")
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["voice"]["silent"] is True
    assert area_settings(engine, "main").speed == "slow"
    assert area_settings(engine, "annex").silent is False
    (event,) = [e for e in engine.store.events_after(0, 1000) if e.type == "voice.changed"]
    assert event.payload["changed"] == ["silent", "speed"]
    assert event.payload["by"] == "cloud:cloud"

    resp = await client.patch(
        "/api/voice/areas/main", json={"silent": None}, headers=bearer("admin")
    )
    settings = (await resp.json())["voice"]
    assert settings["silent"] is False and settings["speed"] == "slow"
    resp = await client.patch(
        "/api/voice/areas/main", json={"speed": None}, headers=bearer("admin")
    )
    assert (await resp.json())["voice"]["overridden"] is False


async def test_switches_are_kept_across_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    from edge.voice.settings import VoiceChange, change_area
    from tests.edge.hall import small_hall

    conn = open_database(tmp_path / "edge.sqlite3")
    engine = QueueEngine(conn, clock)
    engine.apply_setup(small_hall())
    change_area(engine, "annex", VoiceChange(languages=["yue", "cmn"]), actor="admin:a", key=None)
    conn.close()
    reopened = QueueEngine(open_database(tmp_path / "edge.sqlite3"), clock)
    assert area_settings(reopened, "annex").languages == ("yue", "cmn")
    reopened.conn.close()


async def test_only_the_admin_side_may_switch(client: TestClient[Any, Any]) -> None:
    staff = await login(client, "w1", "101")
    for headers in (bearer("kiosk-main"), bearer("pad-w1"), bearer("display-main"), staff):
        resp = await client.patch("/api/voice/areas/main", json={"silent": True}, headers=headers)
        assert resp.status == 403
        assert await error_code(resp) == "forbidden"
    resp = await client.patch("/api/voice/areas/main", json={"silent": True})
    assert resp.status == 401
    assert (await client.get("/api/voice", headers=staff)).status == 200
    assert (await client.get("/api/voice", headers=bearer("kiosk-main"))).status == 403


async def test_bad_switches_are_refused_and_change_nothing(
    client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    admin = bearer("admin")
    for body in (
        {"speed": "turbo"},
        {"languages": ["cmn", "cmn"]},
        {"languages": []},
        {"languages": ["fr"]},
        {"repeat": 0},
        {"repeat": 9},
        {"silent": "yes please"},
        {"volume": 3},
    ):
        resp = await client.patch("/api/voice/areas/main", json=body, headers=admin)
        assert resp.status == 400, body
        assert await error_code(resp) == "invalid_request"
    resp = await client.patch("/api/voice/areas/nowhere", json={"silent": True}, headers=admin)
    assert resp.status == 404 and await error_code(resp) == "unknown_area"
    resp = await client.patch(
        "/api/voice/areas/main",
        data=b"{not json",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert area_settings(engine, "main").overridden is False
    assert not [e for e in engine.store.events_after(0, 1000) if e.type == "voice.changed"]


async def test_a_repeated_switch_with_its_key_is_done_once(
    client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    headers = {**bearer("admin"), "Idempotency-Key": "silence-1"}
    for _ in range(3):
        resp = await client.patch("/api/voice/areas/main", json={"silent": True}, headers=headers)
        assert resp.status == 200
    changes = [e for e in engine.store.events_after(0, 1000) if e.type == "voice.changed"]
    assert len(changes) == 1
