"""Managing users (§3.10, §21.3.3) for a principal: the list with combined filters and paging,
create, edit, disable and enable (屏蔽), reset the password, delete, give roles and role
groups, and the users of a role. The HTTP API (`users_api.py`) and the portal's pages call
these functions; each change is checked and audited on the caller's connection.

A user is a record of their department (`department_id`), its owner the user who created it.
A password given by an administrator follows the password rule; without one the cloud makes an
initial password, returned once (`Issued.password`) and stored only hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import Origin, record
from cloud.calls import now_ms
from cloud.errors import ApiError, register_errors
from cloud.identity.accounts import (
    Status,
    create_user,
    initial_password,
    password_problem,
    set_password,
    set_status,
)
from cloud.identity.org_service import may_place
from cloud.identity.permissions import register_resource
from cloud.identity.principal import Principal, authorize, check_record, scope_clause
from cloud.identity.roles_service import check_grantable, grants_of_roles, visible_role
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

__all__ = [
    "STATUS_LABELS",
    "Issued",
    "Memberships",
    "NewUser",
    "UserChange",
    "UserFilter",
    "UserPage",
    "add_user",
    "change_user",
    "list_users",
    "read_user",
    "remove_user",
    "reset_password",
    "set_memberships",
    "users_of_role",
]

register_resource("user", "用户")
register_errors(
    {
        "cannot_change_self": (409, "不能删除、停用自己的账号或修改自己的角色"),
        "user_in_use": (409, "该用户仍被其他业务数据引用，不能删除；可改为停用"),
        "superuser_only": (403, "只有超级管理员可以设置超级管理员"),
    }
)

STATUS_LABELS: dict[str, str] = {"active": "正常", "disabled": "已屏蔽", "cancelled": "已取消备案"}

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
    """What changes of a user: only the fields set (`model_dump(exclude_unset=True)`)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    department_id: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=200)
    status: Status | None = None
    superuser: bool | None = None


class Memberships(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(default_factory=list, max_length=200)
    groups: list[str] = Field(default_factory=list, max_length=200)


@dataclass(frozen=True)
class UserFilter:
    """The list's filters, every one optional and all combined: `q` (name or username
    contains), `username`, `name`, `department` (with `below` its units below too), `status`,
    `role` (held directly or through a group)."""

    q: str | None = None
    username: str | None = None
    name: str | None = None
    department: str | None = None
    below: bool = False
    status: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class UserPage:
    users: list[dict[str, Any]]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass(frozen=True)
class Issued:
    """A user after a create or a password reset, with the generated password (None when the
    administrator gave one) — to be shown once."""

    user: dict[str, Any]
    password: str | None


async def list_users(
    conn: AsyncConnection, principal: Principal, found: UserFilter, page: int = 1, size: int = 20
) -> UserPage:
    """The users in the principal's scope (`user.view`) matching `found`, by username."""
    authorize(principal, "user.view")
    where = [_visible(principal)]
    if found.q is not None:
        pattern = f"%{_escaped(found.q)}%"
        where.append(
            sa.or_(
                users.c.name.like(pattern, escape="\\"), users.c.username.like(pattern, escape="\\")
            )
        )
    for value, column in ((found.username, users.c.username), (found.name, users.c.name)):
        if value is not None:
            where.append(column.like(f"%{_escaped(value)}%", escape="\\"))
    if found.department is not None:
        if found.below:
            below = sa.select(org_closure.c.descendant).where(
                org_closure.c.ancestor == found.department
            )
            where.append(users.c.department_id.in_(below))
        else:
            where.append(users.c.department_id == found.department)
    if found.status is not None:
        where.append(users.c.status == found.status)
    if found.role is not None:
        where.append(users.c.id.in_(_holders_of(found.role)))
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
    listed = [await _user_json(conn, r) for r in rows]
    return UserPage(users=listed, total=int(total or 0), page=page, size=size)


async def read_user(conn: AsyncConnection, principal: Principal, user_id: str) -> dict[str, Any]:
    authorize(principal, "user.read")
    return await _user_json(conn, await _user(conn, principal, user_id, "read"))


async def add_user(
    conn: AsyncConnection, principal: Principal, origin: Origin, body: NewUser
) -> Issued:
    """Create a user in `body.department_id` (`user.create` over it) with their roles and
    groups (nothing the principal does not hold)."""
    authorize(principal, "user.create")
    if body.superuser and not principal.superuser:
        raise ApiError("superuser_only")
    given = body.password
    if given is not None:
        problem = password_problem(given, body.username)
        if problem is not None:
            raise ApiError("weak_password", problem)
    now = now_ms()
    await _check_department(conn, principal, "user.create", body.department_id)
    generated = None if given is not None else initial_password()
    user_id = await create_user(
        conn,
        username=body.username,
        name=body.name,
        department_id=body.department_id,
        password=given or str(generated),
        now_ms=now,
        created_by=principal.id,
        phone=body.phone,
        email=body.email,
        superuser=body.superuser,
    )
    await _replace_memberships(conn, principal, user_id, body.roles, body.groups)
    row = (await conn.execute(_listing().where(users.c.id == user_id))).one()
    new = await _user_json(conn, row)
    await record(conn, origin, action="create", resource="user", resource_id=user_id,
                 hall=None, new=new, now_ms=now)  # fmt: skip
    return Issued(new, generated)


async def change_user(
    conn: AsyncConnection, principal: Principal, origin: Origin, user_id: str, body: UserChange
) -> dict[str, Any]:
    """Change the fields set in `body` (`user.edit`): a new department must be the principal's
    to place users in; disabling (屏蔽) ends the user's sessions; nobody changes their own
    status. The changed user."""
    authorize(principal, "user.edit")
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "status", "superuser"):
        if name in changes and changes[name] is None:
            raise ApiError("invalid_request", f"{name} 不能为空")
    if "superuser" in changes and not principal.superuser:
        raise ApiError("superuser_only")
    old_row = await _user(conn, principal, user_id, "edit")
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
    await record(conn, origin, action="update", resource="user", resource_id=old_row.id,
                 hall=None, old=old, new=new, now_ms=now_ms())  # fmt: skip
    return new


