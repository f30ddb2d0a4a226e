"""The portal's pages of the halls' configuration (基础管理, §21.2; the queue's set-up, §4): the
halls in the user's scope, and per hall its calling areas, business categories with their
business types, windows and staff with their business types in priority order, and the preview
and publishing of the setup the edge pulls, or the import of the newest published one over
unpublished edits. A hall's own settings and voice are `cloud.portal.hall_settings_pages`;
registering, renaming and disabling halls (办事厅维护, §21.2.1) is `cloud.portal.hall_admin`.

Every page calls the hall configuration's services (cloud/hallconfig/): `check_hall` refuses a
user without `hall_config.<right>` (403) or whose scope does not reach the hall (404, as if it
were not there); the pieces are checked by the contract's own models and by the services.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.hallconfig.access import check_hall, halls_in_scope
from cloud.hallconfig.compiler import SECTIONS, import_newest
from cloud.hallconfig.pieces import (
    PIECES,
    create_piece,
    delete_piece,
    get_piece,
    list_pieces,
    update_piece,
)
from cloud.hallconfig.publishing import preview_setup, publish_setup
from cloud.halls import sync_summaries
from cloud.identity.principal import Principal
from cloud.portal import hall_admin, hall_settings_pages
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.hall_common import checked, hall_context, refused
from cloud.portal.hall_forms import (
    FORMS,
    FormField,
    read_form,
    values_of,
)
from cloud.portal.render import is_htmx, now_ms, page, redirect, render
from cloud.setups import lock_hall, newest_setup

__all__ = ["add_routes"]

_LISTED = "areas|categories|windows|staff"  # the tabs that list pieces
_PIECE = "areas|categories|business-types|windows|staff"
_TAB_OF = {"business-types": "categories"}  # a piece listed in another piece's tab
# the names of the setup's fields that no form shows
_OTHER_LABELS = {
    "timezone": "时区",
    "templates": "叫号用语",
    "prompts": "提示语",
    "areas": "区域语音",
}
_SECTION_TITLES = {
    "areas": "叫号区域",
    "categories": "业务大类",
    "business_types": "业务小类",
    "windows": "窗口",
    "staff": "工作人员",
}


def add_routes(app: web.Application) -> None:
    hall_admin.add_routes(app)  # first: /portal/halls/new is no hall's page
    base = "/portal/halls/{hall}"
    app.router.add_get("/portal/halls", page(_halls))
    hall_settings_pages.add_routes(app)  # the hall's own page, /portal/halls/{hall}, and voice
    app.router.add_get(base + "/preview", page(_preview))
    app.router.add_post(base + "/publish", page(_publish))
    app.router.add_post(base + "/import", page(_import))
    app.router.add_get(base + f"/{{piece:{_LISTED}}}", page(_list))
    app.router.add_get(base + f"/{{piece:{_PIECE}}}/new", page(_new))
    app.router.add_post(base + f"/{{piece:{_PIECE}}}/new", page(_create))
    app.router.add_get(base + f"/{{piece:{_PIECE}}}/{{item}}/edit", page(_edit))
    app.router.add_post(base + f"/{{piece:{_PIECE}}}/{{item}}/edit", page(_update))
    app.router.add_post(base + f"/{{piece:{_PIECE}}}/{{item}}/delete", page(_delete))
    app.router.add_post(base + "/{piece:windows|staff}/{item}/order", page(_reorder))


# ---------------------------------------------------------------------------- the halls


async def _halls(request: web.Request, me: Principal) -> web.StreamResponse:
    """The halls in the user's scope, their newest published version, whether their authored
    configuration differs from it (or is not complete yet), and where their sync stands."""
    async with request.app[ENGINE].connect() as conn:
        found = await halls_in_scope(conn, me)
        states = {h.id: await _state(conn, h.id) for h in found}
        summaries = await sync_summaries(conn, [h.id for h in found])
    now = now_ms()
    sync = {h.id: hall_admin.sync_lines(summaries.get(h.id), now) for h in found}
    return await render(
        request, "hall_list.html", me, halls=found, states=states, sync=sync,
        may_register=hall_admin.may_register(me),
    )  # fmt: skip


async def _state(conn: AsyncConnection, hall: str) -> str:
    preview = await preview_setup(conn, hall)
    if not preview["valid"]:
        return "incomplete"
    return "current" if preview["changes"]["unchanged"] else "pending"


# ---------------------------------------------------------------------------- settings, voice


# ---------------------------------------------------------------------------- the pieces


async def _list(request: web.Request, me: Principal) -> web.StreamResponse:
    hall, name = request.match_info["hall"], request.match_info["piece"]
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "view")
        context = await hall_context(conn, me, hall, name)
        items = await list_pieces(conn, PIECES[name], hall)
        types = await list_pieces(conn, PIECES["business-types"], hall)
        areas = await list_pieces(conn, PIECES["areas"], hall) if name == "windows" else []
    return await render(
        request, f"hall_{name}.html", me, items=items, types=types,
        type_names={t["id"]: t for t in types}, area_names={a["id"]: a["name"] for a in areas},
        **context,
    )  # fmt: skip


async def _new(request: web.Request, me: Principal) -> web.StreamResponse:
    hall, name = request.match_info["hall"], request.match_info["piece"]
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "create")
    values = values_of(FORMS[name], None)
    category = request.query.get("category")
    if name == "business-types" and category:
        values["category"] = category
    return await _piece_form(request, me, None, values, FormErrors())


async def _create(request: web.Request, me: Principal) -> web.StreamResponse:
    hall, name = request.match_info["hall"], request.match_info["piece"]
    piece, fields = PIECES[name], FORMS[name]
    async with request.app[ENGINE].connect() as conn:
        department = await check_hall(conn, me, hall, "create")
    form = await request.post()
    body, values, errors = read_form(fields, form, creating=True, table=piece.table)
    if not errors:
        errors = checked(piece.model, fields, _without_password(body))
    if not errors:
        try:
            async with request.app[ENGINE].begin() as conn:
                await lock_hall(conn, hall)
                await create_piece(conn, piece, hall, body, department=department,
                                   origin=origin(request, me), now_ms=now_ms())  # fmt: skip
        except ApiError as exc:
            refused(fields, exc, errors)
    if errors:
        return await _piece_form(request, me, None, values, errors, status=422)
    return redirect(_tab_address(hall, name), "created")


async def _edit(request: web.Request, me: Principal) -> web.StreamResponse:
    hall, name, item_id = _where(request)
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "edit")
        item = await get_piece(conn, PIECES[name], hall, item_id)
    values = values_of(FORMS[name], item)
    return await _piece_form(request, me, item, values, FormErrors())


async def _update(request: web.Request, me: Principal) -> web.StreamResponse:
    hall, name, item_id = _where(request)
    piece, fields = PIECES[name], FORMS[name]
    async with request.app[ENGINE].connect() as conn:
        department = await check_hall(conn, me, hall, "edit")
        item = await get_piece(conn, piece, hall, item_id)
    form = await request.post()
    body, values, errors = read_form(fields, form, creating=False, table=piece.table)
    values["id"] = item_id
    if not errors:
        stored = {k: v for k, v in item.items() if k in piece.model.model_fields}
        errors = checked(piece.model, fields, {**stored, **_without_password(body)})
    if not errors:
        try:
            async with request.app[ENGINE].begin() as conn:
                await lock_hall(conn, hall)
                await update_piece(conn, piece, hall, item_id, body, department=department,
                                   origin=origin(request, me), now_ms=now_ms())  # fmt: skip
        except ApiError as exc:
            refused(fields, exc, errors)
    if errors:
        return await _piece_form(request, me, item, values, errors, status=422)
    return redirect(_tab_address(hall, name), "saved")


async def _delete(request: web.Request, me: Principal) -> web.StreamResponse:
    """Delete a piece; one still used by another is refused (409) with the service's reason,
    shown in place of the page's notice."""
    hall, name, item_id = _where(request)
    async with request.app[ENGINE].begin() as conn:
        await check_hall(conn, me, hall, "delete")
        await lock_hall(conn, hall)
        await delete_piece(conn, PIECES[name], hall, item_id, origin=origin(request, me),
                           now_ms=now_ms())  # fmt: skip
    target = _tab_address(hall, name) + "?msg=deleted"
    if is_htmx(request):
        return web.Response(status=204, headers={"HX-Redirect": target})
    return redirect(target)


