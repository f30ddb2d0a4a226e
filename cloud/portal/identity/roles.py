"""The roles pages (角色管理): the list, a role's details and its grants editor (a scope for
each permission, never more than the user holds themselves), and role groups (角色组)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.identity.permissions import PERMISSIONS
from cloud.identity.principal import SCOPES, Principal
from cloud.identity.roles_service import (
    SCOPE_LABELS,
    GroupChange,
    NewGroup,
    NewRole,
    RoleChange,
    add_group,
    add_role,
    change_group,
    change_role,
    list_groups,
    list_roles,
    permission_catalogue,
    put_grants,
    read_group,
    read_role,
    remove_group,
    remove_role,
)
from cloud.identity.users_service import users_of_role
from cloud.portal.forms import FormErrors, form_list, form_text
from cloud.portal.identity.common import Form, attempt, echo, form_choices, parsed, rights
from cloud.portal.render import page, redirect, render

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    get, post = app.router.add_get, app.router.add_post
    get("/portal/roles", page(_roles))
    post("/portal/roles/new", page(_role_create))
    get("/portal/roles/{id}", page(_role))
    post("/portal/roles/{id}/edit", page(_role_edit))
    post("/portal/roles/{id}/grants", page(_role_grants))
    post("/portal/roles/{id}/delete", page(_role_delete))
    get("/portal/role-groups", page(_groups))
    post("/portal/role-groups/new", page(_group_create))
    post("/portal/role-groups/{id}/edit", page(_group_edit))
    post("/portal/role-groups/{id}/delete", page(_group_delete))


async def _roles(
    request: web.Request,
    me: Principal,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        roles = await list_roles(conn, me)
        choices = await form_choices(conn, me)
    return await render(
        request,
        "identity_roles.html",
        me,
        status=status,
        roles=roles,
        errors=(errors or FormErrors()).by_field,
        values=values or {},
        can=rights(me, "role"),
        **choices,
    )


async def _role_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = parsed(NewRole, _role_fields(form), errors)
    role = None
    if body is not None:
        role = await attempt(request, errors, lambda c: add_role(c, me, origin(request, me), body))
    if role is None:
        return await _roles(request, me, errors=errors, values=echo(form), status=422)
    return redirect(f"/portal/roles/{role['id']}", "created")


async def _role(
    request: web.Request,
    me: Principal,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    grants: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """A role: its details, the grants editor (the catalogue by area, a scope each) and the
    users who hold it."""
    role_id = request.match_info["id"]
    async with request.app[ENGINE].connect() as conn:
        role = await read_role(conn, me, role_id)
        holders = await users_of_role(conn, me, role_id) if me.can("user.view") else []
        choices = await form_choices(conn, me)
    catalogue = permission_catalogue(me)
    shown = role["grants"] if grants is None else grants
    return await render(
        request,
        "identity_role.html",
        me,
        status=status,
        role=role,
        holders=holders,
        catalogue=catalogue,
        grants=shown,
        scopes=SCOPE_LABELS,
        errors=(errors or FormErrors()).by_field,
        values=values
        or {k: role[k] or "" for k in ("code", "name", "description", "department_id")},
        can=rights(me, "role"),
        **choices,
    )


async def _role_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    role_id = request.match_info["id"]
    fields = _role_fields(form)
    body = parsed(RoleChange, fields, errors)
    done = None
    if body is not None:
        done = await attempt(
            request, errors, lambda c: change_role(c, me, origin(request, me), role_id, body)
        )
    if done is None:
        return await _role(request, me, errors=errors, values=echo(form), status=422)
    return redirect(f"/portal/roles/{role_id}", "saved")


async def _role_grants(request: web.Request, me: Principal) -> web.StreamResponse:
    """Save the grants editor: each ticked permission at its chosen scope. Handing out what
    the user does not hold themselves is refused, with the permission named."""
    form = await request.post()
    role_id = request.match_info["id"]
    grants: dict[str, Any] = {}
    for code in form_list(form, "grant"):
        scope = form_text(form, f"scope:{code}")
        grants[code] = scope if scope in SCOPES else "own"
    errors = FormErrors()
    done = await attempt(
        request, errors, lambda c: put_grants(c, me, origin(request, me), role_id, grants)
    )
    if done is None:
        errors.by_field["grants"] = _grant_refusal(errors.by_field.pop("", ""))
        return await _role(request, me, errors=errors, grants=grants, status=403)
    return redirect(f"/portal/roles/{role_id}", "saved")


async def _role_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    async with request.app[ENGINE].begin() as conn:
        await remove_role(conn, me, origin(request, me), request.match_info["id"])
    return redirect("/portal/roles", "deleted")


# ---------------------------------------------------------------------------- role groups


async def _groups(
    request: web.Request,
    me: Principal,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    form: Form | None = None,
    status: int = 200,
) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        groups = await list_groups(conn, me)
        roles = await list_roles(conn, me)
    names = {r["id"]: r["name"] for r in roles}
    return await render(
        request,
        "identity_groups.html",
        me,
        status=status,
        groups=groups,
        roles=roles,
        role_names=names,
        errors=(errors or FormErrors()).by_field,
        values=values or {},
        chosen=request.query.get("group"),
        chosen_roles=set(form_list(form, "roles")) if form else set(),
        can=rights(me, "role"),
    )


async def _group_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = parsed(
        NewGroup,
        {
            "name": form_text(form, "name", 100),
            "description": form_text(form, "description") or None,
            "roles": form_list(form, "roles")[:500],
        },
        errors,
    )
    group = None
    if body is not None:
        group = await attempt(
            request, errors, lambda c: add_group(c, me, origin(request, me), body)
        )
    if group is None:
        return await _groups(request, me, errors=errors, values=echo(form), form=form, status=422)
    return redirect("/portal/role-groups", "created")


async def _group_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    group_id = request.match_info["id"]
    body = parsed(
        GroupChange,
        {
            "name": form_text(form, "name", 100),
            "description": form_text(form, "description") or None,
            "roles": form_list(form, "roles")[:500],
        },
        errors,
    )
    done = None
    if body is not None:
        done = await attempt(
            request, errors, lambda c: change_group(c, me, origin(request, me), group_id, body)
        )
    if done is None:
        async with request.app[ENGINE].connect() as conn:
            await read_group(conn, me, group_id)
        errors.by_field[f"group:{group_id}"] = errors.by_field.pop("", "") or "请检查填写内容"
        return await _groups(request, me, errors=errors, status=422)
    return redirect("/portal/role-groups", "saved")


async def _group_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    async with request.app[ENGINE].begin() as conn:
        await remove_group(conn, me, origin(request, me), request.match_info["id"])
    return redirect("/portal/role-groups", "deleted")


def _role_fields(form: Form) -> dict[str, Any]:
    return {
        "code": form_text(form, "code", 64),
        "name": form_text(form, "name", 100),
        "description": form_text(form, "description") or None,
        "department_id": form_text(form, "department_id") or None,
    }


def _grant_refusal(message: str) -> str:
    """The escalation refusal with the permission and scope in words (短信模板：可看（全部）)."""
    head, _, detail = message.partition("：")
    code, _, scope = detail.partition(": ")
    if code in PERMISSIONS and scope in SCOPE_LABELS:
        return f"{head}：{PERMISSIONS[code]}（{SCOPE_LABELS[scope]}）"
    return message or "无法保存授权"
