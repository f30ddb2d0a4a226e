"""Managing roles, their grants and role groups (§21.3.4–21.3.5) for a principal, and the
permission catalogue the role editor offers. The HTTP API (`roles_api.py`) and the portal's
pages call these functions; each change is checked and audited on the caller's connection.

A role is a record of its department (`department_id`, none: a role of the whole system, which
takes the scope `all`), its owner the user who made it. A role group bundles roles; groups
belong to no department, so any scope of a `role.*` right reaches them, but the roles put into
one must be roles the caller may see.

**No privilege escalation**: a user who is not a superuser can only hand out what they hold
themselves — a grant they add or widen on a role must be one they hold with at least that
scope, and a role (or a group's roles) they give to a user must hold nothing more than they do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from cloud.audit import POLICIES, AuditPolicy, Origin, record
from cloud.calls import now_ms
from cloud.errors import ApiError, register_errors
from cloud.identity.org_service import may_place
from cloud.identity.permissions import PERMISSIONS, RIGHT_LABELS, register_resource
from cloud.identity.principal import (
    SCOPES,
    Principal,
    Scope,
    authorize,
    check_record,
    scope_clause,
)
from cloud.identity.tables import (
    org_units,
    role_grants,
    role_group_roles,
    role_groups,
    roles,
    user_role_groups,
    user_roles,
)

__all__ = [
    "SCOPE_LABELS",
    "GroupChange",
    "NewGroup",
    "NewRole",
    "RoleChange",
    "add_group",
    "add_role",
    "change_group",
    "change_role",
    "check_grantable",
    "grants_of_roles",
    "list_groups",
    "list_roles",
    "permission_catalogue",
    "put_grants",
    "read_group",
    "read_role",
    "remove_group",
    "remove_role",
    "visible_role",
]

register_resource("role", "角色")
for _policy in (AuditPolicy("role", "角色"), AuditPolicy("role_group", "角色组")):
    POLICIES[_policy.resource] = _policy
register_errors(
    {
        "unknown_role": (404, "角色不存在"),
        "unknown_role_group": (404, "角色组不存在"),
        "role_code_taken": (409, "角色编码已被使用"),
        "role_group_taken": (409, "角色组名称已被使用"),
        "unknown_permission": (422, "权限代码不存在"),
        "privilege_escalation": (403, "不能授予自己没有的权限或更大的数据范围"),
    }
)

SCOPE_LABELS: dict[Scope, str] = {
    "own": "本人",
    "dept": "本部门",
    "dept_tree": "本部门及下级",
    "all": "全部",
}

_CODE = r"^[A-Za-z0-9_.:-]{1,64}$"


class NewRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=_CODE)
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    department_id: str | None = Field(None, max_length=64)
    grants: dict[str, Scope] = Field(default_factory=dict)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(None, pattern=_CODE)
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    department_id: str | None = Field(None, max_length=64)


class NewGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    roles: list[str] = Field(default_factory=list, max_length=500)


class GroupChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    roles: list[str] | None = Field(None, max_length=500)


def check_grantable(principal: Principal, grants: Mapping[str, Scope]) -> None:
    """Refuse (403 `privilege_escalation`) grants the principal does not hold with at least
    their scope; unknown codes (422) first."""
    for permission, scope in grants.items():
        if permission not in PERMISSIONS:
            raise ApiError("unknown_permission", permission)
        held = principal.scope(permission)
        if held is None or SCOPES.index(held) < SCOPES.index(scope):
            raise ApiError("privilege_escalation", f"{permission}: {scope}")


async def grants_of_roles(conn: AsyncConnection, role_ids: Iterable[str]) -> dict[str, Scope]:
    """Everything the roles grant together, each permission with its widest scope."""
    ids = list(role_ids)
    widest: dict[str, Scope] = {}
    if not ids:
        return widest
    rows = await conn.execute(
        sa.select(role_grants.c.permission, role_grants.c.scope).where(
            role_grants.c.role_id.in_(ids)
        )
    )
    for permission, scope in rows:
        if permission not in widest or SCOPES.index(scope) > SCOPES.index(widest[permission]):
            widest[permission] = scope
    return widest


async def visible_role(
    conn: AsyncConnection, principal: Principal, role_id: str, right: str = "view"
) -> Any:
    """The role, after checking the principal's `right` over it (404 `unknown_role` when they
    cannot see it)."""
    row = (await conn.execute(sa.select(roles).where(roles.c.id == role_id))).first()
    if row is None:
        raise ApiError("unknown_role", role_id)
    await check_record(conn, principal, "role", right, department=row.department_id,
                       owner=row.created_by, not_found="unknown_role")  # fmt: skip
    return row


def permission_catalogue(principal: Principal) -> dict[str, Any]:
    """The permission catalogue grouped by area (each permission with its area's label and its
    own), with the data scopes and the rights, for the role editor."""
    if not (principal.can("role.view") or principal.can("role.edit")):
        authorize(principal, "role.view")
    areas: dict[str, dict[str, Any]] = {}
    for code in sorted(PERMISSIONS):
        label = PERMISSIONS[code]
        area, _, operation = code.partition(".")
        area_label, _, right_label = label.partition("：")
        group = areas.setdefault(area, {"area": area, "label": area_label, "permissions": []})
        group["permissions"].append(
            {"code": code, "label": label, "operation": operation, "short": right_label or label}
        )
    scopes = [{"scope": s, "label": SCOPE_LABELS[s]} for s in SCOPES]
    rights = [{"right": r, "label": label} for r, label in RIGHT_LABELS.items()]
    return {"areas": list(areas.values()), "scopes": scopes, "rights": rights}


async def list_roles(conn: AsyncConnection, principal: Principal) -> list[dict[str, Any]]:
    """The roles in the principal's scope (`role.view`), by code."""
    authorize(principal, "role.view")
    visible = scope_clause(
        principal, "role.view", department=roles.c.department_id, owner=roles.c.created_by
    )
    rows = (await conn.execute(sa.select(roles).where(visible).order_by(roles.c.code))).all()
    grants = await _grants_by_role(conn, [r.id for r in rows])
    return [_role_json(r, grants.get(r.id, {})) for r in rows]


