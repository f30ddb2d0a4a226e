"""The edge API's view of sync with the cloud: how far behind, since when, and why."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.api.common import Operation, engine_of, require
from edge.cloudconfig import ConfigPull, pull_state
from edge.cloudsync import CloudSync, sync_state

__all__ = ["CLOUD_SYNC", "CONFIG_PULL", "SYNC_OPERATIONS"]

CLOUD_SYNC = web.AppKey("cloud_sync", CloudSync)
CONFIG_PULL = web.AppKey("config_pull", ConfigPull)


async def sync_status(request: web.Request) -> Any:
    require(request, "admin", "cloud")
    calling = request.app.get(CLOUD_SYNC)
    pulling = request.app.get(CONFIG_PULL)
    pulled = pulling.status() if pulling is not None else pull_state(engine_of(request))
    if calling is not None:
        return {"enabled": True, **calling.status(), **pulled}
    state = sync_state(engine_of(request))
    return {"enabled": False, "epoch": state.epoch, "mark": state.mark, **pulled}


SYNC_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET", "/api/sync", "syncStatus",
        "Sync with the cloud: epoch, mark, lag in events and seconds, last success and error; "
        "the configuration version served and why a newer one was refused, the bookings "
        "cursor and the last pull",
        sync_status,
    ),
)  # fmt: skip
