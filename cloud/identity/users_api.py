"""The users API (§3.10, §21.3.3): list with combined filters and paging, create, edit,
disable and enable (屏蔽), reset the password, delete, give roles and role groups, and list the
users of a role.

A user is a record of their department (`department_id`), its owner the user who created it.
A password given by an administrator follows the password rule; without one the cloud makes an
initial password and answers it once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import record
from cloud.context import ENGINE
from cloud.errors import ApiError, register_errors
from cloud.identity.accounts import (
    Status,
    create_user,
    initial_password,
    password_problem,
    set_password,
    set_status,
)
from cloud.identity.calls import answer, caller, now_ms, page_of, read_body, text_query
from cloud.identity.org_api import may_place
from cloud.identity.permissions import register_resource
from cloud.identity.principal import Principal, authorize, check_record, scope_clause
from cloud.identity.roles_api import check_grantable, grants_of_roles, visible_role
from cloud.identity.tables import (
    org_closure,
    org_units,
    role_group_roles,
    role_groups,
    sessions,
    user_role_groups,
    user_roles,
    users,
)

__all__ = ["routes"]

register_resource("user", "用户")
register_errors(
    {
        "cannot_change_self": (409, "不能删除、停用自己的账号或修改自己的角色"),
        "user_in_use": (409, "该用户仍被其他业务数据引用，不能删除；可改为停用"),
        "superuser_only": (403, "只有超级管理员可以设置超级管理员"),
    }
)

_USERNAME = r"^[A-Za-z0-9_.@-]{2,64}$"


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=_USERNAME)
    name: str = Field(min_length=1, max_length=100)
    department_id: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=200)
    password: str | None = Field(None, max_length=200)
    superuser: bool = False
    roles: list[str] = Field(default_factory=list, max_length=200)
    groups: list[str] = Field(default_factory=list, max_length=200)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    department_id: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=200)
    status: Status | None = None
    superuser: bool | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(None, max_length=200)


class Memberships(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(default_factory=list, max_length=200)
    groups: list[str] = Field(default_factory=list, max_length=200)


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
    """Users in the caller's scope, filtered by any of: `q` (name or username contains),
    `username`, `name`, `department` (with `below=1` its units below too), `status`, `role`;
    paged by `page` and `size`."""
    principal, _ = await caller(request)
    authorize(principal, "user.view")
    where = [_visible(principal)]
    q = text_query(request, "q")
    if q is not None:
        pattern = f"%{_escaped(q)}%"
        where.append(
            sa.or_(
                users.c.name.like(pattern, escape="\\"), users.c.username.like(pattern, escape="\\")
            )
        )
    for name, column in (("username", users.c.username), ("name", users.c.name)):
        value = text_query(request, name)
        if value is not None:
            where.append(column.like(f"%{_escaped(value)}%", escape="\\"))
    department = text_query(request, "department", 64)
    if department is not None:
        if request.query.get("below") in ("1", "true"):
            below = sa.select(org_closure.c.descendant).where(org_closure.c.ancestor == department)
            where.append(users.c.department_id.in_(below))
        else:
            where.append(users.c.department_id == department)
    status = text_query(request, "status", 16)
    if status is not None:
        where.append(users.c.status == status)
    role = text_query(request, "role", 64)
    if role is not None:
        where.append(users.c.id.in_(_holders_of(role)))
    page, size = page_of(request)
    async with request.app[ENGINE].connect() as conn:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(users).where(*where))
        rows = (
            await conn.execute(
                _listing()
                .where(*where)
                .order_by(users.c.username)
                .limit(size)
                .offset((page - 1) * size)
            )
        ).all()
        found = [await _user_json(conn, r) for r in rows]
    return answer({"users": found, "total": total, "page": page, "size": size})


async def _read(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    authorize(principal, "user.read")
    async with request.app[ENGINE].connect() as conn:
        row = await _user(conn, principal, request.match_info["id"], "read")
        return answer({"user": await _user_json(conn, row)})


async def _create(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "user.create")
    body = await read_body(request, NewUser)
    if body.superuser and not principal.superuser:
        raise ApiError("superuser_only")
    password = body.password
    if password is not None:
        problem = password_problem(password, body.username)
        if problem is not None:
            raise ApiError("weak_password", problem)
    now = now_ms()
    async with request.app[ENGINE].begin() as conn:
        await _check_department(conn, principal, "user.create", body.department_id)
        user_id = await create_user(
            conn,
            username=body.username,
            name=body.name,
            department_id=body.department_id,
            password=password or (generated := initial_password()),
            now_ms=now,
            created_by=principal.id,
            phone=body.phone,
            email=body.email,
            superuser=body.superuser,
        )
        await _set_memberships(conn, principal, user_id, body.roles, body.groups)
        row = (await conn.execute(_listing().where(users.c.id == user_id))).one()
        new = await _user_json(conn, row)
        await record(conn, who, action="create", resource="user", resource_id=user_id,
                     hall=None, new=new, now_ms=now)  # fmt: skip
    shown: dict[str, Any] = {"user": new}
    if password is None:
        shown["initial_password"] = generated  # shown this once, stored only hashed
    return answer(shown, status=201)


async def _change(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "user.edit")
    body = await read_body(request, UserChange)
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "status", "superuser"):
        if name in changes and changes[name] is None:
            raise ApiError("invalid_request", f"{name} 不能为空")
    if "superuser" in changes and not principal.superuser:
        raise ApiError("superuser_only")
    async with request.app[ENGINE].begin() as conn:
        old_row = await _user(conn, principal, request.match_info["id"], "edit")
        old = await _user_json(conn, old_row)
        if "department_id" in changes and changes["department_id"] != old_row.department_id:
            await _check_department(conn, principal, "user.edit", changes["department_id"])
        status = changes.pop("status", None)
        if status is not None and status != old_row.status:
            if old_row.id == principal.id:
                raise ApiError("cannot_change_self")
            await set_status(conn, old_row.id, status)
        if changes:
            await conn.execute(users.update().where(users.c.id == old_row.id).values(**changes))
        new_row = (await conn.execute(_listing().where(users.c.id == old_row.id))).one()
        new = await _user_json(conn, new_row)
        await record(conn, who, action="update", resource="user", resource_id=old_row.id,
                     hall=None, old=old, new=new, now_ms=now_ms())  # fmt: skip
    return answer({"user": new})


async def _delete(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "user.delete")
    async with request.app[ENGINE].begin() as conn:
        row = await _user(conn, principal, request.match_info["id"], "delete")
        if row.id == principal.id:
            raise ApiError("cannot_change_self")
        old = await _user_json(conn, row)
        for table in (sessions, user_roles, user_role_groups):
            await conn.execute(table.delete().where(table.c.user_id == row.id))
        await conn.execute(
            org_units.update().where(org_units.c.head_user_id == row.id).values(head_user_id=None)
        )
        try:
            async with conn.begin_nested():
                await conn.execute(users.delete().where(users.c.id == row.id))
        except sa.exc.IntegrityError:
            raise ApiError("user_in_use", row.username) from None
        await record(conn, who, action="delete", resource="user", resource_id=row.id,
                     hall=None, old=old, now_ms=now_ms())  # fmt: skip
    return answer({"deleted": row.id})


async def _reset_password(request: web.Request) -> web.Response:
    """Set a user's password (the given one, or a generated one answered once); every session
    of theirs ends."""
    principal, who = await caller(request)
    authorize(principal, "user.edit")
    body = await read_body(request, PasswordReset)
    now = now_ms()
    async with request.app[ENGINE].begin() as conn:
        row = await _user(conn, principal, request.match_info["id"], "edit")
        password = body.password or initial_password()
        problem = password_problem(password, row.username)
        if problem is not None:
            raise ApiError("weak_password", problem)
        await set_password(conn, row.id, password, now, keep_session=None)
        await conn.execute(
            users.update().where(users.c.id == row.id).values(failed_logins=0, locked_until=None)
        )
        await record(conn, who, action="update", resource="user", resource_id=row.id,
                     hall=None, new={"password_changed_at": now}, now_ms=now)  # fmt: skip
    shown: dict[str, Any] = {"user": row.id}
    if body.password is None:
        shown["initial_password"] = password
    return answer(shown)


async def _put_memberships(request: web.Request) -> web.Response:
    """Replace a user's roles and role groups."""
    principal, who = await caller(request)
    authorize(principal, "user.edit")
    body = await read_body(request, Memberships)
    async with request.app[ENGINE].begin() as conn:
        row = await _user(conn, principal, request.match_info["id"], "edit")
        if row.id == principal.id and not principal.superuser:
            raise ApiError("cannot_change_self")
        before = await _memberships(conn, row.id)
        await _set_memberships(conn, principal, row.id, body.roles, body.groups, before)
        after = await _memberships(conn, row.id)
        await record(conn, who, action="update", resource="user", resource_id=row.id,
                     hall=None, old=before, new=after, now_ms=now_ms())  # fmt: skip
    return answer({"user": row.id, **after})


