"""The menu page (菜单管理): the menu table as its tree, each entry renamed, reordered, shown or
hidden in place; new entries; a contributed entry deleted is hidden instead."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.identity.menus import MenuChange, NewMenu, add_menu, change_menu, list_menus, remove_menu
from cloud.identity.permissions import PERMISSIONS
from cloud.identity.principal import Principal
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.identity.common import attempt, echo, parsed, rights
from cloud.portal.render import page, redirect, render

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    get, post = app.router.add_get, app.router.add_post
    get("/portal/menus", page(_menus))
    post("/portal/menus/new", page(_menu_create))
    post("/portal/menus/{id}/edit", page(_menu_edit))
    post("/portal/menus/{id}/delete", page(_menu_delete))


async def _menus(
    request: web.Request,
    me: Principal,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The menu table as its tree (parents before children), each row editable in place."""
    async with request.app[ENGINE].connect() as conn:
        entries = await list_menus(conn, me)
    parents = [(r["id"], "　" * r["depth"] + r["title"]) for r in _menu_rows(entries)]
    return await render(
        request,
        "identity_menus.html",
        me,
        status=status,
        parent_options=parents,
        permission_labels=dict(PERMISSIONS),
        rows=_menu_rows(entries),
        entries=entries,
        permissions=[(code, f"{label}（{code}）") for code, label in sorted(PERMISSIONS.items())],
        errors=(errors or FormErrors()).by_field,
        values=values or {},
        can=rights(me, "menu"),
    )


async def _menu_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = parsed(
        NewMenu,
        {
            "id": form_text(form, "id", 64),
            "title": form_text(form, "title", 100),
            "path": form_text(form, "path", 200) or None,
            "permission": form_text(form, "permission") or None,
            "parent_id": form_text(form, "parent_id") or None,
            "sort": form_text(form, "sort") or "0",
            "visible": bool(form_text(form, "visible")),
        },
        errors,
    )
    done = None
    if body is not None:
        done = await attempt(request, errors, lambda c: add_menu(c, me, origin(request, me), body))
    if done is None:
        return await _menus(request, me, errors=errors, values=echo(form), status=422)
    return redirect("/portal/menus", "created")


async def _menu_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    menu_id = request.match_info["id"]
    body = parsed(
        MenuChange,
        {
            "title": form_text(form, "title", 100),
            "sort": form_text(form, "sort") or "0",
            "visible": bool(form_text(form, "visible")),
        },
        errors,
    )
    done = None
    if body is not None:
        done = await attempt(
            request, errors, lambda c: change_menu(c, me, origin(request, me), menu_id, body)
        )
    if done is None:
        problem = "；".join(errors.by_field.values())
        return await _menus(request, me, errors=FormErrors({f"row:{menu_id}": problem}), status=422)
    return redirect("/portal/menus", "saved")


async def _menu_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    errors = FormErrors()
    menu_id = request.match_info["id"]
    done = await attempt(
        request, errors, lambda c: remove_menu(c, me, origin(request, me), menu_id)
    )
    if done is None:
        problem = "；".join(errors.by_field.values())
        return await _menus(request, me, errors=FormErrors({f"row:{menu_id}": problem}), status=409)
    return redirect("/portal/menus", "deleted")


def _menu_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries in tree order with their depth."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for entry in entries:
        children.setdefault(entry["parent_id"], []).append(entry)
    known = {e["id"] for e in entries}
    rows: list[dict[str, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for entry in children.get(parent, []):
            rows.append({**entry, "depth": depth})
            walk(entry["id"], depth + 1)

    walk(None, 0)
    for entry in entries:  # entries under a parent that is gone
        if entry["parent_id"] is not None and entry["parent_id"] not in known:
            rows.append({**entry, "depth": 0})
    return rows
