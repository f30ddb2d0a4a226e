"""The hall configuration's HTTP API under `/api/halls/{hall}/config/…`: every call checked on
the server — the function permission `hall_config.<right>` (403 without it) and the hall's
site unit within the caller's data scope (404, as if the hall were not there, outside it)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from cloud.audit import Origin
from cloud.calls import answer, now_ms, origin
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.hallconfig.access import RESOURCE, check_hall
from cloud.hallconfig.compiler import import_newest, import_setup
from cloud.hallconfig.pieces import (
    PIECES,
    Piece,
    contract_problem,
    create_piece,
    delete_piece,
    get_piece,
    list_pieces,
    update_piece,
)
from cloud.hallconfig.publishing import preview_setup, publish_setup
from cloud.hallconfig.settings import read_settings, read_voice, write_settings, write_voice
from cloud.identity.principal import current_principal
from cloud.setups import lock_hall, parse_setup
from sync.voice import VoiceSetup

__all__ = ["RESOURCE", "routes"]


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def routes() -> list[web.RouteDef]:
    """Every route of the hall configuration."""
    base = "/api/halls/{hall}/config"
    table = [
        web.get(base + "/settings", _get_settings),
        web.put(base + "/settings", _put_settings),
        web.patch(base + "/settings", _patch_settings),
        web.get(base + "/voice", _get_voice),
        web.put(base + "/voice", _put_voice),
        web.get(base + "/preview", _preview),
        web.post(base + "/publish", _publish),
        web.post(base + "/import", _import),
    ]
    for piece in PIECES.values():
        path = f"{base}/{piece.name}"
        table += [
            web.get(path, _list(piece)),
            web.post(path, _create(piece)),
            web.get(path + "/{item}", _get(piece)),
            web.patch(path + "/{item}", _update(piece)),
            web.delete(path + "/{item}", _delete(piece)),
        ]
        if piece.types is not None:  # the ordered business types, as a list of their own
            table += [
                web.get(path + "/{item}/business-types", _get_types(piece)),
                web.put(path + "/{item}/business-types", _put_types(piece)),
            ]
    return table


@dataclass(frozen=True)
class _Call:
    """An allowed call: the hall, its site unit (the department of its pieces), the origin."""

    hall: str
    department: str | None
    origin: Origin


async def _allowed(request: web.Request, right: str) -> _Call:
    """The call when the caller holds `hall_config.<right>` over the hall's site unit: 403
    without the permission, 404 (`unknown_hall`) for a hall outside the caller's scope."""
    principal = await current_principal(request)
    hall = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        department = await check_hall(conn, principal, hall, right)
    return _Call(hall, department, origin(request, principal))


def _list(piece: Piece) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        call = await _allowed(request, "view")
        async with request.app[ENGINE].connect() as conn:
            items = await list_pieces(conn, piece, call.hall)
        return answer({"hall": call.hall, "items": items})

    return handler


def _get(piece: Piece) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        call = await _allowed(request, "read")
        async with request.app[ENGINE].connect() as conn:
            return answer(await get_piece(conn, piece, call.hall, request.match_info["item"]))

    return handler


def _create(piece: Piece) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        call = await _allowed(request, "create")
        body = await _object(request)
        async with request.app[ENGINE].begin() as conn:
            await lock_hall(conn, call.hall)
            item = await create_piece(conn, piece, call.hall, body, department=call.department,
                                      origin=call.origin, now_ms=now_ms())  # fmt: skip
        return answer(item, status=201)

    return handler


def _update(piece: Piece) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        call = await _allowed(request, "edit")
        body = await _object(request)
        return answer(await _change(request, call, piece, body))

    return handler


def _delete(piece: Piece) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        call = await _allowed(request, "delete")
        async with request.app[ENGINE].begin() as conn:
            await lock_hall(conn, call.hall)
            await delete_piece(conn, piece, call.hall, request.match_info["item"],
                               origin=call.origin, now_ms=now_ms())  # fmt: skip
        return web.Response(status=204)

    return handler


def _get_types(piece: Piece) -> _Handler:
    async def handler(request: web.Request) -> web.Response:
        call = await _allowed(request, "read")
        async with request.app[ENGINE].connect() as conn:
            item = await get_piece(conn, piece, call.hall, request.match_info["item"])
        return answer({"id": item["id"], "business_types": item["business_types"]})

    return handler


