"""What the cloud's HTTP calls share: the clock, reading a JSON body into a model, the caller's
origin for the audit log, paging parameters and JSON answers (Chinese kept as it is)."""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from cloud.audit import Origin
from cloud.context import CONFIG
from cloud.errors import ApiError
from cloud.identity.principal import Principal, current_principal

__all__ = ["answer", "caller", "now_ms", "origin", "page_of", "read_body", "text_query"]

_M = TypeVar("_M", bound=BaseModel)

_MAX_PAGE_SIZE = 500


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def read_body(request: web.Request, model: type[_M]) -> _M:
    """The request's JSON body as `model`; 400 `invalid_request` naming the first problem."""
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        detail = f"{where}: {error['msg']}" if where else str(error["msg"])
        raise ApiError("invalid_request", detail) from exc


def origin(request: web.Request, principal: Principal) -> Origin:
    """Where the principal's change comes from, for the audit log."""
    trust = request.app[CONFIG].api.trust_forwarded_for
    return Origin.of_request(request, principal.actor, trust_forwarded_for=trust)


async def caller(request: web.Request) -> tuple[Principal, Origin]:
    """The signed-in caller (401 otherwise) and the origin of the changes they make."""
    principal = await current_principal(request)
    return principal, origin(request, principal)


def text_query(request: web.Request, name: str, longest: int = 200) -> str | None:
    """A query parameter's text, None when absent or empty; 400 when too long."""
    value = request.query.get(name, "").strip() or None
    if value is not None and len(value) > longest:
        raise ApiError("invalid_request", f"{name} 过长")
    return value


def page_of(request: web.Request, default_size: int = 20) -> tuple[int, int]:
    """The `page` (from 1) and `size` asked for; 400 when they are not sensible numbers."""

    def number(name: str, default: int, high: int) -> int:
        text = request.query.get(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise ApiError("invalid_request", f"{name} 不是整数") from None
        if not 1 <= value <= high:
            raise ApiError("invalid_request", f"{name} 应在 1–{high} 之间")
        return value

    return number("page", 1, 1_000_000), number("size", default_size, _MAX_PAGE_SIZE)


def answer(value: Any, status: int = 200) -> web.Response:
    return web.json_response(
        value, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )
