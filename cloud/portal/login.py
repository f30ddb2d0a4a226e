"""Signing in and out of the portal and changing one's own password.

The sign-in page is ours; the sign-in itself is the identity API's (`POST /api/auth/login`,
which checks the captcha, counts failures, locks the account and sets the session cookie): the
page draws its captcha from `GET /api/auth/captcha`, sends the form there and goes on to the
page asked for. The portal sets no cookie of its own.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from aiohttp import web

from cloud.audit import Origin, record
from cloud.context import CONFIG, ENGINE
from cloud.errors import ApiError
from cloud.identity import login as _identity_login  # noqa: F401 (audit policies: login, user)
from cloud.identity.accounts import password_problem, set_password, verify_password
from cloud.identity.principal import SESSION_COOKIE, Principal, current_principal
from cloud.identity.sessions import end_session
from cloud.identity.tables import users
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.render import LOGIN_PATH, local_target, now_ms, page, redirect, render

__all__ = ["add_routes"]

log = logging.getLogger(__name__)


def add_routes(app: web.Application) -> None:
    app.router.add_get(LOGIN_PATH, _login_page)
    app.router.add_post("/portal/logout", _logout)
    app.router.add_get("/portal/account/password", page(_password_page))
    app.router.add_post("/portal/account/password", page(_change_password))


async def _login_page(request: web.Request) -> web.StreamResponse:
    target = local_target(request.query.get("next"))
    try:
        me = await current_principal(request)
    except ApiError:
        me = None
    if me is not None and me.session_id is not None:
        raise web.HTTPSeeOther(target)
    notice = None
    if request.query.get("expired") == "1":
        notice = "登录已过期，请重新登录"
    elif request.query.get("msg") == "signed_out":
        notice = "已退出登录"
    return await render(request, "login.html", None, target=target, notice=notice)


async def _logout(request: web.Request) -> web.StreamResponse:
    """End the session (the form carries its CSRF token) and go back to the sign-in page."""
    try:
        me = await current_principal(request)
    except ApiError:
        me = None
    if me is not None and me.session_id is not None:
        async with request.app[ENGINE].begin() as conn:
            await end_session(conn, me.session_id)
            await record(conn, _origin(request, me), action="delete", resource="login",
                         resource_id=me.id, hall=None, old={"username": me.username},
                         now_ms=now_ms())  # fmt: skip
        log.info("%s signed out of the portal", me.username)
    response = redirect(f"{LOGIN_PATH}?msg=signed_out")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _password_page(request: web.Request, me: Principal) -> web.StreamResponse:
    return await render(request, "password.html", me, errors={})


async def _change_password(request: web.Request, me: Principal) -> web.StreamResponse:
    """Change one's own password: the old one, the new one twice; every other session ends."""
    form = await request.post()
    old, new, again = (form_text(form, k) for k in ("old_password", "new_password", "again"))
    errors = FormErrors()
    if me.session_id is None:
        errors.add("", "管理令牌不是登录用户，没有密码")
    if not old:
        errors.add("old_password", "请输入原密码")
    if not new:
        errors.add("new_password", "请输入新密码")
    elif (problem := password_problem(new, me.username)) is not None:
        errors.add("new_password", problem)
    elif new != again:
        errors.add("again", "两次输入的新密码不一致")
    engine = request.app[ENGINE]
    if not errors:
        async with engine.connect() as conn:
            stored = await conn.scalar(sa.select(users.c.password_hash).where(users.c.id == me.id))
        if stored is None or not await verify_password(stored, old):
            log.warning("%s gave a wrong old password in the portal", me.username)
            errors.add("old_password", "原密码不正确")
    if errors:
        return await render(request, "password.html", me, errors=errors.by_field, status=422)
    now = now_ms()
    async with engine.begin() as conn:
        await set_password(conn, me.id, new, now, keep_session=me.session_id)
        await record(conn, _origin(request, me), action="update", resource="user",
                     resource_id=me.id, hall=None, new={"password_changed_at": now},
                     now_ms=now)  # fmt: skip
    return redirect("/portal/account/password", "password_changed")


def _origin(request: web.Request, me: Principal) -> Origin:
    trust = request.app[CONFIG].api.trust_forwarded_for
    return Origin.of_request(request, me.actor, trust_forwarded_for=trust)
