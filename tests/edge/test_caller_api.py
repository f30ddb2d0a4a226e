"""The caller client's own API: the windows its login form offers, before anyone logs in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from edge.api.app import create_app
from edge.clock import ManualClock
from edge.db import open_database
from edge.queue import QueueEngine
from tests.conftest import WORKDAY, hall_time
from tests.edge.test_api import ClientFactory, api_clients, login


async def test_the_login_form_sees_every_window_which_are_in_use_and_the_halls_rules(
    engine: QueueEngine, aiohttp_client: ClientFactory
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(engine, api_clients()))
    await login(client, "w2", "102")
    resp = await client.get("/api/caller/windows")  # no token: nobody is logged in yet
    assert resp.status == 200
    body = await resp.json()
    assert body["hall"] == {
        "id": "test-hall",
        "name": "测试大厅",
        "evaluation_gate": False,
        "evaluation_gate_seconds": 60,
        "auto_call_seconds": 0,
    }
    assert body["now"] == engine.clock.now_ms()
    windows = {w["id"]: w for w in body["windows"]}
    assert list(windows) == ["w1", "w2", "w3", "w4"]
    assert windows["w1"] == {
        "id": "w1",
        "number": "1",
        "name": "",
        "area": "main",
        "area_name": "主厅",
        "status": "closed",
    }
    assert windows["w2"]["status"] == "open"
    assert "staff" not in windows["w2"]  # who sits there stays behind a token


async def test_an_unconfigured_node_says_so_to_the_login_form(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    conn = open_database(tmp_path / "empty.sqlite3")
    try:
        engine = QueueEngine(conn, ManualClock(hall_time(WORKDAY, 9)))
        client = await aiohttp_client(create_app(engine, api_clients()))
        resp = await client.get("/api/caller/windows")
        assert resp.status == 409
        assert (await resp.json())["error"]["code"] == "no_setup"
    finally:
        conn.close()
