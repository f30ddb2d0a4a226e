"""The portal's menu as data (菜单管理, §21.3.6).

A capability declares its entries once, at import: `contribute(MenuEntry(...))`. When a worker
starts, the entries missing from the `menus` table are inserted (`install_menus`); an entry an
administrator has edited keeps their edits, and one they deleted stays hidden (deleting a
contributed entry hides it instead, or the next start would bring it back). A signed-in user
sees the visible entries whose permission they hold, with the parents of every entry shown
(`menu_for`). Administrators maintain the table (`list_menus`, `add_menu`, `change_menu`,
`remove_menu`, called by the API and the portal; `menu.*` permissions — the menu belongs to
no department, so any scope of a right is enough).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import POLICIES, AuditPolicy, Origin, record
from cloud.calls import answer, caller, now_ms, read_body
from cloud.context import ENGINE
from cloud.db import insert_ignoring_conflicts
from cloud.errors import ApiError, register_errors
from cloud.identity.permissions import PERMISSIONS, register_resource
from cloud.identity.principal import Principal, authorize
from cloud.identity.tables import menus

__all__ = [
    "CONTRIBUTED",
    "MenuChange",
    "MenuEntry",
    "NewMenu",
    "add_menu",
    "change_menu",
    "contribute",
    "install_menus",
    "list_menus",
    "menu_for",
    "remove_menu",
    "routes",
]


@dataclass(frozen=True)
class MenuEntry:
    """One entry of the portal's menu; `permission` None: shown to everyone signed in (a
    parent without a path is shown only when one of its children is)."""

    id: str
    title: str
    path: str | None = None
    permission: str | None = None
    parent: str | None = None
    sort: int = 0
    icon: str | None = None


CONTRIBUTED: dict[str, MenuEntry] = {}


def contribute(entry: MenuEntry) -> MenuEntry:
    """Declare a menu entry (at import of the capability that serves it)."""
    known = CONTRIBUTED.get(entry.id)
    if known is not None and known != entry:
        raise ValueError(f"menu entry {entry.id!r} contributed twice: {known} and {entry}")
    CONTRIBUTED[entry.id] = entry
    return entry


async def install_menus(conn: AsyncConnection) -> int:
    """Insert the contributed entries the table lacks, parents first; how many."""
    existing = set((await conn.scalars(sa.select(menus.c.id))).all())
    added = 0
    pending = [e for e in CONTRIBUTED.values() if e.id not in existing]
    while pending:
        ready = [e for e in pending if e.parent is None or e.parent in existing]
        if not ready:
            missing = sorted({str(e.parent) for e in pending})
            raise ValueError(f"menu entries hang under unknown parents: {missing}")
        for entry in ready:
            values = asdict(entry)
            values["parent_id"] = values.pop("parent")
            await conn.execute(insert_ignoring_conflicts(conn, menus).values(**values))
            existing.add(entry.id)
            added += 1
        pending = [e for e in pending if e.id not in existing]
    return added


async def menu_for(conn: AsyncConnection, principal: Principal) -> list[dict[str, Any]]:
    """The principal's menu as a tree: visible entries whose permission they hold, and the
    parents of those."""
    rows = (await conn.execute(sa.select(menus).order_by(menus.c.sort, menus.c.id))).all()
    children: dict[str | None, list[sa.Row[Any]]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)

    def shown(parent: str | None) -> list[dict[str, Any]]:
        out = []
        for row in children.get(parent, []):
            if not row.visible:
                continue  # with everything below it
            below = shown(row.id)
            held = row.permission is None or principal.can(row.permission)
            # a parent is there for its children, a page for whoever may open it
            if below or (held and row.path):
                out.append({"id": row.id, "title": row.title, "path": row.path,
                            "icon": row.icon, "children": below})  # fmt: skip
        return out

    return shown(None)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/identity/menus", _list),
        web.post("/api/identity/menus", _create),
        web.patch("/api/identity/menus/{id}", _change),
        web.delete("/api/identity/menus/{id}", _delete),
    ]


register_resource("menu", "菜单")
POLICIES["menu"] = AuditPolicy("menu", "菜单")
register_errors(
    {
        "unknown_menu": (404, "菜单不存在"),
        "menu_exists": (409, "菜单编号已存在"),
        "menu_has_children": (409, "该菜单下还有子菜单，不能删除"),
        "menu_cycle": (422, "不能把菜单移到它自己或它的下级之下"),
        "unknown_permission": (422, "权限代码不存在"),
    }
)

_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class NewMenu(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1, max_length=100)
    path: str | None = Field(None, max_length=200)
    permission: str | None = Field(None, max_length=100)
    parent_id: str | None = Field(None, max_length=64)
    sort: int = Field(0, ge=-1_000_000, le=1_000_000)
    icon: str | None = Field(None, max_length=64)
    visible: bool = True


class MenuChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=100)
    path: str | None = Field(None, max_length=200)
    permission: str | None = Field(None, max_length=100)
    parent_id: str | None = Field(None, max_length=64)
    sort: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    icon: str | None = Field(None, max_length=64)
    visible: bool | None = None


async def list_menus(conn: AsyncConnection, principal: Principal) -> list[dict[str, Any]]:
    """Every entry of the menu table (`menu.view`), by sort."""
    authorize(principal, "menu.view")
    rows = (await conn.execute(sa.select(menus).order_by(menus.c.sort, menus.c.id))).all()
    return [_entry(r) for r in rows]


async def add_menu(
    conn: AsyncConnection, principal: Principal, origin: Origin, body: NewMenu
) -> dict[str, Any]:
    """A new entry (`menu.create`); the entry's values."""
    authorize(principal, "menu.create")
    _check_permission(body.permission)
    values = body.model_dump()
    if await _row(conn, body.id) is not None:
        raise ApiError("menu_exists", body.id)
    if body.parent_id is not None and await _row(conn, body.parent_id) is None:
        raise ApiError("unknown_menu", body.parent_id)
    await conn.execute(menus.insert().values(**values))
    await record(conn, origin, action="create", resource="menu", resource_id=body.id,
                 hall=None, new=values, now_ms=now_ms())  # fmt: skip
    return values


