"""The caller client's own API: the windows its login form offers before anyone logs in, and
the window's caller PC taking over the session a staff card opened at the window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from edge.api.app import create_app
from edge.clock import ManualClock
from edge.config import ApiClient, token_digest
from edge.db import open_database
from edge.queue import QueueEngine
from tests.conftest import WORKDAY, hall_time
from tests.edge.test_api import ClientFactory, api_clients, bearer, error_code, login


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


# ----------------------------------------------------------------------- card login take-over


def caller_clients() -> list[ApiClient]:
    """test_api's clients and each window's caller PC, its token "token-of-caller-<window>"."""
    callers = [
        ApiClient(
            id=f"caller-{w}",
            kind="caller",
            window=w,
            token_sha256=token_digest(f"token-of-caller-{w}"),
        )
        for w in ("w1", "w2")
    ]
    return api_clients() + callers


@pytest.fixture
async def client(engine: QueueEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(engine, caller_clients()))


def card_login(engine: QueueEngine, window: str, card: str) -> str:
    """What edge/devices/cardlogin.py does with a staff card read at the window's reader: log
    the card's staff member in there (the session token it answers is dropped)."""
    token: str = engine.window_login(window, engine.hall.staff_by_card[card])["token"]
    return token


async def test_a_caller_pc_takes_over_the_session_a_staff_card_opened_at_its_window(
    engine: QueueEngine, client: TestClient[Any, Any]
) -> None:
    dropped = card_login(engine, "w1", "C1")
    resp = await client.post("/api/windows/w1/session", headers=bearer("caller-w1"))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["window"]["staff"]["staff_no"] == "101" and body["window"]["status"] == "open"
    staff = {"Authorization": f"Bearer {body['token']}"}
    await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )
    resp = await client.post("/api/windows/w1/call-next", headers=staff)
    assert resp.status == 200 and (await resp.json())["window"]["current"]["number"] == "A001"
    old = await client.post(
        "/api/windows/w1/recall", headers={"Authorization": f"Bearer {dropped}"}
    )
    assert old.status == 401, "a window keeps one session: the card's ended"

    (event,) = [e for e in engine.store.events_after(0, 5000) if e.type == "window.session"]
    assert event.payload == {
        "window": {"id": "w1"},
        "staff": {"id": "s1"},
        "by": "caller:caller-w1",
    }
    assert body["token"] not in json.dumps(event.payload), "the log never holds a session"


async def test_a_caller_token_takes_only_its_own_windows_session_and_calls_nothing(
    engine: QueueEngine, client: TestClient[Any, Any]
) -> None:
    card_login(engine, "w1", "C1")
    card_login(engine, "w2", "C2")
    await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )

    resp = await client.post("/api/windows/w2/session", headers=bearer("caller-w1"))
    assert resp.status == 403 and await error_code(resp) == "forbidden"
    for action in ("call-next", "pause", "logout"):
        resp = await client.post(f"/api/windows/w1/{action}", headers=bearer("caller-w1"))
        assert resp.status == 403, action
    resp = await client.get("/api/windows/w1/waiting", headers=bearer("caller-w1"))
    assert resp.status == 403
    for other in ("pad-w1", "display-main", "kiosk-main", "admin", "cloud"):
        resp = await client.post("/api/windows/w1/session", headers=bearer(other))
        assert resp.status == 403 and await error_code(resp) == "forbidden", other
    resp = await client.post("/api/windows/w1/session")
    assert resp.status == 401
    resp = await client.post("/api/windows/w9/session", headers=bearer("caller-w1"))
    assert resp.status == 404
    assert engine.window_status("w1")["current"] is None, "nobody was called"
    assert not [e for e in engine.store.events_after(0, 5000) if e.type == "window.session"]


async def test_there_is_no_session_to_take_over_while_nobody_is_logged_in(
    engine: QueueEngine, client: TestClient[Any, Any]
) -> None:
    resp = await client.post("/api/windows/w1/session", headers=bearer("caller-w1"))
    assert resp.status == 409 and await error_code(resp) == "window_closed"
    staff = await login(client, "w1", "101")
    assert (await client.post("/api/windows/w1/logout", headers=staff)).status == 200
    resp = await client.post("/api/windows/w1/session", headers=bearer("caller-w1"))
    assert resp.status == 409 and await error_code(resp) == "window_closed"


async def test_a_caller_pc_watches_its_own_window_and_nothing_else(
    engine: QueueEngine, client: TestClient[Any, Any]
) -> None:
    ws = await client.ws_connect("/api/live?token=token-of-caller-w1")
    welcome = await ws.receive_json(timeout=5)
    assert welcome["type"] == "welcome"
    await ws.send_json({"type": "subscribe", "channels": ["window:w1"]})
    snapshot = await ws.receive_json(timeout=5)
    assert snapshot["type"] == "snapshot" and snapshot["data"]["status"] == "closed"
    refused = ["window:w2", "area:main", "events:main"]
    await ws.send_json({"type": "subscribe", "channels": refused})
    for channel in refused:
        error = await ws.receive_json(timeout=5)
        assert (error["type"], error["channel"]) == ("error", channel)
        assert error["data"]["code"] == "forbidden"
    card_login(engine, "w1", "C1")  # the page sees the card's login and asks for the session
    update = await ws.receive_json(timeout=5)
    assert update["type"] == "update" and update["data"]["staff"]["staff_no"] == "101"
    await ws.close()


def test_a_caller_client_belongs_to_a_window() -> None:
    with pytest.raises(ValidationError, match="a caller belongs to a window"):
        ApiClient(id="caller-x", kind="caller", token_sha256=token_digest("x"))
