"""The halls' sync API (sync/protocol.py) on PostgreSQL and on the embedded SQLite: each event
stored once, gaps refused with the cloud's mark, poison quarantined, every refusal a 4xx."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cloud.app import ENGINE
from cloud.db import events, quarantine
from tests.cloud.conftest import ADMIN, batch, event, register

EVENTS = "/sync/v1/events"


async def stored(cloud: Any, hall: str) -> list[tuple[str, int, str]]:
    """(epoch, seq, id) of every event the cloud holds for the hall."""
    async with cloud.server.app[ENGINE].connect() as conn:
        rows = await conn.execute(
            sa.select(events.c.epoch, events.c.seq, events.c.id)
            .where(events.c.hall == hall)
            .order_by(events.c.epoch, events.c.seq)
        )
        return [tuple(r) for r in rows]


async def post(cloud: Any, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
    response = await cloud.post(EVENTS, json=body, headers=headers)
    return response.status, await response.json()


async def test_a_batch_is_stored_once_and_its_replay_changes_nothing(cloud: Any) -> None:
    hall, auth = await register(cloud)
    sent = [event(s) for s in (1, 2, 3)]
    status, ack = await post(cloud, auth, batch(hall, sent, after=0))
    assert status == 200, ack
    assert ack == {"v": 1, "epoch": "ep1", "mark": 3, "stored": 3, "duplicates": 0,
                   "quarantined": []}  # fmt: skip
    status, again = await post(cloud, auth, batch(hall, sent, after=0))
    assert status == 200
    assert (again["mark"], again["stored"], again["duplicates"]) == (3, 0, 3)
    assert await stored(cloud, hall) == [("ep1", e["seq"], e["id"]) for e in sent]
    mark = await cloud.get("/sync/v1/mark", params={"epoch": "ep1"}, headers=auth)
    assert await mark.json() == {"v": 1, "epoch": "ep1", "mark": 3, "known": True}


async def test_an_unknown_epoch_has_mark_zero(cloud: Any) -> None:
    _, auth = await register(cloud)
    mark = await cloud.get("/sync/v1/mark", params={"epoch": "never"}, headers=auth)
    assert await mark.json() == {"v": 1, "epoch": "never", "mark": 0, "known": False}


async def test_a_batch_beyond_the_mark_is_refused_with_the_mark(cloud: Any) -> None:
    hall, auth = await register(cloud)
    await post(cloud, auth, batch(hall, [event(1), event(2)], after=0))
    status, body = await post(cloud, auth, batch(hall, [event(6), event(7)], after=5))
    assert status == 409
    assert body["error"]["code"] == "sync_gap"
    assert (body["epoch"], body["mark"], body["stored"]) == ("ep1", 2, 0)
    assert [seq for _, seq, _ in await stored(cloud, hall)] == [1, 2]


async def test_an_overlapping_replay_applies_only_the_new_events(cloud: Any) -> None:
    hall, auth = await register(cloud)
    first = [event(s) for s in (1, 2, 3, 4)]
    await post(cloud, auth, batch(hall, first, after=0))
    overlap = [*first[2:], event(5), event(7)]  # the edge's log has no 6
    status, ack = await post(cloud, auth, batch(hall, overlap, after=2))
    assert status == 200
    assert (ack["mark"], ack["stored"], ack["duplicates"]) == (7, 2, 2)
    assert [seq for _, seq, _ in await stored(cloud, hall)] == [1, 2, 3, 4, 5, 7]


async def test_an_event_replayed_under_a_new_epoch_is_not_doubled(cloud: Any) -> None:
    hall, auth = await register(cloud)
    sent = [event(s) for s in (1, 2, 3)]
    await post(cloud, auth, batch(hall, sent, after=0))
    # a restored edge starts epoch 2 after its last sequence but sends event 3 again
    replay = [{**sent[2], "seq": 4}, event(5)]
    status, ack = await post(cloud, auth, batch(hall, replay, after=3, epoch="ep2", epoch_start=3))
    assert status == 200, ack
    assert (ack["epoch"], ack["mark"], ack["stored"], ack["duplicates"]) == ("ep2", 5, 1, 1)
    assert [(ep, seq) for ep, seq, _ in await stored(cloud, hall)] == [
        ("ep1", 1), ("ep1", 2), ("ep1", 3), ("ep2", 5)]  # fmt: skip


async def test_a_new_epoch_after_a_restore_starts_at_its_start(cloud: Any) -> None:
    hall, auth = await register(cloud)
    status, body = await post(
        cloud, auth, batch(hall, [event(52)], after=51, epoch="ep9", epoch_start=50)
    )
    assert status == 409 and body["mark"] == 50  # 51 was never sent: a gap
    status, ack = await post(
        cloud, auth, batch(hall, [event(51), event(52)], after=50, epoch="ep9", epoch_start=50)
    )
    assert status == 200 and ack["mark"] == 52
    mark = await cloud.get("/sync/v1/mark", params={"epoch": "ep9"}, headers=auth)
    assert (await mark.json())["mark"] == 52
    status, body = await post(
        cloud, auth, batch(hall, [event(53)], after=52, epoch="ep9", epoch_start=10)
    )
    assert status == 422 and body["error"]["code"] == "epoch_conflict" and body["mark"] == 52


async def test_a_poison_event_is_quarantined_and_the_events_behind_it_stored(cloud: Any) -> None:
    hall, auth = await register(cloud)
    sent = [event(1), event(2, "ticket.teleported"), event(3, "ticket.evaluated",
            ticket={"id": "t1"}, level="superb"), event(4)]  # fmt: skip
    status, ack = await post(cloud, auth, batch(hall, sent, after=0))
    assert status == 200
    assert (ack["mark"], ack["stored"]) == (4, 2)
    assert [(q["seq"], q["id"]) for q in ack["quarantined"]] == [(2, sent[1]["id"]),
                                                                 (3, sent[2]["id"])]  # fmt: skip
    assert "ticket.teleported" in ack["quarantined"][0]["reason"]
    assert [seq for _, seq, _ in await stored(cloud, hall)] == [1, 4]
    async with cloud.server.app[ENGINE].connect() as conn:
        held = (await conn.execute(sa.select(quarantine.c.seq, quarantine.c.type))).all()
    assert sorted(tuple(r) for r in held if r.seq in (2, 3)) == [
        (2, "ticket.teleported"), (3, "ticket.evaluated")]  # fmt: skip
    status, again = await post(cloud, auth, batch(hall, sent, after=0))
    assert (again["stored"], again["duplicates"], again["quarantined"]) == (0, 4, [])
    sync = await (await cloud.get(f"/api/halls/{hall}/sync", headers=ADMIN)).json()
    assert sync["quarantine"]["count"] == 2
    assert sync["epochs"][0]["mark"] == 4 and sync["epochs"][0]["stored"] == 2


async def test_the_sync_status_shows_mark_offset_and_lag(cloud: Any) -> None:
    hall, auth = await register(cloud)
    await post(cloud, auth, batch(hall, [event(1), event(2)], after=0))
    response = await cloud.get(f"/api/halls/{hall}/sync", headers=ADMIN)
    assert response.status == 200
    (epoch,) = (await response.json())["epochs"]
    assert (epoch["epoch"], epoch["mark"], epoch["stored"]) == ("ep1", 2, 2)
    assert epoch["last_batch_at"] is not None
    assert epoch["clock_offset_ms"] > 0  # the batch's hall clock is in the past
    assert epoch["newest_event_age_seconds"] is not None
    assert (await cloud.get(f"/api/halls/{hall}/sync")).status == 401
    assert (await cloud.get("/api/halls/nowhere/sync", headers=ADMIN)).status == 404


async def test_a_payload_postgresql_cannot_hold_is_quarantined_not_a_failure(cloud: Any) -> None:
    hall, auth = await register(cloud)
    nul = event(2, "window.paused", window={"id": "w\u0000"})
    backslash = event(3, "window.paused", window={"id": "w\\u0000"})  # only looks like one
    status, ack = await post(cloud, auth, batch(hall, [event(1), nul, backslash], after=0))
    assert status == 200, ack
    assert [q["seq"] for q in ack["quarantined"]] == [2]
    assert [seq for _, seq, _ in await stored(cloud, hall)] == [1, 3]