async def _reorder(request: web.Request, me: Principal) -> web.StreamResponse:
    """Move one business type of a window's (or staff member's) ordered list up or down, and
    store the whole list as the ordered-list endpoint does."""
    hall, name, item_id = _where(request)
    piece = PIECES[name]
    form = await request.post()
    moved, direction = form_text(form, "type", 64), form_text(form, "move")
    async with request.app[ENGINE].begin() as conn:
        department = await check_hall(conn, me, hall, "edit")
        await lock_hall(conn, hall)
        item = await get_piece(conn, piece, hall, item_id)
        order = list(item["business_types"])
        if moved not in order or direction not in ("up", "down"):
            raise ApiError("invalid_request", "请选择要移动的业务")
        at = order.index(moved)
        to = at - 1 if direction == "up" else at + 1
        if 0 <= to < len(order):
            order[at], order[to] = order[to], order[at]
            item = await update_piece(conn, piece, hall, item_id, {"business_types": order},
                                      department=department, origin=origin(request, me),
                                      now_ms=now_ms())  # fmt: skip
        types = await list_pieces(conn, PIECES["business-types"], hall)
    if not is_htmx(request):
        return redirect(_tab_address(hall, name), "saved")
    return await render(
        request, "hall_order.html", me, hall={"id": hall}, piece=name, item=item,
        type_names={t["id"]: t for t in types}, can={"edit": True},
    )  # fmt: skip


