"""The roles API (§21.3.4–21.3.5): `/api/identity/roles`, `/api/identity/role-groups` and the
permission catalogue, thin wrappers over `roles_service.py` (which refuses privilege
escalation)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from cloud.calls import answer, caller, read_body
from cloud.context import ENGINE
from cloud.identity.principal import Scope, authorize
from cloud.identity.roles_service import (
    SCOPE_LABELS,
    GroupChange,
    NewGroup,
    NewRole,
    RoleChange,
    add_group,
    add_role,
    change_group,
    change_role,
    check_grantable,
    grants_of_roles,
    list_groups,
    list_roles,
    permission_catalogue,
    put_grants,
    read_group,
    read_role,
    remove_group,
    remove_role,
    visible_role,
)

__all__ = [
    "SCOPE_LABELS",
    "check_grantable",
    "grants_of_roles",
    "routes",
    "visible_role",
]


class Grants(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grants: dict[str, Scope]


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/identity/permissions", _catalogue),
        web.get("/api/identity/roles", _list),
        web.post("/api/identity/roles", _create),
        web.get("/api/identity/roles/{id}", _read),
        web.patch("/api/identity/roles/{id}", _change),
        web.delete("/api/identity/roles/{id}", _delete),
        web.put("/api/identity/roles/{id}/grants", _put_grants),
        web.get("/api/identity/role-groups", _groups),
        web.post("/api/identity/role-groups", _create_group),
        web.get("/api/identity/role-groups/{id}", _read_group),
        web.patch("/api/identity/role-groups/{id}", _change_group),
        web.delete("/api/identity/role-groups/{id}", _delete_group),
    ]


async def _catalogue(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    return answer(permission_catalogue(principal))


async def _list(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        return answer({"roles": await list_roles(conn, principal)})


async def _read(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        return answer({"role": await read_role(conn, principal, request.match_info["id"])})


async def _create(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "role.create")  # before the body: no right, no word on the body
    body = await read_body(request, NewRole)
    async with request.app[ENGINE].begin() as conn:
        role = await add_role(conn, principal, who, body)
    return answer({"role": role}, status=201)


async def _change(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "role.edit")
    body = await read_body(request, RoleChange)
    async with request.app[ENGINE].begin() as conn:
        role = await change_role(conn, principal, who, request.match_info["id"], body)
    return answer({"role": role})


async def _delete(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    async with request.app[ENGINE].begin() as conn:
        deleted = await remove_role(conn, principal, who, request.match_info["id"])
    return answer({"deleted": deleted})


async def _put_grants(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "role.edit")
    body = await read_body(request, Grants)
    async with request.app[ENGINE].begin() as conn:
        role = await put_grants(conn, principal, who, request.match_info["id"], body.grants)
    return answer({"role": role})


async def _groups(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        return answer({"groups": await list_groups(conn, principal)})


async def _read_group(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        return answer({"group": await read_group(conn, principal, request.match_info["id"])})


async def _create_group(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "role.create")
    body = await read_body(request, NewGroup)
    async with request.app[ENGINE].begin() as conn:
        group = await add_group(conn, principal, who, body)
    return answer({"group": group}, status=201)


async def _change_group(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "role.edit")
    body = await read_body(request, GroupChange)
    async with request.app[ENGINE].begin() as conn:
        group = await change_group(conn, principal, who, request.match_info["id"], body)
    return answer({"group": group})


async def _delete_group(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    async with request.app[ENGINE].begin() as conn:
        deleted = await remove_group(conn, principal, who, request.match_info["id"])
    return answer({"deleted": deleted})
