"""The organisation page (组织机构): the tree of regions, departments and sites, and the
chosen unit's details, its place in the tree (切换上级), disabling and deleting it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.identity.org_service import (
    KIND_LABELS,
    NewUnit,
    UnitChange,
    add_unit,
    change_unit,
    read_unit,
    remove_unit,
    visible_units,
)
from cloud.identity.principal import Principal
from cloud.identity.users_service import UserFilter, list_users
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.identity.common import Form, attempt, echo, parsed, rights
from cloud.portal.render import page, redirect, render

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    get, post = app.router.add_get, app.router.add_post
    get("/portal/org", page(_org))
    post("/portal/org/new", page(_org_create))
    post("/portal/org/{id}/edit", page(_org_edit))
    post("/portal/org/{id}/move", page(_org_move))
    post("/portal/org/{id}/status", page(_org_status))
    post("/portal/org/{id}/delete", page(_org_delete))


async def _org(
    request: web.Request,
    me: Principal,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    form: str = "",
    status: int = 200,
) -> web.Response:
    """The tree at the left; the chosen unit (`?unit=`) at the right: edit, move (切换),
    disable, delete, and a new unit under it."""
    chosen_id = (
        request.query.get("unit") or request.match_info.get("id") or (values or {}).get("parent_id")
    )
    async with request.app[ENGINE].connect() as conn:
        units = await visible_units(conn, me)
        chosen: dict[str, Any] | None = None
        path: list[dict[str, str]] = []
        heads: list[dict[str, Any]] = []
        if chosen_id:
            chosen, path = await read_unit(conn, me, chosen_id)
            heads = await _users_of_unit(conn, me, chosen_id)
    below = _subtree(units.tree, chosen["id"]) if chosen else set()
    return await render(
        request,
        "identity_org.html",
        me,
        status=status,
        tree=units.tree,
        units=units.units,
        chosen=chosen,
        unit_path=path,
        heads=heads,
        parents=[u for u in units.units if u["id"] not in below],
        kinds=KIND_LABELS,
        errors=(errors or FormErrors()).by_field,
        form=form,
        values=values or {},
        can=rights(me, "org"),
    )


async def _org_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = parsed(
        NewUnit,
        {
            "kind": form_text(form, "kind"),
            "name": form_text(form, "name"),
            "parent_id": form_text(form, "parent_id") or None,
            "code": form_text(form, "code") or None,
            "short_name": form_text(form, "short_name") or None,
        },
        errors,
    )
    unit = None
    if body is not None:
        unit = await attempt(request, errors, lambda c: add_unit(c, me, origin(request, me), body))
    if unit is None:
        return await _org(request, me, errors=errors, values=echo(form), form="new", status=422)
    return redirect(f"/portal/org?unit={unit['id']}", "created")


async def _org_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    unit_id = request.match_info["id"]
    sort = form_text(form, "sort") or "0"
    body = parsed(
        UnitChange,
        {
            "name": form_text(form, "name"),
            "code": form_text(form, "code") or None,
            "short_name": form_text(form, "short_name") or None,
            "head_user_id": form_text(form, "head_user_id") or None,
            "sort": sort,
        },
        errors,
    )
    return await _org_change(request, me, unit_id, body, errors, form, "edit")


async def _org_move(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    parent = form_text(form, "parent_id") or None
    body = parsed(UnitChange, {"parent_id": parent}, errors)
    return await _org_change(request, me, request.match_info["id"], body, errors, form, "move")


async def _org_status(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    disabled = form_text(form, "disabled") == "true"
    body = UnitChange(disabled=disabled)
    unit_id = request.match_info["id"]
    async with request.app[ENGINE].begin() as conn:
        await change_unit(conn, me, origin(request, me), unit_id, body)
    return redirect(f"/portal/org?unit={unit_id}", "disabled" if disabled else "enabled")


async def _org_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    unit_id = request.match_info["id"]
    errors = FormErrors()
    done = await attempt(
        request, errors, lambda c: remove_unit(c, me, origin(request, me), unit_id)
    )
    if done is None:
        return await _org(request, me, errors=errors, form="delete", status=409)
    return redirect("/portal/org", "deleted")


async def _org_change(
    request: web.Request,
    me: Principal,
    unit_id: str,
    body: UnitChange | None,
    errors: FormErrors,
    form: Form,
    which: str,
) -> web.StreamResponse:
    done = None
    if body is not None:
        done = await attempt(
            request, errors, lambda c: change_unit(c, me, origin(request, me), unit_id, body)
        )
    if done is None:
        return await _org(request, me, errors=errors, values=echo(form), form=which, status=422)
    return redirect(f"/portal/org?unit={unit_id}", "moved" if which == "move" else "saved")


def _subtree(tree: list[dict[str, Any]], unit_id: str) -> set[str]:
    """The unit and every unit below it in the shown tree (not places to move it to)."""

    def walk(nodes: list[dict[str, Any]], inside: bool) -> set[str]:
        found: set[str] = set()
        for node in nodes:
            here = inside or node["id"] == unit_id
            if here:
                found.add(node["id"])
            found |= walk(node["children"], here)
        return found

    return walk(tree, False)


async def _users_of_unit(
    conn: AsyncConnection, me: Principal, unit_id: str
) -> list[dict[str, Any]]:
    """The users of a unit the user may see: the choices for its head (负责人)."""
    if not me.can("user.view"):
        return []
    listed = await list_users(conn, me, UserFilter(department=unit_id), 1, 500)
    return listed.users
