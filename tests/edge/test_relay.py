"""The live relay for browser screens over a real aiohttp server: auth, channels, slow browsers."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from edge.api.app import create_app
from edge.api.relay import RELAY, UNAUTHORIZED, Relay, RelaySettings, setup_relay
from edge.queue import QueueEngine
from tests.edge.test_api import api_clients, bearer, login

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
Socket = aiohttp.ClientWebSocketResponse


@pytest.fixture
async def client(engine: QueueEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    clients = api_clients()
    settings = RelaySettings(outbox_limit=40, send_buffer=4096, auth_timeout=0.3)
    app = create_app(engine, clients, relay=settings)
    setup_relay(app)  # a second call changes nothing
    return await aiohttp_client(app)


def relay_of(client: TestClient[Any, Any]) -> Relay:
    return client.server.app[RELAY]


async def live(client: TestClient[Any, Any], who: str, *channels: str) -> Socket:
    """A socket of `who`, subscribed to `channels`, past its welcome and snapshots."""
    ws = await client.ws_connect(f"/api/live?token=token-of-{who}")
    assert (await next_message(ws))["type"] == "welcome"
    if channels:
        await ws.send_json({"type": "subscribe", "channels": list(channels)})
        for _ in channels:
            assert (await next_message(ws))["type"] == "snapshot"
    return ws


async def next_message(ws: Socket, timeout: float = 5.0) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type == WSMsgType.TEXT, message
    body: dict[str, Any] = json.loads(message.data)
    return body


async def message_where(
    ws: Socket, check: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = await next_message(ws, max(deadline - time.monotonic(), 0.01))
        if check(body):
            return body


def waiting(status: dict[str, Any], business_type: str) -> int:
    counts = {s["id"]: s["waiting"] for s in status["services"]}
    return int(counts[business_type])


async def test_a_socket_without_a_valid_token_is_closed_with_4401(
    client: TestClient[Any, Any],
) -> None:
    for url in ("/api/live?token=nope", "/api/live"):
        ws = await client.ws_connect(url)
        if url == "/api/live":
            await ws.send_json({"type": "auth", "token": "still-nope"})
        message = await ws.receive(timeout=5)
        assert message.type == WSMsgType.CLOSE
        assert ws.close_code == UNAUTHORIZED
        assert message.extra == "请先登录或提供有效凭证"
    ws = await client.ws_connect("/api/live")  # says nothing at all
    assert (await ws.receive(timeout=5)).type == WSMsgType.CLOSE
    assert ws.close_code == UNAUTHORIZED
    plain = await client.get("/api/live")
    assert plain.status == 400 and (await plain.json())["error"]["code"] == "invalid_request"


async def test_the_token_may_come_as_the_first_message(client: TestClient[Any, Any]) -> None:
    ws = await client.ws_connect("/api/live")
    await ws.send_json({"type": "auth", "token": "token-of-display-main"})
    welcome = await next_message(ws)
    assert welcome["type"] == "welcome"
    assert welcome["data"] == {
        "kind": "display",
        "id": "display-main",
        "area": "main",
        "window": "",
    }


async def test_subscribing_sends_the_same_status_as_the_http_api_at_once(
    client: TestClient[Any, Any],
) -> None:
    await login(client, "w1", "101")
    ws = await client.ws_connect("/api/live?token=token-of-display-main")
    await next_message(ws)
    await ws.send_json({"type": "subscribe", "channels": ["area:main", "window:w1"]})
    area, window = await next_message(ws), await next_message(ws)
    http = await (await client.get("/api/areas/main/status", headers=bearer("display-main"))).json()
    assert area["channel"] == "area:main" and area["type"] == "snapshot"
    assert area["data"] == http
    assert window["channel"] == "window:w1" and window["data"]["status"] == "open"
    assert window["data"]["staff"]["name"] == "张敏"
    assert area["seq"] == window["seq"] > 0


async def test_a_call_pushes_the_window_the_area_and_the_event(
    client: TestClient[Any, Any],
) -> None:
    staff = await login(client, "w1", "101")
    ws = await live(client, "admin", "window:w1", "area:main", "events:main", "area:annex")
    await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )
    resp = await client.post("/api/windows/w1/call-next", headers=staff)
    assert resp.status == 200
    window = await message_where(
        ws, lambda m: m["channel"] == "window:w1" and (m["data"]["current"] or {}).get("number")
    )
    assert window["type"] == "update" and window["data"]["current"]["number"] == "A001"
    area = await message_where(
        ws, lambda m: m["channel"] == "area:main" and bool(m["data"]["latest_calls"])
    )
    assert area["data"]["latest_calls"][0]["window_number"] == "1"
    assert area["seq"] >= window["seq"]
    called = await message_where(ws, lambda m: m.get("data", {}).get("type") == "ticket.called")
    assert called["channel"] == "events:main" and called["type"] == "event"
    assert called["data"]["ticket"]["number"] == "A001" and called["seq"] == called["data"]["seq"]
    await ws.send_json({"type": "ping"})
    rest = []
    while (message := await next_message(ws))["type"] != "pong":
        rest.append(message)
    assert all(m["channel"] != "area:annex" for m in rest), "nothing changed in the annex"


async def test_a_display_watches_its_own_area_and_a_pad_its_own_window(
    client: TestClient[Any, Any],
) -> None:
    refusals = {
        "display-main": ["area:annex", "window:w3", "events:annex"],
        "kiosk-main": ["area:annex"],
        "pad-w1": ["window:w2", "area:main", "events:annex"],
    }
    for who, channels in refusals.items():
        ws = await live(client, who)
        await ws.send_json({"type": "subscribe", "channels": channels})
        for channel in channels:
            error = await next_message(ws)
            assert error["type"] == "error" and error["channel"] == channel
            assert error["data"]["code"] == "forbidden" and error["data"]["message"]
    allowed = {
        "display-main": ["area:main", "window:w1", "events:main"],
        "pad-w1": ["window:w1", "events:main"],
        "admin": ["area:annex", "window:w3"],
    }
    for who, channels in allowed.items():
        await live(client, who, *channels)  # every one a snapshot
    staff = await login(client, "w3", "103")
    ws = await client.ws_connect("/api/live?token=" + staff["Authorization"].split()[1])
    await next_message(ws)
    await ws.send_json({"type": "subscribe", "channels": ["area:main", "window:w1"]})
    assert {(await next_message(ws))["type"] for _ in range(2)} == {"snapshot"}


async def test_bad_messages_get_errors_and_the_socket_stays_open(
    client: TestClient[Any, Any],
) -> None:
    ws = await live(client, "admin")
    bad: list[tuple[str | bytes, str]] = [
        ("{not json", "invalid_request"),
        ("[1, 2]", "invalid_request"),
        ('{"type": "dance"}', "invalid_request"),
        ('{"type": "subscribe"}', "invalid_request"),
        ('{"type": "subscribe", "channels": "area:main"}', "invalid_request"),
        ('{"type": "subscribe", "channels": [42]}', "invalid_request"),
        ('{"type": "subscribe", "channels": ["area:main"], "after": -1}', "invalid_request"),
        ('{"type": "subscribe", "channels": ["queue:main"]}', "invalid_request"),
        ('{"type": "subscribe", "channels": ["area:nowhere"]}', "unknown_area"),
        ('{"type": "subscribe", "channels": ["window:w9"]}', "unknown_window"),
        (b"\x00\x01", "invalid_request"),
    ]
    for raw, code in bad:
        if isinstance(raw, bytes):
            await ws.send_bytes(raw)
        else:
            await ws.send_str(raw)
        error = await next_message(ws)
        assert error["type"] == "error" and error["data"]["code"] == code, (raw, error)
        assert error["data"]["message"]
    await ws.send_json({"type": "subscribe", "channel": "area:main"})
    assert (await next_message(ws))["type"] == "snapshot"
    await ws.send_json({"type": "unsubscribe", "channels": ["area:main"]})
    await ws.send_json({"type": "ping"})
    assert (await next_message(ws))["type"] == "pong"


async def test_a_staff_socket_ends_with_the_staff_session(client: TestClient[Any, Any]) -> None:
    staff = await login(client, "w1", "101")
    ws = await client.ws_connect("/api/live?token=" + staff["Authorization"].split()[1])
    await next_message(ws)
    await client.post("/api/windows/w1/logout", headers=staff)
    await ws.send_json({"type": "subscribe", "channels": ["window:w1"]})
    assert (await ws.receive(timeout=5)).type == WSMsgType.CLOSE
    assert ws.close_code == UNAUTHORIZED


async def test_status_is_read_once_per_batch_whatever_the_number_of_watchers(
    client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    await login(client, "w1", "101")
    watchers = [await live(client, "display-main", "area:main") for _ in range(5)]
    relay = relay_of(client)
    before = relay.computed["area:main"]
    # ten tickets in one turn of the event loop: one group commit, one batch
    for _ in range(10):
        engine.issue_ticket(
            area="main", business_type="license", source="kiosk", actor="kiosk:kiosk-main"
        )
    for ws in watchers:
        update = await next_message(ws)
        assert update["type"] == "update"
        assert waiting(update["data"], "license") == 10, "the update shows the whole batch"
    assert relay.computed["area:main"] == before + 1
    more = await asyncio.gather(
        *(ws.receive(timeout=0.2) for ws in watchers), return_exceptions=True
    )
    assert all(isinstance(m, asyncio.TimeoutError) for m in more), "one update each, no more"


async def test_events_replay_after_a_sequence_number(client: TestClient[Any, Any]) -> None:
    staff = await login(client, "w1", "101")
    ws = await live(client, "admin")
    await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )
    await login(client, "w3", "103")
    annex = {"business_type": "pension", "area": "annex"}
    resp = await client.post("/api/tickets", json=annex, headers=bearer("cloud"))
    assert resp.status == 201
    await client.post("/api/windows/w1/call-next", headers=staff)
    await ws.send_json({"type": "subscribe", "channels": ["events:main"], "after": 0})
    snapshot = await next_message(ws)
    types = [e["type"] for e in snapshot["data"]["events"]]
    assert types == [
        "config.applied",  # the whole hall's
        "window.login",
        "ticket.issued",
        "ticket.called",
    ], "nothing of the annex"
    assert snapshot["data"]["complete"] is True
    seqs = [e["seq"] for e in snapshot["data"]["events"]]
    assert seqs == sorted(seqs) and seqs[-1] <= snapshot["seq"]


@pytest.fixture
async def slow_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A browser on a bad line: a tiny receive buffer, and it reads only when told."""

    def tiny_buffer(addr_info: Any) -> socket.socket:
        family, type_, proto, _, _ = addr_info
        sock = socket.socket(family, type_, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        return sock

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=tiny_buffer))
    yield session
    await session.close()


