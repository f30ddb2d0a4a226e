"""The edge API's device operations: register (the MQTT password shown once), list, remove."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from edge.api.common import BUS, CATALOGUE, REGISTRY, Operation, body_of, engine_of, require
from edge.queue import QueueError

__all__ = ["DEVICE_OPERATIONS", "RegisterDeviceRequest"]


class RegisterDeviceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=48)
    kind: Literal[
        "kiosk", "printer", "window_display", "central_display", "pad", "voice_player",
        "scanner", "card_reader", "pc_agent",
    ]  # fmt: skip
    profile: str = Field("", max_length=64, description="firmware profile id")
    area: str = Field("", max_length=64)
    window: str = Field("", max_length=64)
    attached_to: str = Field(
        "", max_length=64, description="the kiosk (API client id) a printer or scanner serves"
    )
    connection: str = Field(
        "",
        max_length=200,
        description="for a device the edge drives itself: serial port or host:port",
    )


# which folder of firmware-profiles/ a kind's profile comes from
_PROFILE_KINDS = {
    "printer": "printers",
    "window_display": "leds",
    "central_display": "leds",
    "scanner": "scanners",
    "card_reader": "card-readers",
}


async def register_device(request: web.Request) -> Any:
    require(request, "admin")
    body = await body_of(request, RegisterDeviceRequest)
    engine = engine_of(request)
    hall = engine.hall
    if body.area and body.area not in hall.areas:
        raise QueueError("unknown_area")
    if body.window and body.window not in hall.windows:
        raise QueueError("unknown_window")
    folder = _PROFILE_KINDS.get(body.kind)
    if body.profile and (folder is None or body.profile not in request.app[CATALOGUE].kind(folder)):
        raise QueueError("unknown_profile", f"{body.kind}: no firmware profile {body.profile!r}")
    registry = request.app[REGISTRY]
    device, password = registry.register(
        engine.clock.now_ms(),
        device_id=body.id,
        kind=body.kind,
        profile=body.profile,
        area=body.area,
        window=body.window,
        attached_to=body.attached_to,
        connection=body.connection,
    )
    answer = {
        "device": _view(request, device.id),
        "mqtt": {"username": device.mqtt_user, "password": password, "prefix": registry.prefix},
    }
    return web.json_response(answer, status=201)


async def list_devices(request: web.Request) -> Any:
    require(request, "admin")
    registry = request.app[REGISTRY]
    return {"devices": [_view(request, d.id) for d in registry.devices()]}


async def remove_device(request: web.Request) -> Any:
    require(request, "admin")
    engine = engine_of(request)
    request.app[REGISTRY].remove(engine.clock.now_ms(), request.match_info["device"])
    return {"removed": request.match_info["device"]}


def _view(request: web.Request, device_id: str) -> dict[str, Any]:
    device = next(d for d in request.app[REGISTRY].devices() if d.id == device_id)
    bus = request.app.get(BUS)
    return {
        "id": device.id,
        "kind": device.kind,
        "profile": device.profile,
        "area": device.area,
        "window": device.window,
        "mqtt_user": device.mqtt_user,
        "attached_to": device.attached_to,
        "connection": device.connection,
        "online": bool(bus and bus.online.get(device.id)),
        "last_seen": bus.last_seen.get(device.id) if bus else None,
    }


DEVICE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST", "/api/devices", "registerDevice",
        "Register a device; the answer carries its MQTT password, shown this once",
        register_device, RegisterDeviceRequest,
    ),
    Operation("GET", "/api/devices", "listDevices", "Devices with presence", list_devices),
    Operation(
        "DELETE", "/api/devices/{device}", "removeDevice", "Remove a device and its credentials",
        remove_device,
    ),
)  # fmt: skip
