"""The portal's identity pages: the organisation tree, users, roles and their grants, role
groups, the menu and the audit log.

Every page calls the identity's services (`cloud/identity/*_service.py`, `menus.py`), which
check the user's rights and data scope on the server; the buttons only follow them. A form's
bad input comes back as the form with the Chinese reason next to its field (422); a refusal of
the record itself (404, 403) is the portal's refusal page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import POLICIES, AuditQuery, Origin, audit_page
from cloud.context import CONFIG, ENGINE
from cloud.errors import ApiError
from cloud.identity.menus import (
    MenuChange,
    NewMenu,
    add_menu,
    change_menu,
    list_menus,
    remove_menu,
)
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
from cloud.identity.permissions import PERMISSIONS
from cloud.identity.principal import SCOPES, Principal, authorize, hall_unit, in_scope
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
from cloud.identity.tables import org_units
from cloud.identity.users_service import (
    STATUS_LABELS,
    Memberships,
    NewUser,
    UserChange,
    UserFilter,
    add_user,
    change_user,
    list_users,
    read_user,
    remove_user,
    reset_password,
    set_memberships,
    users_of_role,
)
from cloud.portal.forms import FormErrors, form_list, form_text
from cloud.portal.render import page, redirect, render

__all__ = ["add_routes"]

_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")
_Form = MultiDictProxy[Any]

_PAGE_SIZE = 20
_SHANGHAI = ZoneInfo("Asia/Shanghai")
_AUDIT_PAGE = 50
# which form field a service's refusal belongs next to
_FIELD_OF = {
    "org_code_taken": "code",
    "hall_linked": "hall",
    "hall_needs_site": "hall",
    "unknown_user": "head_user_id",
    "org_cycle": "parent_id",
    "username_taken": "username",
    "weak_password": "password",
    "superuser_only": "superuser",
    "role_code_taken": "code",
    "role_group_taken": "name",
    "menu_exists": "id",
    "menu_cycle": "parent_id",
    "unknown_permission": "permission",
    "unknown_org_unit": "department_id",
}
_PYDANTIC_TEXTS = {
    "string_too_short": "不能为空",
    "missing": "不能为空",
    "string_too_long": "太长了",
    "string_pattern_mismatch": "只能使用字母、数字和 _ . - 等符号",
    "int_parsing": "须为整数",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "literal_error": "请选择",
}


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    get, post = app.router.add_get, app.router.add_post
    get("/portal/org", page(_org))
    post("/portal/org/new", page(_org_create))
    post("/portal/org/{id}/edit", page(_org_edit))
    post("/portal/org/{id}/move", page(_org_move))
    post("/portal/org/{id}/status", page(_org_status))
    post("/portal/org/{id}/delete", page(_org_delete))
    get("/portal/users", page(_users))
    get("/portal/users/new", page(_user_new))
    post("/portal/users/new", page(_user_create))
    get("/portal/users/{id}", page(_user))
    post("/portal/users/{id}/edit", page(_user_edit))
    post("/portal/users/{id}/roles", page(_user_roles))
    post("/portal/users/{id}/status", page(_user_status))
    post("/portal/users/{id}/password", page(_user_password))
    post("/portal/users/{id}/delete", page(_user_delete))
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
    get("/portal/menus", page(_menus))
    post("/portal/menus/new", page(_menu_create))
    post("/portal/menus/{id}/edit", page(_menu_edit))
    post("/portal/menus/{id}/delete", page(_menu_delete))
    get("/portal/audit", page(_audit))


# ---------------------------------------------------------------------------- organisation


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
        can=_rights(me, "org"),
    )


async def _org_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = _model(
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
        unit = await _attempt(request, errors, lambda c: add_unit(c, me, _who(request, me), body))
    if unit is None:
        return await _org(request, me, errors=errors, values=_echo(form), form="new", status=422)
    return redirect(f"/portal/org?unit={unit['id']}", "created")


async def _org_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    unit_id = request.match_info["id"]
    sort = form_text(form, "sort") or "0"
    body = _model(
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
    body = _model(UnitChange, {"parent_id": parent}, errors)
    return await _org_change(request, me, request.match_info["id"], body, errors, form, "move")


async def _org_status(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    disabled = form_text(form, "disabled") == "true"
    body = UnitChange(disabled=disabled)
    unit_id = request.match_info["id"]
    async with request.app[ENGINE].begin() as conn:
        await change_unit(conn, me, _who(request, me), unit_id, body)
    return redirect(f"/portal/org?unit={unit_id}", "disabled" if disabled else "enabled")


async def _org_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    unit_id = request.match_info["id"]
    errors = FormErrors()
    done = await _attempt(request, errors, lambda c: remove_unit(c, me, _who(request, me), unit_id))
    if done is None:
        return await _org(request, me, errors=errors, form="delete", status=409)
    return redirect("/portal/org", "deleted")


async def _org_change(
    request: web.Request,
    me: Principal,
    unit_id: str,
    body: UnitChange | None,
    errors: FormErrors,
    form: _Form,
    which: str,
) -> web.StreamResponse:
    done = None
    if body is not None:
        done = await _attempt(
            request, errors, lambda c: change_unit(c, me, _who(request, me), unit_id, body)
        )
    if done is None:
        return await _org(request, me, errors=errors, values=_echo(form), form=which, status=422)
    return redirect(f"/portal/org?unit={unit_id}", "saved")


# ---------------------------------------------------------------------------- users


async def _users(request: web.Request, me: Principal) -> web.Response:
    """The users list: filters combined, paged."""
    q = request.query
    found = UserFilter(
        q=q.get("q", "").strip()[:100] or None,
        department=q.get("department") or None,
        below=q.get("below") == "1",
        status=q.get("status") if q.get("status") in STATUS_LABELS else None,
        role=q.get("role") or None,
    )
    page_no = _int(q.get("page"), 1)
    async with request.app[ENGINE].connect() as conn:
        listed = await list_users(conn, me, found, page_no, _PAGE_SIZE)
        choices = await _choices(conn, me)
    return await render(
        request,
        "identity_users.html",
        me,
        listed=listed,
        statuses=STATUS_LABELS,
        can=_rights(me, "user"),
        **choices,
    )


async def _user_new(request: web.Request, me: Principal) -> web.Response:
    authorize(me, "user.create")
    values = {"department_id": me.department_id or ""}
    return await _user_form(request, me, None, values, FormErrors())


async def _user_create(request: web.Request, me: Principal) -> web.StreamResponse:
    authorize(me, "user.create")
    form = await request.post()
    errors = FormErrors()
    body = _model(
        NewUser,
        {
            "username": form_text(form, "username", 64),
            "name": form_text(form, "name", 100),
            "department_id": form_text(form, "department_id") or None,
            "phone": form_text(form, "phone") or None,
            "email": form_text(form, "email") or None,
            "roles": form_list(form, "roles"),
            "groups": form_list(form, "groups"),
        },
        errors,
    )
    issued = None
    if body is not None:
        issued = await _attempt(request, errors, lambda c: add_user(c, me, _who(request, me), body))
    if issued is None:
        return await _user_form(request, me, None, _echo(form), errors, form, status=422)
    return await render(
        request,
        "identity_issued.html",
        me,
        user=issued.user,
        password=issued.password,
        created=True,
    )


async def _user(request: web.Request, me: Principal) -> web.Response:
    async with request.app[ENGINE].connect() as conn:
        user = await read_user(conn, me, request.match_info["id"])
    values = {
        k: "" if user[k] is None else str(user[k])
        for k in ("name", "department_id", "phone", "email")
    }
    return await _user_form(request, me, user, values, FormErrors())


async def _user_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    user_id = request.match_info["id"]
    body = _model(
        UserChange,
        {
            "name": form_text(form, "name", 100),
            "department_id": form_text(form, "department_id") or None,
            "phone": form_text(form, "phone") or None,
            "email": form_text(form, "email") or None,
        },
        errors,
    )
    done = None
    if body is not None:
        done = await _attempt(
            request, errors, lambda c: change_user(c, me, _who(request, me), user_id, body)
        )
    if done is None:
        return await _user_form(request, me, user_id, _echo(form), errors, status=422)
    return redirect(f"/portal/users/{user_id}", "saved")


async def _user_roles(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    user_id = request.match_info["id"]
    body = Memberships(roles=form_list(form, "roles")[:200], groups=form_list(form, "groups")[:200])
    done = await _attempt(
        request, errors, lambda c: set_memberships(c, me, _who(request, me), user_id, body)
    )
    if done is None:
        errors.by_field["roles"] = errors.by_field.pop("", "无法保存角色")
        return await _user_form(request, me, user_id, {}, errors, form, status=422)
    return redirect(f"/portal/users/{user_id}", "saved")


async def _user_status(request: web.Request, me: Principal) -> web.StreamResponse:
    """屏蔽 (disable) or enable a user; a disabled user's sessions end at once."""
    form = await request.post()
    active = form_text(form, "status") == "active"
    user_id = request.match_info["id"]
    body = UserChange(status="active" if active else "disabled")
    async with request.app[ENGINE].begin() as conn:
        await change_user(conn, me, _who(request, me), user_id, body)
    back = "/portal/users" if form_text(form, "back") == "list" else f"/portal/users/{user_id}"
    return redirect(back, "enabled" if active else "disabled")


