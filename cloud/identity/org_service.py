"""Managing the organisation (§3.9, §21.3.7–21.3.9) for a principal: the tree they may see,
creating, renaming, moving (切换), disabling and deleting units — each change checked against
the principal's rights and data scope and written to the audit log on the caller's connection.

A unit is a record of itself: its data scope is the unit (`dept`: the caller's own unit,
`dept_tree`: their unit and everything below it). Creating or moving a unit needs the right
over the parent it goes under; a root needs the scope `all`. The HTTP API (`org_api.py`) and
the portal's pages call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import POLICIES, AuditPolicy, Origin, record
from cloud.calls import now_ms
from cloud.db import halls
from cloud.errors import ApiError, register_errors
from cloud.identity.org import Kind, create_unit, move_unit
from cloud.identity.permissions import register_resource
from cloud.identity.principal import (
    Principal,
    authorize,
    check_record,
    in_scope,
    scope_clause,
)
from cloud.identity.tables import org_closure, org_units, roles, users

__all__ = [
    "KIND_LABELS",
    "NewUnit",
    "UnitChange",
    "UnitTree",
    "add_unit",
    "change_unit",
    "may_place",
    "read_unit",
    "remove_unit",
    "unit_json",
    "visible_units",
]

register_resource("org", "组织机构")
POLICIES["org_unit"] = AuditPolicy("org_unit", "组织机构")
register_errors(
    {
        "org_unit_in_use": (409, "该机构下还有下级机构、用户或角色，不能删除"),
        "org_code_taken": (409, "机构编码已被使用"),
        "hall_linked": (409, "该大厅已关联到另一个网点"),
        "hall_needs_site": (422, "只有网点可以关联大厅"),
    }
)

KIND_LABELS: dict[str, str] = {"region": "区域", "department": "部门", "site": "网点"}


class NewUnit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: str = Field(min_length=1, max_length=200)
    parent_id: str | None = Field(None, max_length=64)
    code: str | None = Field(None, min_length=1, max_length=64)
    short_name: str | None = Field(None, max_length=100)
    hall: str | None = Field(None, max_length=64)
    head_user_id: str | None = Field(None, max_length=64)
    sort: int = Field(0, ge=-1_000_000, le=1_000_000)


class UnitChange(BaseModel):
    """What changes of a unit: only the fields set (`model_dump(exclude_unset=True)`)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    parent_id: str | None = Field(None, max_length=64)
    code: str | None = Field(None, min_length=1, max_length=64)
    short_name: str | None = Field(None, max_length=100)
    hall: str | None = Field(None, max_length=64)
    head_user_id: str | None = Field(None, max_length=64)
    sort: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    disabled: bool | None = None


@dataclass(frozen=True)
class UnitTree:
    """The units a principal may see: flat (parents before children, each with its `depth`
    in the shown tree) and as a tree whose roots are the units whose parent they cannot see."""

    units: list[dict[str, Any]]
    tree: list[dict[str, Any]]


async def may_place(
    conn: AsyncConnection, principal: Principal, permission: str, department: str | None
) -> bool:
    """Whether the principal may put a new record of `permission`'s resource in `department`
    (None: outside every department, which takes the scope `all`). With the scope `own`, a
    user places records in their own department only."""
    scope = principal.scope(permission)
    if scope is None:
        return False
    if scope == "all":
        return True
    if department is None:
        return False
    if scope == "own":
        return department == principal.department_id
    return await in_scope(conn, principal, permission, department=department, owner=None)


def unit_json(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "parent_id": row.parent_id,
        "kind": row.kind,
        "name": row.name,
        "short_name": row.short_name,
        "code": row.code,
        "hall": row.hall,
        "head_user_id": row.head_user_id,
        "sort": row.sort,
        "disabled": bool(row.disabled),
        "created_at": row.created_at,
    }


async def visible_units(conn: AsyncConnection, principal: Principal) -> UnitTree:
    """The units the principal may see (`org.view`)."""
    authorize(principal, "org.view")
    depth = (
        sa.select(sa.func.max(org_closure.c.depth))
        .where(org_closure.c.descendant == org_units.c.id)
        .scalar_subquery()
    )
    statement = (
        sa.select(org_units)
        .where(scope_clause(principal, "org.view", department=org_units.c.id, owner=None))
        .order_by(depth, org_units.c.sort, org_units.c.name, org_units.c.id)
    )
    flat = [unit_json(r) for r in (await conn.execute(statement)).all()]
    nodes = {u["id"]: {**u, "children": []} for u in flat}
    tree: list[dict[str, Any]] = []
    for unit in flat:
        parent = nodes.get(unit["parent_id"]) if unit["parent_id"] else None
        (parent["children"] if parent is not None else tree).append(nodes[unit["id"]])
    return UnitTree(units=flat, tree=tree)


