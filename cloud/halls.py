"""The halls the cloud knows: registration (alone, or with the site unit it belongs to),
renaming, disabling, and where each one's sync stands.

A hall is never deleted: its tickets, evaluations and bookings stay its history. Disabling it
is what stops it: its edge's sync is refused from then on (`cloud.auth`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from ulid import ULID

from cloud.audit import SYSTEM, Origin, record
from cloud.auth import hash_secret, new_secret
from cloud.db import events, hall_epochs, hall_setups, halls, quarantine
from cloud.errors import ApiError, register_errors
from cloud.hallconfig.settings import write_settings
from cloud.hallconfig.tables import hall_settings
from cloud.identity.org import create_unit
from cloud.identity.org_service import unit_json
from cloud.identity.principal import hall_unit
from cloud.identity.tables import org_units
from sync.protocol import hall_credentials

__all__ = [
    "NAME_LENGTH",
    "SitePlace",
    "SyncSummary",
    "register_hall",
    "register_hall_at_site",
    "rename_hall",
    "set_disabled",
    "sync_status",
    "sync_summaries",
]

NAME_LENGTH = 200  # halls.name

register_errors(
    {
        "unknown_site": (422, "所选网点不存在"),
        "site_has_hall": (409, "该网点已关联了大厅"),
        "site_parent_kind": (422, "新网点只能建在区域或部门之下"),
    }
)


@dataclass(frozen=True)
class SitePlace:
    """The site unit (网点) a new hall belongs to: an existing site without a hall (`site_id`),
    or a new site named `site_name` under the region or department `parent_id`."""

    site_id: str | None = None
    site_name: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class SyncSummary:
    """Where a hall's sync stands, for lists: its last heartbeat, the last time any batch or
    heartbeat came (cloud clock), its synced-through mark (hall clock), the newest setup
    version stored for it and how many of its events wait in quarantine."""

    last_heartbeat: int | None
    last_contact: int | None
    synced_through: int | None
    newest_version: int | None
    quarantined: int


async def register_hall(
    engine: AsyncEngine, hall_id: str | None, name: str, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    """A new hall with its credentials; the secret is answered here once and kept only hashed
    (the audit row has neither)."""
    hall_id = hall_id or str(ULID())
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    async with engine.begin() as conn:
        view = await _insert_hall(conn, hall_id, name, secret_hash, now_ms, origin)
    return _issued(view, secret)


async def register_hall_at_site(
    engine: AsyncEngine,
    hall_id: str,
    name: str,
    place: SitePlace,
    now_ms: int,
    origin: Origin = SYSTEM,
) -> dict[str, Any]:
    """A new hall and the site unit it belongs to, in one transaction: an existing site
    without a hall is linked to it (422 `unknown_site` when there is no such site, 409
    `site_has_hall` when it has one), or a new site is made under a region or department
    (422 `unknown_org_unit`, `site_parent_kind`). Answers as `register_hall`, with the site's
    id under `site`. The caller has checked the right to make halls (scope `all`)."""
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    async with engine.begin() as conn:
        view = await _insert_hall(conn, hall_id, name, secret_hash, now_ms, origin)
        if place.site_id is not None:
            site = await _link_site(conn, place.site_id, hall_id, now_ms, origin)
        else:
            site = await _new_site(conn, place, hall_id, now_ms, origin)
    return _issued(view, secret) | {"site": site}


async def replace_secret(
    engine: AsyncEngine, hall_id: str, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    """A new secret for the hall (one lost, or one that may have leaked), answered here once
    as `register_hall` answers; from the commit on, the old one is refused (the workers'
    caches of verified secrets hold the hash they verified against, which no longer matches).
    404 `unknown_hall`."""
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    async with engine.begin() as conn:
        row = (
            await conn.execute(sa.select(halls).where(halls.c.id == hall_id).with_for_update())
        ).first()
        if row is None:
            raise ApiError("unknown_hall", hall_id)
        await conn.execute(
            halls.update().where(halls.c.id == hall_id).values(secret_hash=secret_hash)
        )
        # the log says that the credentials changed, never what they are
        await record(conn, origin, action="update", resource="hall", resource_id=hall_id,
                     hall=hall_id, old={"credentials_replaced_at": None},
                     new={"credentials_replaced_at": now_ms}, now_ms=now_ms)  # fmt: skip
    return _issued(_hall_view(row), secret)


async def rename_hall(
    engine: AsyncEngine, hall_id: str, name: str, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    """Rename the hall; when its configuration is authored, the name there too (the edge gets
    it with the next published version). 404 `unknown_hall`."""
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise ApiError("invalid_request", f"大厅名称应为 1 到 {NAME_LENGTH} 个字符")
    async with engine.begin() as conn:
        row = await _change_hall(conn, hall_id, {"name": name}, now_ms, origin)
        authored = await conn.scalar(
            sa.select(hall_settings.c.name).where(hall_settings.c.hall == hall_id)
        )
        if authored is not None and authored != name:
            await write_settings(conn, hall_id, {"name": name}, replace=False,
                                 department=await hall_unit(conn, hall_id), origin=origin,
                                 now_ms=now_ms)  # fmt: skip
    return {"hall": _hall_view(row)}


async def set_disabled(
    engine: AsyncEngine, hall_id: str, disabled: bool, now_ms: int, origin: Origin = SYSTEM
) -> dict[str, Any]:
    async with engine.begin() as conn:
        row = await _change_hall(conn, hall_id, {"disabled": disabled}, now_ms, origin)
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


async def sync_summaries(conn: AsyncConnection, hall_ids: Iterable[str]) -> dict[str, SyncSummary]:
    """The sync summary of each of the halls, in four queries whatever their number."""
    wanted = list(hall_ids)
    if not wanted:
        return {}
    rows = await conn.execute(
        sa.select(halls.c.id, halls.c.heartbeat_at, halls.c.synced_through_ms).where(
            halls.c.id.in_(wanted)
        )
    )
    own = {r.id: (r.heartbeat_at, r.synced_through_ms) for r in rows}
    seen = await _per_hall(
        conn, sa.select(hall_epochs.c.hall, sa.func.max(hall_epochs.c.last_seen)), wanted
    )
    versions = await _per_hall(
        conn, sa.select(hall_setups.c.hall, sa.func.max(hall_setups.c.version)), wanted
    )
    held = await _per_hall(conn, sa.select(quarantine.c.hall, sa.func.count()), wanted)
    found: dict[str, SyncSummary] = {}
    for hall_id, (heartbeat, through) in own.items():
        contacts = [t for t in (heartbeat, seen.get(hall_id)) if t is not None]
        found[hall_id] = SyncSummary(
            last_heartbeat=heartbeat,
            last_contact=max(contacts) if contacts else None,
            synced_through=through,
            newest_version=versions.get(hall_id),
            quarantined=int(held.get(hall_id, 0)),
        )
    return found


# ---------------------------------------------------------------------------- helpers


async def _per_hall(
    conn: AsyncConnection, statement: sa.Select[tuple[str, Any]], wanted: list[str]
) -> dict[str, int]:
    """An aggregate by hall (`statement` selects the hall column and the aggregate)."""
    hall_column = statement.selected_columns[0]
    rows = await conn.execute(statement.where(hall_column.in_(wanted)).group_by(hall_column))
    return {str(hall): int(value) for hall, value in rows if value is not None}


async def _insert_hall(
    conn: AsyncConnection, hall_id: str, name: str, secret_hash: str, now_ms: int, origin: Origin
) -> dict[str, Any]:
    """The hall's row and its audit row (without the secret's hash); 409 `hall_exists`."""
    view = {"id": hall_id, "name": name, "created_at": now_ms, "disabled": False}
    try:
        async with conn.begin_nested():
            await conn.execute(
                sa.insert(halls).values(
                    id=hall_id, name=name, secret_hash=secret_hash, created_at=now_ms
                )
            )
    except IntegrityError as exc:
        raise ApiError("hall_exists", hall_id) from exc
    await record(conn, origin, action="create", resource="hall", resource_id=hall_id,
                 hall=hall_id, new=view, now_ms=now_ms)  # fmt: skip
    return view


async def _change_hall(
    conn: AsyncConnection, hall_id: str, values: dict[str, Any], now_ms: int, origin: Origin
) -> sa.Row[Any]:
    """Change the hall's row under its lock, with the audit row; the row after. 404
    `unknown_hall`."""
    before = (
        await conn.execute(sa.select(halls).where(halls.c.id == hall_id).with_for_update())
    ).first()
    if before is None:
        raise ApiError("unknown_hall", hall_id)
    await conn.execute(sa.update(halls).where(halls.c.id == hall_id).values(**values))
    row = (await conn.execute(sa.select(halls).where(halls.c.id == hall_id))).one()
    await record(conn, origin, action="update", resource="hall", resource_id=hall_id,
                 hall=hall_id, old=_hall_view(before), new=_hall_view(row),
                 now_ms=now_ms)  # fmt: skip
    return row


def _issued(view: dict[str, Any], secret: str) -> dict[str, Any]:
    return {"hall": view, "secret": secret, "token": hall_credentials(view["id"], secret)}


async def _link_site(
    conn: AsyncConnection, site_id: str, hall_id: str, now_ms: int, origin: Origin
) -> str:
    before = (
        await conn.execute(sa.select(org_units).where(org_units.c.id == site_id).with_for_update())
    ).first()
    if before is None or before.kind != "site":
        raise ApiError("unknown_site", site_id)
    if before.hall is not None:
        raise ApiError("site_has_hall", before.name)
    await conn.execute(org_units.update().where(org_units.c.id == site_id).values(hall=hall_id))
    after = (await conn.execute(sa.select(org_units).where(org_units.c.id == site_id))).one()
    await record(conn, origin, action="update", resource="org_unit", resource_id=site_id,
                 hall=hall_id, old=unit_json(before), new=unit_json(after),
                 now_ms=now_ms)  # fmt: skip
    return site_id


async def _new_site(
    conn: AsyncConnection, place: SitePlace, hall_id: str, now_ms: int, origin: Origin
) -> str:
    name = (place.site_name or "").strip()
    if not name or place.parent_id is None:
        raise ApiError("invalid_request", "请填写新网点的名称并选择其上级")
    kind = await conn.scalar(sa.select(org_units.c.kind).where(org_units.c.id == place.parent_id))
    if kind is None:
        raise ApiError("unknown_org_unit", place.parent_id)
    if kind not in ("region", "department"):
        raise ApiError("site_parent_kind", place.parent_id)
    site_id = await create_unit(conn, kind="site", name=name, parent_id=place.parent_id,
                                now_ms=now_ms, hall=hall_id)  # fmt: skip
    row = (await conn.execute(sa.select(org_units).where(org_units.c.id == site_id))).one()
    await record(conn, origin, action="create", resource="org_unit", resource_id=site_id,
                 hall=hall_id, new=unit_json(row), now_ms=now_ms)  # fmt: skip
    return site_id


def _hall_view(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "disabled": bool(row.disabled),
    }