async def _user_password(request: web.Request, me: Principal) -> web.StreamResponse:
    """Reset a user's password to a generated one, shown once on the answer page."""
    await request.post()
    async with request.app[ENGINE].begin() as conn:
        issued = await reset_password(conn, me, _who(request, me), request.match_info["id"])
    return await render(
        request,
        "identity_issued.html",
        me,
        user=issued.user,
        password=issued.password,
        created=False,
    )


async def _user_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    user_id = request.match_info["id"]
    errors = FormErrors()
    done = await _attempt(request, errors, lambda c: remove_user(c, me, _who(request, me), user_id))
    if done is None:
        return await _user_form(request, me, user_id, {}, errors, status=409)
    return redirect("/portal/users", "deleted")


async def _user_form(
    request: web.Request,
    me: Principal,
    user: dict[str, Any] | str | None,
    values: Mapping[str, Any],
    errors: FormErrors,
    form: _Form | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """The new-user form, or a user's page (details, roles and groups, status, password)."""
    async with request.app[ENGINE].connect() as conn:
        if isinstance(user, str):
            user = await read_user(conn, me, user)
        choices = await _choices(conn, me)
    held = user or {"roles": [], "groups": []}
    chosen_roles = form_list(form, "roles") if form is not None else held["roles"]
    chosen_groups = form_list(form, "groups") if form is not None else held["groups"]
    return await render(
        request,
        "identity_user.html",
        me,
        status=status,
        user=user,
        values={**({} if user is None else _user_values(user)), **values},
        errors=errors.by_field,
        statuses=STATUS_LABELS,
        chosen_roles=set(chosen_roles),
        chosen_groups=set(chosen_groups),
        can=_rights(me, "user"),
        **choices,
    )


# ---------------------------------------------------------------------------- roles


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
        choices = await _choices(conn, me)
    return await render(
        request,
        "identity_roles.html",
        me,
        status=status,
        roles=roles,
        errors=(errors or FormErrors()).by_field,
        values=values or {},
        can=_rights(me, "role"),
        **choices,
    )


async def _role_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = _model(NewRole, _role_fields(form), errors)
    role = None
    if body is not None:
        role = await _attempt(request, errors, lambda c: add_role(c, me, _who(request, me), body))
    if role is None:
        return await _roles(request, me, errors=errors, values=_echo(form), status=422)
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
        choices = await _choices(conn, me)
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
        can=_rights(me, "role"),
        **choices,
    )