async def remove_user(
    conn: AsyncConnection, principal: Principal, origin: Origin, user_id: str
) -> str:
    """Delete a user (`user.delete`; never oneself); refused (409 `user_in_use`) while other
    records refer to them — disable them instead. Their id."""
    authorize(principal, "user.delete")
    row = await _user(conn, principal, user_id, "delete")
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
    await record(conn, origin, action="delete", resource="user", resource_id=row.id,
                 hall=None, old=old, now_ms=now_ms())  # fmt: skip
    return str(row.id)


async def reset_password(
    conn: AsyncConnection,
    principal: Principal,
    origin: Origin,
    user_id: str,
    password: str | None = None,
) -> Issued:
    """Set a user's password (`user.edit`): the given one, or a generated one returned once;
    their lock is lifted and every session of theirs ends."""
    authorize(principal, "user.edit")
    now = now_ms()
    row = await _user(conn, principal, user_id, "edit")
    chosen = password or initial_password()
    problem = password_problem(chosen, row.username)
    if problem is not None:
        raise ApiError("weak_password", problem)
    await set_password(conn, row.id, chosen, now, keep_session=None)
    await conn.execute(
        users.update().where(users.c.id == row.id).values(failed_logins=0, locked_until=None)
    )
    await record(conn, origin, action="update", resource="user", resource_id=row.id,
                 hall=None, new={"password_changed_at": now}, now_ms=now)  # fmt: skip
    return Issued({"id": row.id, "username": row.username, "name": row.name},
                  None if password else chosen)  # fmt: skip


async def set_memberships(
    conn: AsyncConnection, principal: Principal, origin: Origin, user_id: str, body: Memberships
) -> dict[str, list[str]]:
    """Replace a user's roles and role groups (`user.edit`; a non-superuser never their own);
    the roles and groups added hold nothing the principal does not. The new memberships."""
    authorize(principal, "user.edit")
    row = await _user(conn, principal, user_id, "edit")
    if row.id == principal.id and not principal.superuser:
        raise ApiError("cannot_change_self")
    before = await _memberships(conn, row.id)
    await _replace_memberships(conn, principal, row.id, body.roles, body.groups, before)
    after = await _memberships(conn, row.id)
    await record(conn, origin, action="update", resource="user", resource_id=row.id,
                 hall=None, old=before, new=after, now_ms=now_ms())  # fmt: skip
    return after


async def users_of_role(
    conn: AsyncConnection, principal: Principal, role_id: str
) -> list[dict[str, Any]]:
    """The users holding a role, directly or through a role group, that the principal may
    see."""
    authorize(principal, "role.read")
    authorize(principal, "user.view")
    role = await visible_role(conn, principal, role_id, "read")
    rows = (
        await conn.execute(
            _listing()
            .where(users.c.id.in_(_holders_of(role.id)), _visible(principal))
            .order_by(users.c.username)
        )
    ).all()
    return [await _user_json(conn, r) for r in rows]


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


async def _replace_memberships(
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
