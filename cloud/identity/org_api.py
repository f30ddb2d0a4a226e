"""The organisation API (§3.9, §21.3.7–21.3.9): `/api/identity/units`, thin wrappers over
`org_service.py` (the units the caller may see, as a list and a tree; create, read, change —
rename, move under another parent (切换), disable — and delete)."""

from __future__ import annotations

from aiohttp import web

from cloud.calls import answer, caller, read_body
from cloud.context import ENGINE
from cloud.identity.org_service import (
    NewUnit,
    UnitChange,
    add_unit,
    change_unit,
    may_place,
    read_unit,
    remove_unit,
    unit_json,
    visible_units,
)
from cloud.identity.principal import authorize

__all__ = ["may_place", "routes", "unit_json"]


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/identity/units", _list),
        web.post("/api/identity/units", _create),
        web.get("/api/identity/units/{id}", _read),
        web.patch("/api/identity/units/{id}", _change),
        web.delete("/api/identity/units/{id}", _delete),
    ]


async def _list(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        found = await visible_units(conn, principal)
    return answer({"units": found.units, "tree": found.tree})


async def _read(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        unit, path = await read_unit(conn, principal, request.match_info["id"])
    return answer({"unit": unit, "path": path})


async def _create(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "org.create")  # before the body: no right, no word on the body
    body = await read_body(request, NewUnit)
    async with request.app[ENGINE].begin() as conn:
        unit = await add_unit(conn, principal, who, body)
    return answer({"unit": unit}, status=201)


async def _change(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "org.edit")
    body = await read_body(request, UnitChange)
    async with request.app[ENGINE].begin() as conn:
        unit = await change_unit(conn, principal, who, request.match_info["id"], body)
    return answer({"unit": unit})


async def _delete(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    async with request.app[ENGINE].begin() as conn:
        deleted = await remove_unit(conn, principal, who, request.match_info["id"])
    return answer({"deleted": deleted})
