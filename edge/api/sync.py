"""The edge API's view of sync with the cloud: how far behind, since when, and why."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.api.common import Operation, engine_of, require
from edge.cloudsync import CloudSync, sync_state

__all__ = ["CLOUD_SYNC", "SYNC_OPERATIONS"]

CLOUD_SYNC = web.AppKey("cloud_sync", CloudSync)


async def sync_status(request: web.Request) -> Any:
    require(request, "admin", "cloud")
    calling = request.app.get(CLOUD_SYNC)
    if calling is not None:
        return {"enabled": True, **calling.status()}
    state = sync_state(engine_of(request))
    return {"enabled": False, "epoch": state.epoch, "mark": state.mark}


SYNC_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET", "/api/sync", "syncStatus",
        "Sync with the cloud: epoch, mark, lag in events and seconds, last success and error",
        sync_status,
    ),
)  # fmt: skip