async def read_role(conn: AsyncConnection, principal: Principal, role_id: str) -> dict[str, Any]:
    authorize(principal, "role.read")
    row = await visible_role(conn, principal, role_id, "read")
    grants = await _grants_by_role(conn, [row.id])
    return _role_json(row, grants.get(row.id, {}))


async def add_role(
    conn: AsyncConnection, principal: Principal, origin: Origin, body: NewRole
) -> dict[str, Any]:
    authorize(principal, "role.create")
    check_grantable(principal, body.grants)
    now = now_ms()
    role_id = str(ULID())
    await _check_department(conn, principal, "role.create", body.department_id)
    await _check_code(conn, body.code, None)
    values = body.model_dump(exclude={"grants"})
    await conn.execute(
        roles.insert().values(id=role_id, created_at=now, created_by=principal.id, **values)
    )
    await _replace_grants(conn, role_id, body.grants)
    row = (await conn.execute(sa.select(roles).where(roles.c.id == role_id))).one()
    new = _role_json(row, body.grants)
    await record(conn, origin, action="create", resource="role", resource_id=role_id,
                 hall=None, new=new, now_ms=now)  # fmt: skip
    return new


async def change_role(
    conn: AsyncConnection, principal: Principal, origin: Origin, role_id: str, body: RoleChange
) -> dict[str, Any]:
    """Change the fields set in `body` (`role.edit`); the changed role."""
    authorize(principal, "role.edit")
    changes = body.model_dump(exclude_unset=True)
    for name in ("code", "name"):
        if name in changes and changes[name] is None:
            raise ApiError("invalid_request", f"{name} 不能为空")
    old = await visible_role(conn, principal, role_id, "edit")
    if "department_id" in changes and changes["department_id"] != old.department_id:
        await _check_department(conn, principal, "role.edit", changes["department_id"])
    if "code" in changes:
        await _check_code(conn, changes["code"], old.id)
    if changes:
        await conn.execute(roles.update().where(roles.c.id == old.id).values(**changes))
    new = (await conn.execute(sa.select(roles).where(roles.c.id == old.id))).one()
    grants = (await _grants_by_role(conn, [old.id])).get(old.id, {})
    await record(conn, origin, action="update", resource="role", resource_id=old.id,
                 hall=None, old=_role_json(old, grants), new=_role_json(new, grants),
                 now_ms=now_ms())  # fmt: skip
    return _role_json(new, grants)


