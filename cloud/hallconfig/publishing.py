"""Previewing and publishing a hall's authored configuration: what a publish would store now
and what it changes against the newest stored version, and storing it as the next version the
edge pulls."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.audit import Origin
from cloud.errors import ApiError
from cloud.hallconfig.compiler import changes, compile_setup, shown
from cloud.setups import newest_setup, store_setup

__all__ = ["preview_setup", "publish_setup"]


async def preview_setup(conn: AsyncConnection, hall: str) -> dict[str, Any]:
    """`valid` with the compiled setup as the admin may see it (`setup`) and its `changes`;
    or `valid` false with the contract's refusal (`error`: code and message)."""
    newest = await newest_setup(conn, hall)
    try:
        setup = await compile_setup(conn, hall)
    except ApiError as exc:
        if exc.code != "invalid_setup":
            raise
        return {"valid": False, **exc.body()}
    return {"valid": True, "setup": shown(setup), "changes": changes(setup, newest)}


async def publish_setup(
    engine: AsyncEngine, hall: str, *, origin: Origin, now_ms: int
) -> dict[str, Any]:
    """Store the compiled setup as the hall's next version (422 `invalid_setup` when the
    contract refuses it): the stored version's hall, number and time, and its changes."""
    async with engine.connect() as conn:
        newest = await newest_setup(conn, hall)
        setup = await compile_setup(conn, hall)
    raw = setup.model_dump_json().encode()
    answer = await store_setup(engine, hall, raw, now_ms, origin)
    return {**answer, "changes": changes(setup, newest)}
