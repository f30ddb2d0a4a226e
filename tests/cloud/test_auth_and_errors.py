"""Who may call the cloud, and how it refuses: JSON errors with a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cloud.conftest import ADMIN, batch, event, register

EVENTS = "/sync/v1/events"


@pytest.fixture(params=["postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("postgresql_url")
    return url


async def error_of(response: Any) -> tuple[int, str]:
    body = await response.json()
    assert body["error"]["message"], body  # a Chinese sentence for the operator
    return response.status, body["error"]["code"]


async def test_registering_a_hall_needs_the_admin_token_and_a_free_id(cloud: Any) -> None:
    new = {"id": "hall-reg", "name": "政务服务中心"}
    assert await error_of(await cloud.post("/api/halls", json=new)) == (401, "unauthorized")
    wrong = {"Authorization": "Bearer not-the-token"}
    assert await error_of(await cloud.post("/api/halls", json=new, headers=wrong)) == (
        401, "unauthorized")  # fmt: skip
    response = await cloud.post("/api/halls", json=new, headers=ADMIN)
    body = await response.json()
    assert response.status == 201
    assert body["hall"]["id"] == "hall-reg" and body["token"] == f"hall-reg.{body['secret']}"
    assert await error_of(await cloud.post("/api/halls", json=new, headers=ADMIN)) == (
        409, "hall_exists")  # fmt: skip
    unnamed = await cloud.post("/api/halls", json={"name": "无编号大厅"}, headers=ADMIN)
    assert unnamed.status == 201 and len((await unnamed.json())["hall"]["id"]) == 26  # a ULID


async def test_a_sync_request_without_valid_credentials_is_refused(cloud: Any) -> None:
    hall, auth = await register(cloud)
    body = batch(hall, [event(1)], after=0)
    secret = auth["Authorization"].rpartition(".")[2]
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": f"Bearer {hall}"},
        {"Authorization": f"Bearer {hall}.wrong-secret"},
        {"Authorization": f"Bearer other-hall.{secret}"},
    ):
        response = await cloud.post(EVENTS, json=body, headers=headers)
        assert await error_of(response) == (401, "unauthorized"), headers
    mark = await cloud.get("/sync/v1/mark", params={"epoch": "ep1"})
    assert mark.status == 401


async def test_a_disabled_hall_is_refused_at_once_even_with_a_cached_secret(cloud: Any) -> None:
    hall, auth = await register(cloud)
    assert (await cloud.post(EVENTS, json=batch(hall, [event(1)], after=0), headers=auth)).ok
    off = await cloud.patch(f"/api/halls/{hall}", json={"disabled": True}, headers=ADMIN)
    assert (await off.json())["hall"]["disabled"] is True
    response = await cloud.post(EVENTS, json=batch(hall, [event(2)], after=1), headers=auth)
    assert await error_of(response) == (401, "unauthorized")
    await cloud.patch(f"/api/halls/{hall}", json={"disabled": False}, headers=ADMIN)
    assert (await cloud.post(EVENTS, json=batch(hall, [event(2)], after=1), headers=auth)).ok


async def test_a_hall_cannot_write_another_halls_batch(cloud: Any) -> None:
    _, auth_a = await register(cloud)
    hall_b, _ = await register(cloud)
    response = await cloud.post(EVENTS, json=batch(hall_b, [event(1)], after=0), headers=auth_a)
    assert await error_of(response) == (403, "forbidden")
    sync = await (await cloud.get(f"/api/halls/{hall_b}/sync", headers=ADMIN)).json()
    assert sync["epochs"] == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[]",
        b'"text"',
        b'{"v": 1}',
        b'{"v": 2, "hall": "HALL", "epoch": "e", "epoch_start": 0, "after": 0, "sent_at": 1,'
        b' "events": [{"seq": 1, "id": "a", "type": "ticket.issued", "at": 1}]}',
        b'{"v": 1, "hall": "HALL", "epoch": "e", "epoch_start": 0, "after": 0, "sent_at": 1,'
        b' "events": []}',
        b'{"v": 1, "hall": "HALL", "epoch": "e", "epoch_start": 0, "after": 0, "sent_at": 1,'
        b' "events": [{"seq": 2, "id": "a", "type": "x", "at": 1},'
        b' {"seq": 1, "id": "b", "type": "x", "at": 1}]}',
        b'{"v": 1, "hall": "HALL", "epoch": "e", "epoch_start": 5, "after": 0, "sent_at": 1,'
        b' "events": [{"seq": 6, "id": "a", "type": "x", "at": 1}]}',
        b'{"v": 1, "hall": "HALL", "epoch": "e", "epoch_start": 0, "after": 0, "sent_at": 1,'
        b' "events": [{"seq": 1, "id": "a", "type": "x", "at": "noon"}]}',
        b'{"v": 1, "hall": "HALL", "epoch": "e", "epoch_start": 0, "after": 0, "sent_at": 1,'
        b' "events": [{"seq": 1, "id": "a", "type": "x", "at": 1, "payload": [1]}]}',
        b'{"v": 1, "hall": "HALL", "epoch": "e", "epoch_start": 0, "after": 0, "sent_at": 1,'
        b' "extra": true, "events": [{"seq": 1, "id": "a", "type": "x", "at": 1}]}',
        b'{"v": 1, "hall": "HALL", "epoch": "e", "epoch_start": 0, "after": 0, "sent_at": 1,'
        b' "events": [{"seq": 99999999999999999999, "id": "a", "type": "x", "at": 1}]}',
        "\xff\xfe".encode("latin-1"),
    ],
)
async def test_a_malformed_batch_is_refused_as_invalid(cloud: Any, body: bytes) -> None:
    hall, auth = await register(cloud)
    response = await cloud.post(
        EVENTS, data=body.replace(b"HALL", hall.encode()),
        headers={**auth, "Content-Type": "application/json"},
    )  # fmt: skip
    assert await error_of(response) == (400, "invalid_request")


async def test_odd_requests_get_json_errors(cloud: Any) -> None:
    _, auth = await register(cloud)
    assert await error_of(await cloud.get("/sync/v1/mark", headers=auth)) == (
        400, "invalid_request")  # fmt: skip
    assert await error_of(await cloud.get("/sync/v1/nothing", headers=auth)) == (
        404, "not_found")  # fmt: skip
    assert await error_of(await cloud.get(EVENTS, headers=auth)) == (405, "method_not_allowed")
    huge = b"x" * (17 * 1024 * 1024)
    assert await error_of(await cloud.post(EVENTS, data=huge, headers=auth)) == (
        413, "too_large")  # fmt: skip
    bad = await cloud.patch("/api/halls/nowhere", json={"disabled": True}, headers=ADMIN)
    assert await error_of(bad) == (404, "unknown_hall")