async def remove_role(
    conn: AsyncConnection, principal: Principal, origin: Origin, role_id: str
) -> str:
    authorize(principal, "role.delete")
    old = await visible_role(conn, principal, role_id, "delete")
    grants = (await _grants_by_role(conn, [old.id])).get(old.id, {})
    # its grants and its places in users and groups go with it (ON DELETE CASCADE, and
    # explicitly for SQLite, whose foreign keys may be off)
    for table in (role_grants, role_group_roles):
        await conn.execute(table.delete().where(table.c.role_id == old.id))
    await conn.execute(user_roles.delete().where(user_roles.c.role_id == old.id))
    await conn.execute(roles.delete().where(roles.c.id == old.id))
    await record(conn, origin, action="delete", resource="role", resource_id=old.id,
                 hall=None, old=_role_json(old, grants), now_ms=now_ms())  # fmt: skip
    return str(old.id)


async def put_grants(
    conn: AsyncConnection,
    principal: Principal,
    origin: Origin,
    role_id: str,
    grants: Mapping[str, Scope],
) -> dict[str, Any]:
    """Replace a role's grants (`role.edit`); what is added or widened must be the principal's
    to give (403 `privilege_escalation`). The role with its new grants."""
    authorize(principal, "role.edit")
    old = await visible_role(conn, principal, role_id, "edit")
    before = (await _grants_by_role(conn, [old.id])).get(old.id, {})
    added = {
        p: s
        for p, s in grants.items()
        if p not in before or SCOPES.index(s) > SCOPES.index(before[p])
    }
    unknown = [p for p in grants if p not in PERMISSIONS]
    if unknown:
        raise ApiError("unknown_permission", ", ".join(sorted(unknown)[:5]))
    check_grantable(principal, added)
    await _replace_grants(conn, old.id, grants)
    await record(conn, origin, action="update", resource="role", resource_id=old.id,
                 hall=None, old={"grants": before}, new={"grants": dict(grants)},
                 now_ms=now_ms())  # fmt: skip
    return _role_json(old, grants)


async def list_groups(conn: AsyncConnection, principal: Principal) -> list[dict[str, Any]]:
    authorize(principal, "role.view")
    rows = (await conn.execute(sa.select(role_groups).order_by(role_groups.c.name))).all()
    members = await _group_roles(conn, [r.id for r in rows])
    return [_group_json(r, members.get(r.id, [])) for r in rows]


async def read_group(conn: AsyncConnection, principal: Principal, group_id: str) -> dict[str, Any]:
    authorize(principal, "role.read")
    row = await _group(conn, group_id)
    members = (await _group_roles(conn, [row.id])).get(row.id, [])
    return _group_json(row, members)


async def add_group(
    conn: AsyncConnection, principal: Principal, origin: Origin, body: NewGroup
) -> dict[str, Any]:
    authorize(principal, "role.create")
    group_id = str(ULID())
    now = now_ms()
    await _check_group_name(conn, body.name, None)
    await _check_group_roles(conn, principal, body.roles, [])
    values = {"name": body.name, "description": body.description}
    await conn.execute(role_groups.insert().values(id=group_id, created_at=now, **values))
    await _replace_group_roles(conn, group_id, body.roles)
    row = await _group(conn, group_id)
    new = _group_json(row, sorted(set(body.roles)))
    await record(conn, origin, action="create", resource="role_group", resource_id=group_id,
                 hall=None, new=new, now_ms=now)  # fmt: skip
    return new


async def change_group(
    conn: AsyncConnection, principal: Principal, origin: Origin, group_id: str, body: GroupChange
) -> dict[str, Any]:
    authorize(principal, "role.edit")
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise ApiError("invalid_request", "name 不能为空")
    old = await _group(conn, group_id)
    before = (await _group_roles(conn, [old.id])).get(old.id, [])
    after = before
    if "name" in changes:
        await _check_group_name(conn, changes["name"], old.id)
    new_roles = changes.pop("roles", None)
    if new_roles is not None:
        await _check_group_roles(conn, principal, new_roles, before)
        await _replace_group_roles(conn, old.id, new_roles)
        after = sorted(set(new_roles))
    if changes:
        await conn.execute(role_groups.update().where(role_groups.c.id == old.id).values(**changes))
    new = await _group(conn, old.id)
    await record(conn, origin, action="update", resource="role_group", resource_id=old.id,
                 hall=None, old=_group_json(old, before), new=_group_json(new, after),
                 now_ms=now_ms())  # fmt: skip
    return _group_json(new, after)


