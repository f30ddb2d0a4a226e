"""The users pages (用户管理): the list with its filters, a user's details, roles and role
groups, and their account: 屏蔽 (disable), a reset password shown once, deletion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.identity.principal import Principal, authorize
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
)
from cloud.portal.forms import FormErrors, form_list, form_text
from cloud.portal.identity.common import (
    Form,
    attempt,
    echo,
    form_choices,
    parsed,
    rights,
    whole_number,
)
from cloud.portal.render import page, redirect, render

__all__ = ["add_routes"]

_PAGE_SIZE = 20


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    get, post = app.router.add_get, app.router.add_post
    get("/portal/users", page(_users))
    get("/portal/users/new", page(_user_new))
    post("/portal/users/new", page(_user_create))
    get("/portal/users/{id}", page(_user))
    post("/portal/users/{id}/edit", page(_user_edit))
    post("/portal/users/{id}/roles", page(_user_roles))
    post("/portal/users/{id}/status", page(_user_status))
    post("/portal/users/{id}/password", page(_user_password))
    post("/portal/users/{id}/delete", page(_user_delete))


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
    page_no = whole_number(q.get("page"), 1)
    async with request.app[ENGINE].connect() as conn:
        listed = await list_users(conn, me, found, page_no, _PAGE_SIZE)
        choices = await form_choices(conn, me)
    return await render(
        request,
        "identity_users.html",
        me,
        listed=listed,
        statuses=STATUS_LABELS,
        can=rights(me, "user"),
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
    body = parsed(
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
        issued = await attempt(
            request, errors, lambda c: add_user(c, me, origin(request, me), body)
        )
    if issued is None:
        return await _user_form(request, me, None, echo(form), errors, form, status=422)
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
    body = parsed(
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
        done = await attempt(
            request, errors, lambda c: change_user(c, me, origin(request, me), user_id, body)
        )
    if done is None:
        return await _user_form(request, me, user_id, echo(form), errors, status=422)
    return redirect(f"/portal/users/{user_id}", "saved")


async def _user_roles(request: web.Request, me: Principal) -> web.StreamResponse:
    form = await request.post()
    errors = FormErrors()
    user_id = request.match_info["id"]
    body = Memberships(roles=form_list(form, "roles")[:200], groups=form_list(form, "groups")[:200])
    done = await attempt(
        request, errors, lambda c: set_memberships(c, me, origin(request, me), user_id, body)
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
        await change_user(conn, me, origin(request, me), user_id, body)
    back = "/portal/users" if form_text(form, "back") == "list" else f"/portal/users/{user_id}"
    return redirect(back, "enabled" if active else "blocked")


async def _user_password(request: web.Request, me: Principal) -> web.StreamResponse:
    """Reset a user's password to a generated one, shown once on the answer page."""
    await request.post()
    async with request.app[ENGINE].begin() as conn:
        issued = await reset_password(conn, me, origin(request, me), request.match_info["id"])
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
    done = await attempt(
        request, errors, lambda c: remove_user(c, me, origin(request, me), user_id)
    )
    if done is None:
        return await _user_form(request, me, user_id, {}, errors, status=409)
    return redirect("/portal/users", "deleted")


async def _user_form(
    request: web.Request,
    me: Principal,
    user: dict[str, Any] | str | None,
    values: Mapping[str, Any],
    errors: FormErrors,
    form: Form | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """The new-user form, or a user's page (details, roles and groups, status, password)."""
    async with request.app[ENGINE].connect() as conn:
        if isinstance(user, str):
            user = await read_user(conn, me, user)
        choices = await form_choices(conn, me)
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
        can=rights(me, "user"),
        **choices,
    )


def _user_values(user: Mapping[str, Any]) -> dict[str, str]:
    return {
        k: "" if user.get(k) is None else str(user[k])
        for k in ("username", "name", "department_id", "phone", "email")
    }