async def test_a_slow_browser_holds_up_neither_commits_nor_other_browsers(
    client: TestClient[Any, Any], engine: QueueEngine, slow_session: aiohttp.ClientSession
) -> None:
    await login(client, "w1", "101")
    slow = await slow_session.ws_connect(
        client.make_url("/api/live?token=token-of-admin"), max_msg_size=0
    )
    await slow.send_json({"type": "subscribe", "channels": ["area:main", "events:main"]})
    fast = await live(client, "display-main", "area:main")
    relay = relay_of(client)
    started = time.monotonic()
    for n in range(400):  # one commit per turn of the loop, each a new event and status
        engine.issue_ticket(
            area="main", business_type="license", source="kiosk", actor="kiosk:kiosk-main"
        )
        await asyncio.sleep(0)
        if n % 50 == 0:
            await asyncio.sleep(0.01)  # let the fast browser read
    took = time.monotonic() - started
    assert took < 10, f"400 commits took {took:.1f} s"
    last = await message_where(
        fast, lambda m: m["type"] == "update" and waiting(m["data"], "license") == 400
    )
    assert last["channel"] == "area:main"
    assert relay.resyncs >= 1, "the slow browser's outbox overflowed"
    # the slow browser reads at last: a resync, then snapshots of today's state
    seen: list[dict[str, Any]] = []
    while True:
        message = await slow.receive(timeout=10)
        assert message.type == WSMsgType.TEXT, message
        body = json.loads(message.data)
        seen.append(body)
        if body["channel"] == "area:main" and waiting(body["data"], "license") == 400:
            break
    assert any(m["type"] == "resync" for m in seen)
    area = next(m for m in seen if m["type"] == "resync")
    assert area["data"] == {"reason": "slow"}