async def _role_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    role_id = request.match_info["id"]
    fields = _role_fields(form)
    body = _model(RoleChange, fields, errors)
    done = None
    if body is not None:
        done = await _attempt(
            request, errors, lambda c: change_role(c, me, _who(request, me), role_id, body)
        )
    if done is None:
        return await _role(request, me, errors=errors, values=_echo(form), status=422)
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
    done = await _attempt(
        request, errors, lambda c: put_grants(c, me, _who(request, me), role_id, grants)
    )
    if done is None:
        errors.by_field["grants"] = _grant_refusal(errors.by_field.pop("", ""))
        return await _role(request, me, errors=errors, grants=grants, status=403)
    return redirect(f"/portal/roles/{role_id}", "saved")


async def _role_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    async with request.app[ENGINE].begin() as conn:
        await remove_role(conn, me, _who(request, me), request.match_info["id"])
    return redirect("/portal/roles", "deleted")


# ---------------------------------------------------------------------------- role groups


async def _groups(
    request: web.Request,
    me: Principal,
    *,
    errors: FormErrors | None = None,
    values: Mapping[str, str] | None = None,
    form: _Form | None = None,
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
        can=_rights(me, "role"),
    )


async def _group_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = _model(
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
        group = await _attempt(request, errors, lambda c: add_group(c, me, _who(request, me), body))
    if group is None:
        return await _groups(request, me, errors=errors, values=_echo(form), form=form, status=422)
    return redirect("/portal/role-groups", "created")


async def _group_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    group_id = request.match_info["id"]
    body = _model(
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
        done = await _attempt(
            request, errors, lambda c: change_group(c, me, _who(request, me), group_id, body)
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
        await remove_group(conn, me, _who(request, me), request.match_info["id"])
    return redirect("/portal/role-groups", "deleted")


# ---------------------------------------------------------------------------- menus


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
        can=_rights(me, "menu"),
    )


async def _menu_create(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    body = _model(
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
        done = await _attempt(request, errors, lambda c: add_menu(c, me, _who(request, me), body))
    if done is None:
        return await _menus(request, me, errors=errors, values=_echo(form), status=422)
    return redirect("/portal/menus", "created")


async def _menu_edit(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    menu_id = request.match_info["id"]
    body = _model(
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
        done = await _attempt(
            request, errors, lambda c: change_menu(c, me, _who(request, me), menu_id, body)
        )
    if done is None:
        problem = "；".join(errors.by_field.values())
        return await _menus(request, me, errors=FormErrors({f"row:{menu_id}": problem}), status=422)
    return redirect("/portal/menus", "saved")


async def _menu_delete(request: web.Request, me: Principal) -> web.StreamResponse:
    await request.post()
    errors = FormErrors()
    menu_id = request.match_info["id"]
    done = await _attempt(request, errors, lambda c: remove_menu(c, me, _who(request, me), menu_id))
    if done is None:
        problem = "；".join(errors.by_field.values())
        return await _menus(request, me, errors=FormErrors({f"row:{menu_id}": problem}), status=409)
    return redirect("/portal/menus", "deleted")


# ---------------------------------------------------------------------------- audit log


async def _audit(request: web.Request, me: Principal) -> web.Response:
    """The audit log, newest first, with filters; "更多" continues after the last row shown.
    With a scope narrower than `all`, one hall of the user's at a time."""
    scope = authorize(me, "audit.read")
    q = request.query
    errors = FormErrors()
    hall = q.get("hall", "").strip()[:64] or None
    if scope != "all":
        if hall is None:
            errors.add("hall", "您只能查看本单位大厅的日志，请填写大厅编号")
        else:
            async with request.app[ENGINE].connect() as conn:
                unit = await hall_unit(conn, hall)
                if unit is None or not await in_scope(
                    conn, me, "audit.read", department=unit, owner=None
                ):
                    errors.add("hall", "无权查看该大厅的日志")
    since, until = _day(q.get("since"), errors, "since"), _day(q.get("until"), errors, "until")
    entries: list[dict[str, Any]] = []
    next_id = None
    if not errors:
        found = await audit_page(
            request.app[ENGINE],
            AuditQuery(
                resource=q.get("resource") or None,
                resource_id=q.get("resource_id", "").strip() or None,
                hall=hall,
                actor=q.get("actor", "").strip() or None,
                since=since,
                until=until + 86_400_000 if until is not None else None,
                before_id=_int(q.get("before_id"), 0) or None,
                limit=_AUDIT_PAGE,
            ),
        )
        entries = [{**e, "changes": _changes(e)} for e in found["entries"]]
        next_id = found["next_before_id"]
    resources = sorted(((p.resource, p.label) for p in POLICIES.values()), key=lambda p: p[0])
    return await render(
        request,
        "identity_audit.html",
        me,
        entries=entries,
        next_id=next_id,
        resources=resources,
        labels=dict(resources),
        errors=errors.by_field,
        status=422 if errors else 200,
    )


# ---------------------------------------------------------------------------- helpers


def _who(request: web.Request, me: Principal) -> Origin:
    trust = request.app[CONFIG].api.trust_forwarded_for
    return Origin.of_request(request, me.actor, trust_forwarded_for=trust)


async def _attempt(
    request: web.Request,
    errors: FormErrors,
    action: Callable[[AsyncConnection], Awaitable[_T]],
) -> _T | None:
    """Run a service's change in a transaction; its refusal goes next to the field it concerns
    (or above the form), and nothing is changed."""
    try:
        async with request.app[ENGINE].begin() as conn:
            return await action(conn)
    except ApiError as exc:
        if exc.code in ("unauthorized", "session_expired", "csrf_failed"):
            raise
        errors.add(_FIELD_OF.get(exc.code, ""), exc.message)
        return None


def _model(model: type[_M], values: dict[str, Any], errors: FormErrors) -> _M | None:
    """The form's values as the service's input, or None with what is wrong by field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.add(field, _PYDANTIC_TEXTS.get(error["type"], "填写不正确"))
        return None


def _echo(form: _Form) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _rights(me: Principal, resource: str) -> dict[str, bool]:
    return {r: me.can(f"{resource}.{r}") for r in ("create", "edit", "delete", "read", "view")}


def _int(text: str | None, default: int) -> int:
    try:
        value = int(text or "")
    except ValueError:
        return default
    return value if 1 <= value <= 1_000_000_000_000 else default


def _day(text: str | None, errors: FormErrors, field: str) -> int | None:
    """The start of a day (ms, hall time) from a date input."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        errors.add(field, "日期格式应为 年-月-日")
        return None
    return int(dt.datetime.combine(day, dt.time(), _SHANGHAI).timestamp() * 1000)


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


async def _choices(conn: AsyncConnection, me: Principal) -> dict[str, Any]:
    """The departments, roles and role groups the user may choose from in forms and filters."""
    if me.can("org.view"):
        units = (await visible_units(conn, me)).units
    elif me.department_id is not None:
        row = (
            await conn.execute(sa.select(org_units).where(org_units.c.id == me.department_id))
        ).first()
        units = [{"id": row.id, "name": row.name, "kind": row.kind}] if row is not None else []
    else:
        units = []
    roles = await list_roles(conn, me) if me.can("role.view") else []
    groups = await list_groups(conn, me) if me.can("role.view") else []
    return {
        "departments": units,
        "department_options": [(u["id"], u["name"]) for u in units],
        "department_names": {u["id"]: u["name"] for u in units},
        "all_roles": roles,
        "all_groups": groups,
    }


def _user_values(user: Mapping[str, Any]) -> dict[str, str]:
    return {
        k: "" if user.get(k) is None else str(user[k])
        for k in ("username", "name", "department_id", "phone", "email")
    }


def _role_fields(form: _Form) -> dict[str, Any]:
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


def _changes(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An audit row's values as readable lines: field, old, new."""
    old, new = entry.get("old") or {}, entry.get("new") or {}
    return [
        {
            "field": k,
            "old": _shown(old.get(k), k) if k in old else None,
            "new": _shown(new.get(k), k) if k in new else None,
        }
        for k in sorted(set(old) | set(new))
    ]


def _shown(value: Any, field: str = "") -> str:
    if value is None:
        return "（空）"
    if field.endswith("_at") and isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, _SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        return "，".join(f"{k}={_shown(v)}" for k, v in value.items()) or "（无）"
    if isinstance(value, list):
        return "、".join(_shown(v) for v in value) or "（无）"
    return str(value)
