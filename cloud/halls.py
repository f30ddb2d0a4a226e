"""The halls the cloud knows: registration, disabling, and where each one's sync stands."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from cloud.audit import SYSTEM, Origin, record
from cloud.auth import hash_secret, new_secret
from cloud.db import events, hall_epochs, halls, quarantine
from cloud.errors import ApiError
from sync.protocol import hall_credentials

__all__ = ["register_hall", "set_disabled", "sync_status"]


async def register_hall(
    engine: AsyncEngine, hall_id: str | None, name: str, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    """A new hall with its credentials; the secret is answered here once and kept only hashed
    (the audit row has neither)."""
    hall_id = hall_id or str(ULID())
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    view = {"id": hall_id, "name": name, "created_at": now_ms, "disabled": False}
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(halls).values(
                    id=hall_id, name=name, secret_hash=secret_hash, created_at=now_ms
                )
            )
            await record(conn, origin, action="create", resource="hall", resource_id=hall_id,
                         hall=hall_id, new=view, now_ms=now_ms)  # fmt: skip
    except IntegrityError as exc:
        raise ApiError("hall_exists", hall_id) from exc
    return {
        "hall": view,
        "secret": secret,
        "token": hall_credentials(hall_id, secret),
    }


async def set_disabled(
    engine: AsyncEngine, hall_id: str, disabled: bool, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    async with engine.begin() as conn:
        before = (
            await conn.execute(sa.select(halls).where(halls.c.id == hall_id).with_for_update())
        ).first()
        if before is None:
            raise ApiError("unknown_hall", hall_id)
        await conn.execute(sa.update(halls).where(halls.c.id == hall_id).values(disabled=disabled))
        row = (await conn.execute(sa.select(halls).where(halls.c.id == hall_id))).one()
        await record(conn, origin, action="update", resource="hall", resource_id=hall_id,
                     hall=hall_id, old=_hall_view(before), new=_hall_view(row),
                     now_ms=now_ms)  # fmt: skip
    return {"hall": _hall_view(row)}


async def sync_status(engine: AsyncEngine, hall_id: str, now_ms: int) -> dict[str, Any]:
    """Per epoch: its mark, when the hall was last heard from, how far behind its newest
    stored event is (in cloud time), its clock offset; the hall's synced-through mark (the
    hall's clock up to which the cloud holds everything, which no-shows wait for); and the
    quarantined events."""
    async with engine.connect() as conn:
        hall = (await conn.execute(sa.select(halls).where(halls.c.id == hall_id))).first()
        if hall is None:
            raise ApiError("unknown_hall", hall_id)
        epochs = (
            await conn.execute(
                sa.select(hall_epochs)
                .where(hall_epochs.c.hall == hall_id)
                .order_by(hall_epochs.c.first_seen)
            )
        ).all()
        counted = await conn.execute(
            sa.select(events.c.epoch, sa.func.count())
            .where(events.c.hall == hall_id)
            .group_by(events.c.epoch)
        )
        stored = {epoch: int(n) for epoch, n in counted}
        at_mark = await conn.execute(
            sa.select(events.c.epoch, events.c.at + events.c.offset_ms)
            .join(
                hall_epochs,
                sa.and_(
                    hall_epochs.c.hall == events.c.hall,
                    hall_epochs.c.epoch == events.c.epoch,
                    hall_epochs.c.mark == events.c.seq,
                ),
            )
            .where(events.c.hall == hall_id)
        )
        newest = {epoch: int(at) for epoch, at in at_mark}
        held = (
            await conn.execute(
                sa.select(quarantine)
                .where(quarantine.c.hall == hall_id)
                .order_by(quarantine.c.received_at, quarantine.c.seq)
                .limit(100)
            )
        ).all()
        held_count = await conn.scalar(
            sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.hall == hall_id)
        )
    return {
        "hall": _hall_view(hall),
        "synced_through": hall.synced_through_ms,
        "last_heartbeat": hall.heartbeat_at,
        "epochs": [
            {
                "epoch": e.epoch,
                "epoch_start": e.epoch_start,
                "mark": e.mark,
                "stored": stored.get(e.epoch, 0),
                "first_seen": e.first_seen,
                "last_seen": e.last_seen,
                "last_batch_at": e.last_batch_at,
                "clock_offset_ms": e.clock_offset_ms,
                "seconds_since_last_seen": round((now_ms - e.last_seen) / 1000, 3),
                "newest_event_age_seconds": (
                    round((now_ms - newest[e.epoch]) / 1000, 3) if e.epoch in newest else None
                ),
            }
            for e in epochs
        ],
        "quarantine": {
            "count": held_count or 0,
            "events": [
                {
                    "epoch": q.epoch,
                    "seq": q.seq,
                    "id": q.id,
                    "type": q.type,
                    "reason": q.reason,
                    "at": q.at,
                    "received_at": q.received_at,
                }
                for q in held
            ],
        },
    }


def _hall_view(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "disabled": bool(row.disabled),
    }