async def remove_group(
    conn: AsyncConnection, principal: Principal, origin: Origin, group_id: str
) -> str:
    authorize(principal, "role.delete")
    old = await _group(conn, group_id)
    members = (await _group_roles(conn, [old.id])).get(old.id, [])
    for table in (role_group_roles, user_role_groups):
        await conn.execute(table.delete().where(table.c.group_id == old.id))
    await conn.execute(role_groups.delete().where(role_groups.c.id == old.id))
    await record(conn, origin, action="delete", resource="role_group", resource_id=old.id,
                 hall=None, old=_group_json(old, members), now_ms=now_ms())  # fmt: skip
    return str(old.id)


# ---------------------------------------------------------------------------- helpers


def _role_json(row: Any, grants: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "department_id": row.department_id,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "grants": dict(sorted(grants.items())),
    }


def _group_json(row: Any, members: list[str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "created_at": row.created_at,
        "roles": members,
    }


async def _grants_by_role(
    conn: AsyncConnection, role_ids: list[str]
) -> dict[str, dict[str, Scope]]:
    out: dict[str, dict[str, Scope]] = {}
    if not role_ids:
        return out
    rows = await conn.execute(sa.select(role_grants).where(role_grants.c.role_id.in_(role_ids)))
    for row in rows:
        out.setdefault(row.role_id, {})[row.permission] = row.scope
    return out


async def _replace_grants(conn: AsyncConnection, role_id: str, grants: Mapping[str, str]) -> None:
    await conn.execute(role_grants.delete().where(role_grants.c.role_id == role_id))
    if grants:
        await conn.execute(
            role_grants.insert(),
            [{"role_id": role_id, "permission": p, "scope": s} for p, s in grants.items()],
        )


async def _check_department(
    conn: AsyncConnection, principal: Principal, permission: str, department: str | None
) -> None:
    if department is not None:
        found = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.id == department))
        if found is None:
            raise ApiError("unknown_org_unit", department)
    if not await may_place(conn, principal, permission, department):
        raise ApiError("forbidden_operation", permission)


async def _check_code(conn: AsyncConnection, code: str, role_id: str | None) -> None:
    others = roles.c.id != role_id if role_id is not None else sa.true()
    if await conn.scalar(sa.select(roles.c.id).where(roles.c.code == code, others)) is not None:
        raise ApiError("role_code_taken", code)


async def _group(conn: AsyncConnection, group_id: str) -> Any:
    row = (await conn.execute(sa.select(role_groups).where(role_groups.c.id == group_id))).first()
    if row is None:
        raise ApiError("unknown_role_group", group_id)
    return row


async def _group_roles(conn: AsyncConnection, group_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not group_ids:
        return out
    rows = await conn.execute(
        sa.select(role_group_roles)
        .where(role_group_roles.c.group_id.in_(group_ids))
        .order_by(role_group_roles.c.role_id)
    )
    for row in rows:
        out.setdefault(row.group_id, []).append(row.role_id)
    return out


async def _check_group_name(conn: AsyncConnection, name: str, group_id: str | None) -> None:
    others = role_groups.c.id != group_id if group_id is not None else sa.true()
    taken = await conn.scalar(sa.select(role_groups.c.id).where(role_groups.c.name == name, others))
    if taken is not None:
        raise ApiError("role_group_taken", name)


async def _check_group_roles(
    conn: AsyncConnection, principal: Principal, wanted: list[str], before: list[str]
) -> None:
    """The roles put into a group must be visible to the caller, and the ones added hold
    nothing the caller does not."""
    added = sorted(set(wanted) - set(before))
    for role_id in added:
        await visible_role(conn, principal, role_id)
    check_grantable(principal, await grants_of_roles(conn, added))


async def _replace_group_roles(conn: AsyncConnection, group_id: str, wanted: list[str]) -> None:
    await conn.execute(role_group_roles.delete().where(role_group_roles.c.group_id == group_id))
    if wanted:
        await conn.execute(
            role_group_roles.insert(),
            [{"group_id": group_id, "role_id": r} for r in sorted(set(wanted))],
        )