async def change_menu(
    conn: AsyncConnection, principal: Principal, origin: Origin, menu_id: str, body: MenuChange
) -> dict[str, Any]:
    """Change the fields set in `body` (`menu.edit`); the changed entry."""
    authorize(principal, "menu.edit")
    changes = body.model_dump(exclude_unset=True)
    if "title" in changes and changes["title"] is None:
        raise ApiError("invalid_request", "title 不能为空")
    if changes.get("visible", True) is None or changes.get("sort", 0) is None:
        raise ApiError("invalid_request", "visible、sort 不能为空")
    _check_permission(changes.get("permission"))
    old = await _row(conn, menu_id)
    if old is None:
        raise ApiError("unknown_menu", menu_id)
    parent = changes.get("parent_id")
    if parent is not None:
        await _check_parent(conn, menu_id, parent)
    if changes:
        await conn.execute(menus.update().where(menus.c.id == menu_id).values(**changes))
    new = await _row(conn, menu_id)
    assert new is not None
    await record(conn, origin, action="update", resource="menu", resource_id=menu_id,
                 hall=None, old=old, new=new, now_ms=now_ms())  # fmt: skip
    return new


async def remove_menu(
    conn: AsyncConnection, principal: Principal, origin: Origin, menu_id: str
) -> bool:
    """Delete an entry (`menu.delete`; refused while it has children); a contributed entry is
    hidden instead, or the next start would bring it back. Whether it was hidden."""
    authorize(principal, "menu.delete")
    old = await _row(conn, menu_id)
    if old is None:
        raise ApiError("unknown_menu", menu_id)
    child = await conn.scalar(sa.select(menus.c.id).where(menus.c.parent_id == menu_id))
    if child is not None:
        raise ApiError("menu_has_children", child)
    if menu_id in CONTRIBUTED:
        await conn.execute(menus.update().where(menus.c.id == menu_id).values(visible=False))
        await record(conn, origin, action="update", resource="menu", resource_id=menu_id,
                     hall=None, old=old, new={**old, "visible": False},
                     now_ms=now_ms())  # fmt: skip
        return True
    await conn.execute(menus.delete().where(menus.c.id == menu_id))
    await record(conn, origin, action="delete", resource="menu", resource_id=menu_id,
                 hall=None, old=old, now_ms=now_ms())  # fmt: skip
    return False


async def _list(request: web.Request) -> web.Response:
    principal, _ = await caller(request)
    async with request.app[ENGINE].connect() as conn:
        return answer({"menus": await list_menus(conn, principal)})


async def _create(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "menu.create")  # before the body: no right, no word on the body
    body = await read_body(request, NewMenu)
    async with request.app[ENGINE].begin() as conn:
        values = await add_menu(conn, principal, who, body)
    return answer({"menu": values}, status=201)


async def _change(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    authorize(principal, "menu.edit")
    body = await read_body(request, MenuChange)
    async with request.app[ENGINE].begin() as conn:
        new = await change_menu(conn, principal, who, request.match_info["id"], body)
    return answer({"menu": new})


async def _delete(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    menu_id = request.match_info["id"]
    async with request.app[ENGINE].begin() as conn:
        hidden = await remove_menu(conn, principal, who, menu_id)
    return answer({"deleted": menu_id, "hidden": hidden})


def _check_permission(permission: str | None) -> None:
    if permission is not None and permission not in PERMISSIONS:
        raise ApiError("unknown_permission", permission)


async def _check_parent(conn: AsyncConnection, menu_id: str, parent: str) -> None:
    """Refuse a parent that does not exist or lies below the entry itself."""
    at: str | None = parent
    seen = set()
    while at is not None:
        if at == menu_id:
            raise ApiError("menu_cycle")
        if at in seen:
            break
        seen.add(at)
        row = await _row(conn, at)
        if row is None:
            raise ApiError("unknown_menu", at)
        at = row["parent_id"]


async def _row(conn: AsyncConnection, menu_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(menus).where(menus.c.id == menu_id))).first()
    return _entry(row) if row is not None else None


def _entry(row: sa.Row[Any]) -> dict[str, Any]:
    return {**row._asdict(), "contributed": row.id in CONTRIBUTED}


# the identity's own entries, and the home page
for _entry_of_identity in (
    MenuEntry("home", "工作台", "/portal/", None, None, 0, "home"),
    MenuEntry("system", "系统管理", None, None, None, 900, "settings"),
    MenuEntry("system.org", "组织机构", "/portal/org", "org.view", "system", 10),
    MenuEntry("system.users", "用户管理", "/portal/users", "user.view", "system", 20),
    MenuEntry("system.roles", "角色管理", "/portal/roles", "role.view", "system", 30),
    MenuEntry("system.role_groups", "角色组", "/portal/role-groups", "role.view", "system", 40),
    MenuEntry("system.menus", "菜单管理", "/portal/menus", "menu.view", "system", 50),
    MenuEntry("system.audit", "审计日志", "/portal/audit", "audit.read", "system", 60),
    MenuEntry("system.calendar", "行事历", "/portal/calendar", "calendar.read", "system", 70),
):
    contribute(_entry_of_identity)