async def read_unit(
    conn: AsyncConnection, principal: Principal, unit_id: str
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """One unit (`org.read`) and the path of units above it, root first."""
    authorize(principal, "org.read")
    row = await _unit(conn, principal, unit_id, "read")
    above = (
        await conn.execute(
            sa.select(org_units.c.id, org_units.c.name)
            .join(org_closure, org_closure.c.ancestor == org_units.c.id)
            .where(org_closure.c.descendant == row.id, org_closure.c.depth > 0)
            .order_by(org_closure.c.depth.desc())
        )
    ).all()
    return unit_json(row), [{"id": a.id, "name": a.name} for a in above]


async def add_unit(
    conn: AsyncConnection, principal: Principal, origin: Origin, body: NewUnit
) -> dict[str, Any]:
    """Create a unit under `body.parent_id` (`org.create` over the parent); the new unit."""
    authorize(principal, "org.create")
    now = now_ms()
    if body.parent_id is not None:
        await _unit(conn, principal, body.parent_id, "view")
    if not await may_place(conn, principal, "org.create", body.parent_id):
        raise ApiError("forbidden_operation", "org.create")
    await _check_links(conn, body.kind, None, body.code, body.hall, body.head_user_id)
    unit_id = await create_unit(conn, **body.model_dump(), now_ms=now)
    row = (await conn.execute(sa.select(org_units).where(org_units.c.id == unit_id))).one()
    await record(conn, origin, action="create", resource="org_unit", resource_id=unit_id,
                 hall=body.hall, new=unit_json(row), now_ms=now)  # fmt: skip
    return unit_json(row)


async def change_unit(
    conn: AsyncConnection, principal: Principal, origin: Origin, unit_id: str, body: UnitChange
) -> dict[str, Any]:
    """Change the fields set in `body` (`org.edit`); a new parent needs the right over it and
    may not lie below the unit. The changed unit."""
    authorize(principal, "org.edit")
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "sort", "disabled"):
        if name in changes and changes[name] is None:
            raise ApiError("invalid_request", f"{name} 不能为空")
    old = await _unit(conn, principal, unit_id, "edit")
    if "parent_id" in changes and changes["parent_id"] != old.parent_id:
        parent = changes["parent_id"]
        if parent is not None:
            await _unit(conn, principal, parent, "view")
        if not await may_place(conn, principal, "org.edit", parent):
            raise ApiError("forbidden_operation", "org.edit")
        await move_unit(conn, old.id, parent)
    changes.pop("parent_id", None)
    await _check_links(conn, old.kind, old.id, changes.get("code"), changes.get("hall"),
                       changes.get("head_user_id"))  # fmt: skip
    if changes:
        await conn.execute(org_units.update().where(org_units.c.id == old.id).values(**changes))
    new = (await conn.execute(sa.select(org_units).where(org_units.c.id == old.id))).one()
    await record(conn, origin, action="update", resource="org_unit", resource_id=old.id,
                 hall=new.hall, old=unit_json(old), new=unit_json(new),
                 now_ms=now_ms())  # fmt: skip
    return unit_json(new)


async def remove_unit(
    conn: AsyncConnection, principal: Principal, origin: Origin, unit_id: str
) -> str:
    """Delete a unit (`org.delete`): refused (409 `org_unit_in_use`, naming what) while units,
    users, roles or another capability's records still belong to it. Its id."""
    authorize(principal, "org.delete")
    old = await _unit(conn, principal, unit_id, "delete")
    for table, column, what in (
        (org_units, org_units.c.parent_id, "下级机构"),
        (users, users.c.department_id, "用户"),
        (roles, roles.c.department_id, "角色"),
    ):
        found = await conn.scalar(sa.select(table.c.id).where(column == old.id).limit(1))
        if found is not None:
            raise ApiError("org_unit_in_use", f"还有{what}")
    await conn.execute(
        org_closure.delete().where(
            sa.or_(org_closure.c.descendant == old.id, org_closure.c.ancestor == old.id)
        )
    )
    try:
        async with conn.begin_nested():
            await conn.execute(org_units.delete().where(org_units.c.id == old.id))
    except sa.exc.IntegrityError:
        # another capability's records still belong to the unit
        raise ApiError("org_unit_in_use", "还有其他业务数据") from None
    await record(conn, origin, action="delete", resource="org_unit", resource_id=old.id,
                 hall=old.hall, old=unit_json(old), now_ms=now_ms())  # fmt: skip
    return str(old.id)


# ---------------------------------------------------------------------------- helpers


async def _unit(conn: AsyncConnection, principal: Principal, unit_id: str, right: str) -> Any:
    """The unit, after checking the principal's `right` over it (404 when they cannot see
    it)."""
    row = (await conn.execute(sa.select(org_units).where(org_units.c.id == unit_id))).first()
    if row is None:
        raise ApiError("unknown_org_unit", unit_id)
    await check_record(conn, principal, "org", right, department=row.id, owner=None,
                       not_found="unknown_org_unit")  # fmt: skip
    return row


async def _check_links(
    conn: AsyncConnection,
    kind: str,
    unit_id: str | None,
    code: str | None,
    hall: str | None,
    head_user_id: str | None,
) -> None:
    """Refuse a taken code, a hall on a unit that is not a site or already linked elsewhere,
    and an unknown head."""
    others = org_units.c.id != unit_id if unit_id is not None else sa.true()
    if code is not None:
        taken = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.code == code, others))
        if taken is not None:
            raise ApiError("org_code_taken", code)
    if hall is not None:
        if kind != "site":
            raise ApiError("hall_needs_site")
        if await conn.scalar(sa.select(halls.c.id).where(halls.c.id == hall)) is None:
            raise ApiError("unknown_hall", hall)
        linked = await conn.scalar(
            sa.select(org_units.c.id).where(org_units.c.hall == hall, others)
        )
        if linked is not None:
            raise ApiError("hall_linked", hall)
    head = sa.select(users.c.id).where(users.c.id == head_user_id)
    if head_user_id is not None and await conn.scalar(head) is None:
        raise ApiError("unknown_user", head_user_id)
