"""What every group of edge API operations shares: the operation record, app keys, helpers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from edge.api.auth import Authenticator, LoginGuard, Principal
from edge.devices.bus import DeviceBus
from edge.devices.profiles import Catalogue
from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine, QueueError

__all__ = [
    "AUTH",
    "BUS",
    "CATALOGUE",
    "ENGINE",
    "GUARD",
    "REGISTRY",
    "Handler",
    "Operation",
    "body_of",
    "engine_of",
    "idempotency_key",
    "require",
]

ENGINE = web.AppKey("engine", QueueEngine)
AUTH = web.AppKey("auth", Authenticator)
GUARD = web.AppKey("login_guard", LoginGuard)
REGISTRY = web.AppKey("registry", DeviceRegistry)
CATALOGUE = web.AppKey("catalogue", Catalogue)
BUS = web.AppKey("device_bus", DeviceBus)

Handler = Callable[[web.Request], Awaitable[Any]]
B = TypeVar("B", bound=BaseModel)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    body: type[BaseModel] | None = None
    auth: bool = True
    query: tuple[str, ...] = ()


def engine_of(request: web.Request) -> QueueEngine:
    return request.app[ENGINE]


def require(request: web.Request, *kinds: str) -> Principal:
    return request.app[AUTH].require(request, *kinds)


async def body_of(request: web.Request, model: type[B]) -> B:
    if request.content_length and request.content_length > 8 * 1024 * 1024:
        raise QueueError("invalid_request", "body too large")
    raw = await request.read()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueueError("invalid_request", f"body is not JSON: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise QueueError("invalid_request", "请求内容不符合要求", problems=problems) from exc


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 128:
        raise QueueError("invalid_request", "Idempotency-Key is longer than 128 characters")
    return key or None
