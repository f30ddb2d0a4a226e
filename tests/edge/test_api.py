"""The edge HTTP API over a real aiohttp server on loopback: auth, errors, idempotency, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge.api.app import OPERATIONS, create_app
from edge.config import ApiClient, token_digest
from edge.queue import QueueEngine
from tests.edge.hall import PASSWORD, small_hall

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

TOKENS = {
    "kiosk-main": ("kiosk", "main", ""),
    "kiosk-annex": ("kiosk", "annex", ""),
    "pad-w1": ("pad", "", "w1"),
    "pad-w2": ("pad", "", "w2"),
    "display-main": ("display", "main", ""),
    "admin": ("admin", "", ""),
    "cloud": ("cloud", "", ""),
}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer token-of-{name}"}


def api_clients() -> list[ApiClient]:
    """One client of each kind in `TOKENS`, its token "token-of-<name>"."""
    return [
        ApiClient(
            id=name,
            kind=kind,
            area=area,
            window=window,
            token_sha256=token_digest(f"token-of-{name}"),
        )  # type: ignore[arg-type]
        for name, (kind, area, window) in TOKENS.items()
    ]


@pytest.fixture
async def client(engine: QueueEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(engine, api_clients()))


async def login(client: TestClient[Any, Any], window: str, staff_no: str) -> dict[str, str]:
    resp = await client.post(
        f"/api/windows/{window}/login", json={"staff_no": staff_no, "password": PASSWORD}
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return {"Authorization": f"Bearer {body['token']}"}


async def error_code(resp: Any) -> str:
    body = await resp.json()
    assert body["error"]["message"], "every refusal carries a Chinese message"
    code: str = body["error"]["code"]
    return code


async def test_the_openapi_document_names_every_operation(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/openapi.json")
    document = await resp.json()
    ids = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    required = {
        "listServices",
        "issueTicket",
        "checkInBooking",
        "callNext",
        "recall",
        "finishTicket",
        "transferTicket",
        "abandonTicket",
        "pauseWindow",
        "resumeWindow",
        "windowLogin",
        "windowLogout",
        "queueStatus",
    }
    assert required <= ids
    assert ids == {op.operation_id for op in OPERATIONS}
    assert "IssueTicketRequest" in document["components"]["schemas"]


async def test_a_kiosk_takes_a_ticket_and_a_window_calls_it(client: TestClient[Any, Any]) -> None:
    staff = await login(client, "w1", "101")
    resp = await client.get("/api/areas/main/services", headers=bearer("kiosk-main"))
    offer = {s["id"]: s for s in (await resp.json())["services"]}
    assert offer["license"]["available"]
    resp = await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )
    assert resp.status == 201
    ticket = (await resp.json())["ticket"]
    assert ticket["number"] == "A001" and ticket["source"] == "kiosk"
    resp = await client.post("/api/windows/w1/call-next", headers=staff)
    assert (await resp.json())["window"]["current"]["number"] == "A001"
    status = await (
        await client.get("/api/areas/main/status", headers=bearer("display-main"))
    ).json()
    assert status["latest_calls"][0]["number"] == "A001"
    assert status["latest_calls"][0]["window_number"] == "1"


async def test_the_whole_counter_sequence_over_http(client: TestClient[Any, Any]) -> None:
    staff = await login(client, "w1", "101")
    for _ in range(3):
        await client.post(
            "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
        )
    steps = [
        ("call-next", None, "A001"),
        ("recall", None, "A001"),
        ("finish", {"request_evaluation": True}, None),
        ("call-next", None, "A002"),
        ("abandon", None, None),
        ("call-next", None, "A003"),
        ("transfer", {"business_type": "tax", "priority": True}, None),
        ("pause", None, None),
        ("resume", None, None),
        ("backstage", None, None),
        ("one-meter-line", None, None),
        ("resume", None, None),
    ]
    for action, body, current in steps:
        resp = await client.post(f"/api/windows/w1/{action}", json=body, headers=staff)
        assert resp.status == 200, (action, await resp.text())
        window = (await resp.json())["window"]
        if current:
            assert window["current"]["number"] == current
    waiting = await (await client.get("/api/windows/w1/waiting", headers=staff)).json()
    assert [t["number"] for t in waiting["tickets"]] == ["A003"]
    called = await (await client.get("/api/windows/w1/called?search=A00", headers=staff)).json()
    assert {t["number"] for t in called["tickets"]} == {"A001", "A002", "A003"}
    resp = await client.post("/api/windows/w1/logout", headers=staff)
    assert resp.status == 200
    resp = await client.post("/api/windows/w1/call-next", headers=staff)
    assert resp.status == 401, "the session ended with the logout"


async def test_the_pad_evaluates_its_own_windows_ticket_once(client: TestClient[Any, Any]) -> None:
    staff = await login(client, "w1", "101")
    ticket = await (
        await client.post(
            "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
        )
    ).json()
    ticket_id = ticket["ticket"]["id"]
    await client.post("/api/windows/w1/call-next", headers=staff)
    await client.post("/api/windows/w1/finish", json={"request_evaluation": True}, headers=staff)
    url = f"/api/tickets/{ticket_id}/evaluation"
    other = await client.post(url, json={"level": "satisfied"}, headers=bearer("pad-w2"))
    assert other.status == 403 and await error_code(other) == "forbidden"
    for _ in range(2):  # the Pad's network dropped and it resends
        resp = await client.post(
            url,
            json={"level": "satisfied"},
            headers={**bearer("pad-w1"), "Idempotency-Key": "ev-1"},
        )
        assert resp.status == 200
    bad = await client.post(url, json={"level": "great"}, headers=bearer("pad-w1"))
    assert bad.status == 400 and await error_code(bad) == "invalid_request"
    got = await (await client.get(f"/api/tickets/{ticket_id}", headers=bearer("admin"))).json()
    assert got["ticket"]["evaluation"] == "satisfied"


async def test_the_same_idempotency_key_gives_the_same_ticket(client: TestClient[Any, Any]) -> None:
    await login(client, "w1", "101")
    headers = {**bearer("kiosk-main"), "Idempotency-Key": "press-42"}
    answers = []
    for _ in range(3):
        resp = await client.post("/api/tickets", json={"business_type": "license"}, headers=headers)
        answers.append((await resp.json())["ticket"])
    assert answers[0] == answers[1] == answers[2]
    offer = await (
        await client.get("/api/areas/main/services", headers=bearer("kiosk-main"))
    ).json()
    assert {s["id"]: s["waiting"] for s in offer["services"]}["license"] == 1


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("GET", "/api/areas/main/services", {}, 401, "unauthorized"),
        ("GET", "/api/areas/main/services", {"Authorization": "Bearer nope"}, 401, "unauthorized"),
        ("GET", "/api/areas/main/services", {"Authorization": "Basic abc"}, 401, "unauthorized"),
        ("GET", "/api/areas/nowhere/services", bearer("kiosk-main"), 404, "unknown_area"),
        ("POST", "/api/windows/w1/call-next", bearer("kiosk-main"), 403, "forbidden"),
        ("POST", "/api/windows/w9/call-next", bearer("admin"), 404, "unknown_window"),
        ("POST", "/api/tickets/nope/void", bearer("kiosk-main"), 403, "forbidden"),
        ("POST", "/api/tickets/nope/void", bearer("admin"), 404, "unknown_ticket"),
        ("GET", "/api/events", bearer("kiosk-main"), 403, "forbidden"),
        ("GET", "/api/events?after=x", bearer("admin"), 400, "invalid_request"),
        ("GET", "/api/no-such-thing", {}, 404, "not_found"),
        ("DELETE", "/api/tickets", bearer("admin"), 405, "method_not_allowed"),
    ],
)
async def test_refusals_are_clear_json_errors(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    resp = await client.request(method, path, headers=headers)
    assert resp.status == status, await resp.text()
    assert await error_code(resp) == code


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"business_type": 12}',
        b'{"business_type": "license", "colour": "red"}',
        b"{}",
        b'{"business_type": "license", "phone": "abc"}',
        b'{"business_type": "license", "id_number": "123456789012345678901"}',
        b'{"business_type": "nope"}',
        b'{"business_type": "pension"}',
        "\udcff".encode("utf-8", "surrogatepass"),
    ],
)
async def test_bad_ticket_requests_get_a_4xx_and_change_nothing(
    client: TestClient[Any, Any], engine: QueueEngine, body: bytes
) -> None:
    await login(client, "w1", "101")
    before = len(engine.store.events_after(0, 10_000))
    resp = await client.post("/api/tickets", data=body, headers=bearer("kiosk-main"))
    assert 400 <= resp.status < 500, await resp.text()
    await error_code(resp)
    assert len(engine.store.events_after(0, 10_000)) == before


async def test_a_kiosk_cannot_take_tickets_for_another_area(client: TestClient[Any, Any]) -> None:
    await login(client, "w1", "101")
    resp = await client.post(
        "/api/tickets",
        json={"business_type": "license", "area": "annex"},
        headers=bearer("kiosk-main"),
    )
    assert resp.status == 403


async def test_staff_assisted_tickets_need_the_right(client: TestClient[Any, Any]) -> None:
    ordinary = await login(client, "w1", "101")
    helper = await login(client, "w3", "104")
    resp = await client.post(
        "/api/tickets", json={"business_type": "license", "area": "main"}, headers=ordinary
    )
    assert resp.status == 403
    resp = await client.post(
        "/api/tickets", json={"business_type": "license", "area": "main"}, headers=helper
    )
    assert resp.status == 201 and (await resp.json())["ticket"]["source"] == "staff"


async def test_remote_tickets_come_from_the_cloud(client: TestClient[Any, Any]) -> None:
    await login(client, "w1", "101")
    resp = await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("cloud")
    )
    assert resp.status == 400
    resp = await client.post(
        "/api/tickets", json={"business_type": "license", "area": "main"}, headers=bearer("cloud")
    )
    assert (await resp.json())["ticket"]["source"] == "remote"


async def test_login_failures_and_card_login(client: TestClient[Any, Any]) -> None:
    wrong = await client.post("/api/windows/w1/login", json={"staff_no": "101", "password": "x"})
    assert wrong.status == 401 and await error_code(wrong) == "login_failed"
    nobody = await client.post("/api/windows/w1/login", json={"staff_no": "999", "password": "x"})
    assert nobody.status == 401
    card_without_device = await client.post("/api/windows/w1/login", json={"card_no": "C1"})
    assert card_without_device.status == 401
    card_at_other_window = await client.post(
        "/api/windows/w1/login", json={"card_no": "C1"}, headers=bearer("pad-w2")
    )
    assert card_at_other_window.status == 403
    card = await client.post(
        "/api/windows/w1/login", json={"card_no": "C1"}, headers=bearer("pad-w1")
    )
    assert card.status == 200
    session = {"Authorization": f"Bearer {(await card.json())['token']}"}
    other_window = await client.post("/api/windows/w2/pause", headers=session)
    assert other_window.status == 403


async def test_a_booking_check_in_over_http(client: TestClient[Any, Any]) -> None:
    await login(client, "w1", "101")
    bookings = {
        "bookings": [
            {
                "id": "b1",
                "code": "QR123456",
                "business_type": "license",
                "date": "2026-11-25",
                "slot_start": "09:30",
                "slot_end": "10:00",
                "phone": "13800000001",
            }
        ]
    }
    resp = await client.post("/api/bookings", json=bookings, headers=bearer("admin"))
    assert (await resp.json()) == {"loaded": 1}
    resp = await client.post(
        "/api/checkins", json={"code": "QR123456"}, headers=bearer("kiosk-main")
    )
    assert resp.status == 201 and (await resp.json())["ticket"]["kind"] == "booking"
    resp = await client.post("/api/checkins", json={}, headers=bearer("kiosk-main"))
    assert resp.status == 400


async def test_an_invalid_setup_is_refused_and_the_last_good_one_kept(
    client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    broken = small_hall(version=2).model_dump(mode="json")
    broken["windows"][0]["business_types"] = ["ghost"]
    resp = await client.put("/api/setup", json=broken, headers=bearer("admin"))
    assert resp.status == 422 and await error_code(resp) == "invalid_setup"
    resp = await client.put("/api/setup", data=b"{", headers=bearer("admin"))
    assert resp.status == 422
    assert engine.hall.setup.version == 1
    good = small_hall(version=2).model_dump(mode="json")
    resp = await client.put("/api/setup", json=good, headers=bearer("cloud"))
    assert resp.status == 200 and engine.hall.setup.version == 2


async def test_the_event_log_is_readable_after_a_sequence(client: TestClient[Any, Any]) -> None:
    await login(client, "w1", "101")
    await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )
    events = (await (await client.get("/api/events?after=0", headers=bearer("admin"))).json())[
        "events"
    ]
    assert [e["type"] for e in events][-2:] == ["window.login", "ticket.issued"]
    later = await client.get(f"/api/events?after={events[-2]['seq']}", headers=bearer("admin"))
    assert [e["type"] for e in (await later.json())["events"]] == ["ticket.issued"]


async def test_repeated_wrong_passwords_lock_the_staff_number(client: TestClient[Any, Any]) -> None:
    for _ in range(5):
        resp = await client.post("/api/windows/w1/login", json={"staff_no": "101", "password": "x"})
        assert resp.status == 401
    resp = await client.post(
        "/api/windows/w1/login", json={"staff_no": "101", "password": PASSWORD}
    )
    assert resp.status == 429 and await error_code(resp) == "login_locked"
    other = await client.post(
        "/api/windows/w2/login", json={"staff_no": "102", "password": PASSWORD}
    )
    assert other.status == 200


async def test_concurrent_requests_share_a_commit_and_each_answer_is_durable(
    client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    """Group commit: what a client was told exists for any other reader of the database."""
    import asyncio
    import sqlite3

    await login(client, "w1", "101")
    path = engine.conn.execute("PRAGMA database_list").fetchone()["file"]
    reader = sqlite3.connect(path)

    async def take(i: int) -> Any:
        body = {"business_type": "license"} if i % 5 else {"business_type": "nope"}
        resp = await client.post("/api/tickets", json=body, headers=bearer("kiosk-main"))
        answer = await resp.json()
        if resp.status == 201:
            found = reader.execute(
                "SELECT number FROM tickets WHERE id = ?", (answer["ticket"]["id"],)
            ).fetchone()
            assert found == (answer["ticket"]["number"],), "answered before it was committed"
        return resp.status, answer

    results = await asyncio.gather(*(take(i) for i in range(40)))
    statuses = [s for s, _ in results]
    assert statuses.count(201) == 32 and statuses.count(404) == 8, "a refusal undoes only itself"
    numbers = sorted(a["ticket"]["number"] for s, a in results if s == 201)
    assert numbers == [f"A{n:03d}" for n in range(1, 33)]
    issued = reader.execute("SELECT count(*) FROM events WHERE type = 'ticket.issued'").fetchone()
    assert issued == (32,)
    reader.close()


async def test_the_waiting_list_can_be_limited(client: TestClient[Any, Any]) -> None:
    staff = await login(client, "w1", "101")
    for _ in range(5):
        await client.post(
            "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
        )
    resp = await client.get("/api/windows/w1/waiting?limit=2", headers=staff)
    assert [t["number"] for t in (await resp.json())["tickets"]] == ["A001", "A002"]
    bad = await client.get("/api/windows/w1/waiting?limit=lots", headers=staff)
    assert bad.status == 400


async def test_an_administrator_registers_lists_and_removes_devices(
    client: TestClient[Any, Any],
) -> None:
    body = {"id": "pad-w1", "kind": "pad", "window": "w1", "profile": ""}
    resp = await client.post("/api/devices", json=body, headers=bearer("kiosk-main"))
    assert resp.status == 403
    for bad, code in (
        ({**body, "kind": "toaster"}, 400),
        ({**body, "window": "w9"}, 404),
        ({**body, "id": "Pad W1"}, 400),
        ({**body, "kind": "printer", "profile": "no-such-printer"}, 422),
        ({**body, "kind": "pad", "profile": "xprinter-xp-80c"}, 422),
    ):
        resp = await client.post("/api/devices", json=bad, headers=bearer("admin"))
        assert resp.status == code, await resp.text()
    resp = await client.post("/api/devices", json=body, headers=bearer("admin"))
    assert resp.status == 201
    answer = await resp.json()
    assert answer["mqtt"]["username"] == "dev-pad-w1" and len(answer["mqtt"]["password"]) >= 24
    listed = await (await client.get("/api/devices", headers=bearer("admin"))).json()
    assert [d["id"] for d in listed["devices"]] == ["pad-w1"]
    assert "password" not in json.dumps(listed)
    resp = await client.delete("/api/devices/pad-w1", headers=bearer("admin"))
    assert resp.status == 200
    resp = await client.delete("/api/devices/pad-w1", headers=bearer("admin"))
    assert resp.status == 404
