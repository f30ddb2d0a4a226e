"""The halls' configuration versions: stored as the admin authors them, pulled by the edges."""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.db import hall_setups, halls
from cloud.errors import ApiError
from sync.hallsetup import HallSetup

__all__ = ["newest_setup", "parse_setup", "store_setup"]

log = logging.getLogger(__name__)

_SHOWN_PROBLEMS = 20


def parse_setup(hall: str, raw: bytes) -> HallSetup:
    """The request body as a HallSetup of `hall`; else 422 `invalid_setup` listing why."""
    try:
        setup = HallSetup.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors()[:_SHOWN_PROBLEMS]
        ]
        detail = "；".join(f"{p['where']}: {p['problem']}" if p["where"] else p["problem"]
                          for p in problems[:3])  # fmt: skip
        raise ApiError("invalid_setup", detail, problems=problems) from None
    if setup.hall.id != hall:
        detail = f"配置属于大厅 {setup.hall.id}，不是 {hall}"
        raise ApiError("invalid_setup", detail, problems=[{"where": "hall.id", "problem": detail}])
    return setup


async def store_setup(engine: AsyncEngine, hall: str, raw: bytes, now_ms: int) -> dict[str, Any]:
    """Store the version in `raw`: 404 for an unknown hall, 422 for a setup that is not valid
    (`parse_setup`), 409 unless it is newer than the newest stored."""
    async with engine.begin() as conn:
        await lock_hall(conn, hall)
        setup = parse_setup(hall, raw)
        newest = await conn.scalar(
            sa.select(sa.func.max(hall_setups.c.version)).where(hall_setups.c.hall == hall)
        )
        if newest is not None and setup.version <= newest:
            raise ApiError("stale_setup", f"云端最新版本为 {newest}，提交的是 {setup.version}",
                           newest=int(newest))  # fmt: skip
        await conn.execute(
            sa.insert(hall_setups).values(
                hall=hall,
                version=setup.version,
                body=json.loads(setup.model_dump_json()),
                created_at=now_ms,
            )
        )
    log.info("hall %s: configuration version %s stored", hall, setup.version)
    return {"hall": hall, "version": setup.version, "created_at": now_ms}


async def newest_setup(
    conn: AsyncConnection, hall: str, after: int = 0
) -> tuple[int, dict[str, Any]] | None:
    """(version, body) of the hall's newest version when it is newer than `after`."""
    row = (
        await conn.execute(
            sa.select(hall_setups.c.version, hall_setups.c.body)
            .where(hall_setups.c.hall == hall, hall_setups.c.version > after)
            .order_by(hall_setups.c.version.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (int(row.version), dict(row.body))


async def lock_hall(conn: AsyncConnection, hall: str) -> None:
    """Hold the hall's row until the commit (FOR NO KEY UPDATE); 404 when there is none."""
    found = await conn.scalar(
        sa.select(halls.c.id).where(halls.c.id == hall).with_for_update(key_share=True)
    )
    if found is None:
        raise ApiError("unknown_hall", hall)