async def _users_of_role(request: web.Request) -> web.Response:
    """The users holding a role, directly or through a role group, that the caller may see."""
    principal, _ = await caller(request)
    authorize(principal, "role.read")
    authorize(principal, "user.view")
    async with request.app[ENGINE].connect() as conn:
        role = await visible_role(conn, principal, request.match_info["id"], "read")
        rows = (
            await conn.execute(
                _listing()
                .where(users.c.id.in_(_holders_of(role.id)), _visible(principal))
                .order_by(users.c.username)
            )
        ).all()
        found = [await _user_json(conn, r) for r in rows]
    return answer({"role": role.id, "users": found})


# ---------------------------------------------------------------------------- helpers


def _visible(principal: Principal) -> sa.ColumnElement[bool]:
    return scope_clause(
        principal, "user.view", department=users.c.department_id, owner=users.c.created_by
    )


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _holders_of(role_id: str) -> sa.CompoundSelect[tuple[str]]:
    return sa.union(
        sa.select(user_roles.c.user_id).where(user_roles.c.role_id == role_id),
        sa.select(user_role_groups.c.user_id)
        .join(role_group_roles, role_group_roles.c.group_id == user_role_groups.c.group_id)
        .where(role_group_roles.c.role_id == role_id),
    )


def _listing() -> sa.Select[Any]:
    return sa.select(
        users.c.id,
        users.c.username,
        users.c.name,
        users.c.department_id,
        org_units.c.name.label("department_name"),
        users.c.phone,
        users.c.email,
        users.c.status,
        users.c.superuser,
        users.c.locked_until,
        users.c.last_login_at,
        users.c.created_at,
        users.c.created_by,
    ).select_from(users.outerjoin(org_units, org_units.c.id == users.c.department_id))