# ---------------------------------------------------------------------------- preview, publish


async def _preview(request: web.Request, me: Principal) -> web.StreamResponse:
    hall = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "read")
        context = await hall_context(conn, me, hall, "preview")
        preview = await preview_setup(conn, hall)
        newest = await newest_setup(conn, hall)
    published, imported = request.query.get("published", ""), request.query.get("imported", "")
    if published.isdigit() and newest is not None and int(published) <= newest[0]:
        # the flash of a publish, naming the version (only one that is stored)
        context["flash"] = f"已发布为第 {int(published)} 版，大厅将自动获取新配置"
    elif imported.isdigit() and newest is not None and int(imported) <= newest[0]:
        context["flash"] = f"已从第 {int(imported)} 版导入，未发布的修改已被覆盖"
    labels = {f.name: f.label for f in (*FORMS["settings"], *FORMS["voice"])} | _OTHER_LABELS
    names: dict[str, dict[str, str]] = {}
    if preview["valid"]:
        for section in SECTIONS:
            names[section] = {i["id"]: i["name"] for i in preview["setup"][section]}
    for section in SECTIONS:  # what the newest version had, for the removed
        for i in (newest[1] if newest is not None else {}).get(section, []):
            names.setdefault(section, {}).setdefault(i.get("id", ""), i.get("name", ""))
    voice_areas: list[str] = []  # the areas whose own voice changes
    if preview["valid"]:
        now = {a["area"]: a for a in preview["setup"]["voice"]["areas"]}
        before_voice = (newest[1] if newest is not None else {}).get("voice", {})
        before = {a.get("area"): a for a in before_voice.get("areas", [])}
        voice_areas = [
            names["areas"].get(a) or a for a in sorted(now.keys() | before.keys(), key=str)
            if now.get(a) != before.get(a)
        ]  # fmt: skip
    return await render(
        request, "hall_preview.html", me, preview=preview, labels=labels, names=names,
        section_titles=_SECTION_TITLES, newest=newest[0] if newest is not None else None,
        voice_areas=voice_areas, **context,
    )  # fmt: skip


async def _publish(request: web.Request, me: Principal) -> web.StreamResponse:
    hall = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "publish")
    stored = await publish_setup(request.app[ENGINE], hall, origin=origin(request, me),
                                 now_ms=now_ms())  # fmt: skip
    return redirect(f"/portal/halls/{hall}/preview?published={stored['version']}")


async def _import(request: web.Request, me: Principal) -> web.StreamResponse:
    """Replace the authored pieces by the newest published setup: unpublished edits are lost
    (the page asks before)."""
    hall = request.match_info["hall"]
    async with request.app[ENGINE].begin() as conn:
        department = await check_hall(conn, me, hall, "import")
        await lock_hall(conn, hall)
        setup, _ = await import_newest(conn, hall, department=department,
                                       origin=origin(request, me), now_ms=now_ms())  # fmt: skip
    return redirect(f"/portal/halls/{hall}/preview?imported={setup.version}")


# ---------------------------------------------------------------------------- helpers


async def _piece_form(
    request: web.Request,
    me: Principal,
    item: dict[str, Any] | None,
    values: dict[str, Any],
    errors: FormErrors,
    *,
    status: int = 200,
) -> web.Response:
    """A piece's form, new (`item` None) or to edit, with its choices from the hall."""
    hall, name = request.match_info["hall"], request.match_info["piece"]
    fields = FORMS[name]
    async with request.app[ENGINE].connect() as conn:
        context = await hall_context(conn, me, hall, _TAB_OF.get(name, name))
        options = await _options(conn, hall, fields)
    base = f"/portal/halls/{hall}/{name}"
    return await render(
        request, "hall_piece_form.html", me, status=status, piece=PIECES[name], fields=fields,
        item=item, values=values, errors=errors.by_field, options=options,
        action=f"{base}/{item['id']}/edit" if item is not None else f"{base}/new",
        back=_tab_address(hall, name), **context,
    )  # fmt: skip


async def _options(
    conn: AsyncConnection, hall: str, fields: tuple[FormField, ...]
) -> dict[str, list[tuple[str, str]]]:
    """The choices of the fields whose options are the hall's pieces."""
    found: dict[str, list[tuple[str, str]]] = {}
    for field in fields:
        source = "business-types" if field.kind == "types" else field.source
        if source is None:
            continue
        items = await list_pieces(conn, PIECES[source], hall)
        found[field.name] = [
            (i["id"], f"{i['name']}（{i['prefix']}）" if "prefix" in i else i["name"])
            for i in items
        ]
    return found


def _without_password(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "password"}


def _where(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["hall"], info["piece"], info["item"]


def _tab_address(hall: str, piece: str) -> str:
    return f"/portal/halls/{hall}/{_TAB_OF.get(piece, piece)}"
