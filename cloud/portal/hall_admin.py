"""The portal's 办事厅维护 (§21.2.1): registering a hall with the site (网点) it belongs to and
showing its token once, renaming it, disabling and enabling it, and where its sync stands.

Registering needs `hall.manage` with the scope `all` (a new hall belongs to no unit yet, as
the API's `POST /api/halls`); a hall's page needs `hall.read` or `hall.manage` over the hall's
site unit (else 404, as if it were not there), its changes `hall.manage` (else 403). Halls are
never deleted — their history stays — and the page says so.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.db import halls
from cloud.errors import ApiError
from cloud.hallconfig.access import check_hall
from cloud.halls import (
    NAME_LENGTH,
    SitePlace,
    SyncSummary,
    register_hall_at_site,
    rename_hall,
    replace_secret,
    set_disabled,
    sync_status,
    sync_summaries,
)
from cloud.identity.org_service import KIND_LABELS
from cloud.identity.principal import Principal, hall_unit, in_scope
from cloud.identity.tables import org_units
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.render import now_ms, page, redirect, render

__all__ = ["MANAGE", "READ", "add_routes", "may_register", "relative_time", "sync_lines"]

MANAGE = "hall.manage"
READ = "hall.read"
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_RESERVED_IDS = frozenset({"new"})  # /portal/halls/new is the form
# a refusal of the registration next to the field it is about
_FIELD_OF = {
    "hall_exists": "id",
    "unknown_site": "site_id",
    "site_has_hall": "site_id",
    "unknown_org_unit": "parent_id",
    "site_parent_kind": "parent_id",
}


def add_routes(app: web.Application) -> None:
    """Before the hall configuration's routes: `/portal/halls/new` is no hall's page."""
    app.router.add_get("/portal/halls/new", page(_new))
    app.router.add_post("/portal/halls/new", page(_create))
    base = "/portal/halls/{hall}/admin"
    app.router.add_get(base, page(_hall))
    app.router.add_post(base + "/name", page(_rename))
    app.router.add_post(base + "/{change:disable|enable}", page(_disable))
    app.router.add_post(base + "/secret", page(_replace_secret))


def may_register(me: Principal) -> bool:
    """Whether the principal may register halls: `hall.manage` over every record."""
    return me.scope(MANAGE) == "all"


def relative_time(at_ms: int | None, now: int, *, never: str = "从未连接") -> str:
    """A moment before `now` in words: 刚刚, 3 分钟前, 2 小时前, 5 天前."""
    if at_ms is None:
        return never
    seconds = max(0, (now - at_ms) // 1000)
    for size, unit in ((86_400, "天"), (3_600, "小时"), (60, "分钟")):
        if seconds >= size:
            return f"{seconds // size} {unit}前"
    return "刚刚"


def sync_lines(summary: SyncSummary | None, now: int) -> dict[str, str]:
    """A hall's sync summary as the list and the hall's page show it."""
    if summary is None:
        return {"contact": "从未连接", "heartbeat": "从未连接", "through": "—", "state": "never"}
    through = summary.synced_through
    return {
        "contact": relative_time(summary.last_contact, now),
        "heartbeat": relative_time(summary.last_heartbeat, now, never="尚无"),
        "through": relative_time(through, now, never="—") if through is not None else "—",
        "state": "never" if summary.last_contact is None else "seen",
    }


# ---------------------------------------------------------------------------- registering


async def _new(request: web.Request, me: Principal) -> web.StreamResponse:
    _authorize_register(me)
    values = {"site_mode": "new"}
    return await _form(request, me, values, FormErrors())


async def _create(request: web.Request, me: Principal) -> web.StreamResponse:
    _authorize_register(me)
    form = await request.post()
    values = {
        name: form_text(form, name, 300)
        for name in ("id", "name", "site_mode", "site_id", "site_name", "parent_id")
    }
    errors = _checked(values)
    answer: dict[str, Any] | None = None
    if not errors:
        place = (
            SitePlace(site_id=values["site_id"])
            if values["site_mode"] == "existing"
            else SitePlace(site_name=values["site_name"], parent_id=values["parent_id"])
        )
        try:
            answer = await register_hall_at_site(request.app[ENGINE], values["id"],
                                                 values["name"], place, now_ms(),
                                                 origin(request, me))  # fmt: skip
        except ApiError as exc:
            if exc.status in (401, 403):
                raise
            errors.add(_FIELD_OF.get(exc.code, ""), exc.message)
    if answer is None:
        return await _form(request, me, values, errors, status=422)
    cloud_url = f"{request.scheme}://{request.host}"
    return await render(
        request, "hall_admin_created.html", me, status=201, hall=answer["hall"],
        token=answer["token"], secret=answer["secret"], cloud_url=cloud_url,
    )  # fmt: skip


# ---------------------------------------------------------------------------- one hall


async def _hall(request: web.Request, me: Principal) -> web.StreamResponse:
    return await _hall_page(request, me, values={}, errors={})


async def _rename(request: web.Request, me: Principal) -> web.StreamResponse:
    hall_id = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        _, can_manage = await _reach(conn, me, hall_id)
    if not can_manage:
        raise ApiError("forbidden_operation", MANAGE)
    form = await request.post()
    name = form_text(form, "name", NAME_LENGTH + 1)
    if not name:
        return await _hall_with_error(request, me, name, "请填写大厅名称")
    if len(name) > NAME_LENGTH:
        return await _hall_with_error(request, me, name, f"不能超过 {NAME_LENGTH} 个字符")
    await rename_hall(request.app[ENGINE], hall_id, name, now_ms(), origin(request, me))
    return redirect(f"/portal/halls/{hall_id}/admin", "saved")


async def _disable(request: web.Request, me: Principal) -> web.StreamResponse:
    hall_id, change = request.match_info["hall"], request.match_info["change"]
    async with request.app[ENGINE].connect() as conn:
        _, can_manage = await _reach(conn, me, hall_id)
    if not can_manage:
        raise ApiError("forbidden_operation", MANAGE)
    disabled = change == "disable"
    await set_disabled(request.app[ENGINE], hall_id, disabled, now_ms(), origin(request, me))
    return redirect(f"/portal/halls/{hall_id}/admin", "disabled" if disabled else "enabled")


async def _replace_secret(request: web.Request, me: Principal) -> web.StreamResponse:
    """换发密钥: a new token shown once, the old one refused from now on."""
    hall_id = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        _, can_manage = await _reach(conn, me, hall_id)
    if not can_manage:
        raise ApiError("forbidden_operation", MANAGE)
    await request.post()
    answer = await replace_secret(request.app[ENGINE], hall_id, now_ms(), origin(request, me))
    cloud_url = f"{request.scheme}://{request.host}"
    return await render(
        request, "hall_admin_created.html", me, hall=answer["hall"], token=answer["token"],
        secret=answer["secret"], cloud_url=cloud_url, replaced=True,
    )  # fmt: skip


# ---------------------------------------------------------------------------- helpers


def _authorize_register(me: Principal) -> None:
    if not may_register(me):
        raise ApiError("forbidden_operation", f"{MANAGE}（需要全部数据范围）")


def _checked(values: dict[str, str]) -> FormErrors:
    errors = FormErrors()
    hall_id = values["id"]
    if not hall_id:
        errors.add("id", "请填写大厅编号")
    elif not _ID.match(hall_id) or hall_id in _RESERVED_IDS:
        errors.add("id", "只能用字母、数字和 _ . : -，不超过 64 个字符（不能是 new）")
    if not values["name"]:
        errors.add("name", "请填写大厅名称")
    elif len(values["name"]) > NAME_LENGTH:
        errors.add("name", f"不能超过 {NAME_LENGTH} 个字符")
    if values["site_mode"] == "existing":
        if not values["site_id"]:
            errors.add("site_id", "请选择网点")
    elif values["site_mode"] == "new":
        if not values["site_name"]:
            errors.add("site_name", "请填写新网点的名称")
        elif len(values["site_name"]) > 200:
            errors.add("site_name", "不能超过 200 个字符")
        if not values["parent_id"]:
            errors.add("parent_id", "请选择新网点的上级区域或部门")
    else:
        errors.add("site_mode", "请选择所属网点的方式")
    return errors


async def _form(
    request: web.Request,
    me: Principal,
    values: dict[str, str],
    errors: FormErrors,
    *,
    status: int = 200,
) -> web.Response:
    """The registration form with the sites still without a hall and the possible parents of
    a new site."""
    async with request.app[ENGINE].connect() as conn:
        units = (
            await conn.execute(
                sa.select(org_units.c.id, org_units.c.name, org_units.c.kind, org_units.c.hall)
                .where(org_units.c.disabled.is_(False))
                .order_by(org_units.c.sort, org_units.c.name, org_units.c.id)
            )
        ).all()
    sites = [(u.id, u.name) for u in units if u.kind == "site" and u.hall is None]
    parents = [(u.id, f"{u.name}（{KIND_LABELS[u.kind]}）") for u in units if u.kind != "site"]
    return await render(
        request, "hall_admin_new.html", me, status=status, values=values,
        errors=errors.by_field, sites=sites, parents=parents, name_length=NAME_LENGTH,
    )  # fmt: skip


async def _reach(conn: AsyncConnection, me: Principal, hall_id: str) -> tuple[Any, bool]:
    """The hall's row and whether the principal may manage it; 404 `unknown_hall` for a hall
    that is not there or that neither their `hall.read` nor their `hall.manage` reaches."""
    if not (me.can(READ) or me.can(MANAGE)):
        raise ApiError("forbidden_operation", READ)
    row = (await conn.execute(sa.select(halls).where(halls.c.id == hall_id))).first()
    if row is None:
        raise ApiError("unknown_hall", hall_id)
    unit = await hall_unit(conn, hall_id)
    reach = {p: await _covers(conn, me, p, unit) for p in (READ, MANAGE)}
    if not any(reach.values()):
        raise ApiError("unknown_hall", hall_id)
    return row, reach[MANAGE]


async def _covers(conn: AsyncConnection, me: Principal, permission: str, unit: str | None) -> bool:
    """As the API's guard: the scope `all` reaches every hall, another scope the halls whose
    site unit it covers."""
    scope = me.scope(permission)
    if scope is None:
        return False
    if scope == "all":
        return True
    if unit is None:
        return False
    return await in_scope(conn, me, permission, department=unit, owner=None)


async def _may_configure(conn: AsyncConnection, me: Principal, hall_id: str) -> bool:
    try:
        await check_hall(conn, me, hall_id, "view")
    except ApiError:
        return False
    return True


async def _site_of(conn: AsyncConnection, hall_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            sa.select(org_units.c.id, org_units.c.name).where(org_units.c.hall == hall_id).limit(1)
        )
    ).first()
    return {"id": row.id, "name": row.name} if row is not None else None


async def _hall_with_error(
    request: web.Request, me: Principal, typed: str, message: str
) -> web.Response:
    """The hall's page again with the rename form's refusal next to the name."""
    values = {"name": typed}
    return await _hall_page(request, me, values=values, errors={"name": message}, status=422)


async def _hall_page(
    request: web.Request,
    me: Principal,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> web.Response:
    """A hall's page: its name (a form for whoever may manage it), its site, whether it is
    disabled, and where its sync stands."""
    hall_id = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        row, can_manage = await _reach(conn, me, hall_id)
        site = await _site_of(conn, hall_id)
        can_configure = await _may_configure(conn, me, hall_id)
        summary = (await sync_summaries(conn, [hall_id])).get(hall_id)
    now = now_ms()
    sync = await sync_status(request.app[ENGINE], hall_id, now)
    return await render(
        request, "hall_admin_hall.html", me, status=status, hall=row, site=site,
        can_manage=can_manage, can_configure=can_configure, sync=sync, summary=summary,
        lines=sync_lines(summary, now), now=now, ago=relative_time, errors=errors,
        values={"name": row.name} | values, name_length=NAME_LENGTH,
    )  # fmt: skip
