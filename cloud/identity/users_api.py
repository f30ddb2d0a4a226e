"""The users API (§3.10, §21.3.3): `/api/identity/users` — list with combined filters and
paging, create, edit, disable and enable (屏蔽), reset the password, delete, give roles and
role groups — and the users of a role; thin wrappers over `users_service.py`."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cloud.calls import answer, caller, page_of, read_body, text_query
from cloud.context import ENGINE
from cloud.identity.principal import authorize
from cloud.identity.users_service import (
    Memberships,
    NewUser,
    UserChange,
    UserFilter,
    add_user,
    change_user,
    list_users,
    read_user,
    remove_user,
    reset_password,
    set_memberships,
    users_of_role,
)

__all__ = ["routes"]


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(None, max_length=200)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/identity/users", _list),
        web.post("/api/identity/users", _create),
        web.get("/api/identity/users/{id}", _read),
        web.patch("/api/identity/users/{id}", _change),
        web.delete("/api/identity/users/{id}", _delete),
        web.post("/api/identity/users/{id}/password", _reset_password),
        web.put("/api/identity/users/{id}/roles", _put_memberships),
        web.get("/api/identity/roles/{id}/users", _users_of_role),
    ]


async def _list(request: web.Request) -> web.Response:
    """Filtered by any of `q`, `username`, `name`, `department` (`below=1`: its units below
    too), `status`, `role`; paged by `page` and `size`."""
    principal, _ = await caller(request)
    authorize(principal, "user.view")
    found = UserFilter(
        q=text_query(request, "q"),
        username=text_query(request, "username"),
        name=text_query(request, "name"),
        department=text_query(request, "department", 64),
        below=request.query.get("below") in ("1", "true"),
        status=text_query(request, "status", 16),
        role=text_query(request, "role", 64),
    )
    page, size = page_of(request)
    async with request.app[ENGINE].connect() as conn:
        listed = await list_users(conn, principal, found, page, size)
    return answer({"users": listed.users, "total": listed.total, "page": page, "size": size})


async def _read(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        return answer({"user": await read_user(conn, principal, request.match_info["id"])})


async def _create(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "user.create")  # before the body: no right, no word on the body
    body = await read_body(request, NewUser)
    async with request.app[ENGINE].begin() as conn:
        issued = await add_user(conn, principal, who, body)
    shown: dict[str, Any] = {"user": issued.user}
    if issued.password is not None:
        shown["initial_password"] = issued.password  # shown this once, stored only hashed
    return answer(shown, status=201)


async def _change(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "user.edit")
    body = await read_body(request, UserChange)
    async with request.app[ENGINE].begin() as conn:
        user = await change_user(conn, principal, who, request.match_info["id"], body)
    return answer({"user": user})


async def _delete(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    async with request.app[ENGINE].begin() as conn:
        deleted = await remove_user(conn, principal, who, request.match_info["id"])
    return answer({"deleted": deleted})


async def _reset_password(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "user.edit")
    body = await read_body(request, PasswordReset)
    async with request.app[ENGINE].begin() as conn:
        issued = await reset_password(conn, principal, who, request.match_info["id"], body.password)
    shown: dict[str, Any] = {"user": issued.user["id"]}
    if issued.password is not None:
        shown["initial_password"] = issued.password
    return answer(shown)


async def _put_memberships(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "user.edit")
    body = await read_body(request, Memberships)
    user_id = request.match_info["id"]
    async with request.app[ENGINE].begin() as conn:
        after = await set_memberships(conn, principal, who, user_id, body)
    return answer({"user": user_id, **after})


async def _users_of_role(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    role_id = request.match_info["id"]
    async with request.app[ENGINE].connect() as conn:
        return answer({"role": role_id, "users": await users_of_role(conn, principal, role_id)})