async def _user_json(conn: AsyncConnection, row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "username": row.username,
        "name": row.name,
        "department_id": row.department_id,
        "department_name": row.department_name,
        "phone": row.phone,
        "email": row.email,
        "status": row.status,
        "superuser": bool(row.superuser),
        "locked_until": row.locked_until,
        "last_login_at": row.last_login_at,
        "created_at": row.created_at,
        "created_by": row.created_by,
        **await _memberships(conn, row.id),
    }


async def _memberships(conn: AsyncConnection, user_id: str) -> dict[str, list[str]]:
    direct = await conn.scalars(
        sa.select(user_roles.c.role_id)
        .where(user_roles.c.user_id == user_id)
        .order_by(user_roles.c.role_id)
    )
    grouped = await conn.scalars(
        sa.select(user_role_groups.c.group_id)
        .where(user_role_groups.c.user_id == user_id)
        .order_by(user_role_groups.c.group_id)
    )
    return {"roles": list(direct), "groups": list(grouped)}


async def _user(conn: AsyncConnection, principal: Principal, user_id: str, right: str) -> Any:
    """The user, after checking the principal's `right` over them (404 `unknown_user` when they
    cannot see them)."""
    row = (await conn.execute(_listing().where(users.c.id == user_id))).first()
    if row is None:
        raise ApiError("unknown_user", user_id)
    await check_record(conn, principal, "user", right, department=row.department_id,
                       owner=row.created_by, not_found="unknown_user")  # fmt: skip
    return row


async def _check_department(
    conn: AsyncConnection, principal: Principal, permission: str, department: str | None
) -> None:
    if department is not None:
        found = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.id == department))
        if found is None:
            raise ApiError("unknown_org_unit", department)
    if not await may_place(conn, principal, permission, department):
        raise ApiError("forbidden_operation", permission)


async def _set_memberships(
    conn: AsyncConnection,
    principal: Principal,
    user_id: str,
    role_ids: list[str],
    group_ids: list[str],
    before: dict[str, list[str]] | None = None,
) -> None:
    """Replace the user's roles and groups; the roles and groups added must be visible to the
    principal and hold nothing the principal does not."""
    before = before or {"roles": [], "groups": []}
    added_roles = sorted(set(role_ids) - set(before["roles"]))
    added_groups = sorted(set(group_ids) - set(before["groups"]))
    for role_id in added_roles:
        await visible_role(conn, principal, role_id)
    for group_id in added_groups:
        found = await conn.scalar(sa.select(role_groups.c.id).where(role_groups.c.id == group_id))
        if found is None:
            raise ApiError("unknown_role_group", group_id)
    via_groups = await conn.scalars(
        sa.select(role_group_roles.c.role_id).where(role_group_roles.c.group_id.in_(added_groups))
    )
    check_grantable(principal, await grants_of_roles(conn, [*added_roles, *via_groups]))
    await conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id))
    await conn.execute(user_role_groups.delete().where(user_role_groups.c.user_id == user_id))
    if role_ids:
        await conn.execute(
            user_roles.insert(), [{"user_id": user_id, "role_id": r} for r in sorted(set(role_ids))]
        )
    if group_ids:
        await conn.execute(
            user_role_groups.insert(),
            [{"user_id": user_id, "group_id": g} for g in sorted(set(group_ids))],
        )