def _put_types(piece: Piece) -> _Handler:
    """The body is the ordered list, highest priority first: `["tax", "license"]` or
    `{"business_types": [...]}`."""

    async def handler(request: web.Request) -> web.Response:
        call = await _allowed(request, "edit")
        body = await _json_body(request)
        if isinstance(body, dict) and set(body) == {"business_types"}:
            body = body["business_types"]
        if not isinstance(body, list):
            raise ApiError("invalid_request", "应为业务小类编号的有序列表")
        item = await _change(request, call, piece, {"business_types": body})
        return answer({"id": item["id"], "business_types": item["business_types"]})

    return handler


async def _change(
    request: web.Request, call: _Call, piece: Piece, body: dict[str, Any]
) -> dict[str, Any]:
    async with request.app[ENGINE].begin() as conn:
        await lock_hall(conn, call.hall)
        return await update_piece(conn, piece, call.hall, request.match_info["item"], body,
                                  department=call.department, origin=call.origin,
                                  now_ms=now_ms())  # fmt: skip


async def _get_settings(request: web.Request) -> web.Response:
    call = await _allowed(request, "view")
    async with request.app[ENGINE].connect() as conn:
        return answer(await read_settings(conn, call.hall))


async def _put_settings(request: web.Request) -> web.Response:
    return await _write_settings(request, replace=True)


async def _patch_settings(request: web.Request) -> web.Response:
    return await _write_settings(request, replace=False)


async def _write_settings(request: web.Request, *, replace: bool) -> web.Response:
    call = await _allowed(request, "edit")
    body = await _object(request)
    async with request.app[ENGINE].begin() as conn:
        await lock_hall(conn, call.hall)
        settings = await write_settings(conn, call.hall, body, replace=replace,
                                        department=call.department, origin=call.origin,
                                        now_ms=now_ms())  # fmt: skip
    return answer(settings)


async def _get_voice(request: web.Request) -> web.Response:
    call = await _allowed(request, "view")
    async with request.app[ENGINE].connect() as conn:
        return answer((await read_voice(conn, call.hall)).model_dump(mode="json"))


async def _put_voice(request: web.Request) -> web.Response:
    call = await _allowed(request, "edit")
    try:
        voice = VoiceSetup.model_validate(await _object(request))
    except ValidationError as exc:
        raise ApiError("invalid_hall_config", contract_problem(exc, "语音设置")) from None
    async with request.app[ENGINE].begin() as conn:
        await lock_hall(conn, call.hall)
        await write_voice(conn, call.hall, voice, department=call.department, origin=call.origin,
                          now_ms=now_ms())  # fmt: skip
    return answer(voice.model_dump(mode="json"))


async def _preview(request: web.Request) -> web.Response:
    """The setup a publish would store now, and what it changes against the newest stored
    version; `valid` false with the refusal when the contract refuses it."""
    call = await _allowed(request, "read")
    async with request.app[ENGINE].connect() as conn:
        return answer({"hall": call.hall, **await preview_setup(conn, call.hall)})


async def _publish(request: web.Request) -> web.Response:
    """Store the compiled setup as the hall's next version: the edge pulls it."""
    call = await _allowed(request, "publish")
    result = await publish_setup(request.app[ENGINE], call.hall, origin=call.origin,
                                 now_ms=now_ms())  # fmt: skip
    return answer(result, status=201)


async def _import(request: web.Request) -> web.Response:
    """Fill the hall's pieces from a posted HallSetup, or without a body from its newest
    stored version; what was there before is replaced."""
    call = await _allowed(request, "import")
    raw = await request.read()
    async with request.app[ENGINE].begin() as conn:
        await lock_hall(conn, call.hall)
        if raw.strip():
            setup = parse_setup(call.hall, raw)
            counts = await import_setup(conn, call.hall, setup, department=call.department,
                                        origin=call.origin, now_ms=now_ms())  # fmt: skip
        else:
            setup, counts = await import_newest(conn, call.hall, department=call.department,
                                                origin=call.origin, now_ms=now_ms())  # fmt: skip
    return answer({"hall": call.hall, "from_version": setup.version, **counts})


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_request", "请求体不是有效的 JSON") from None


async def _object(request: web.Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "请求体应为 JSON 对象")
    return body
