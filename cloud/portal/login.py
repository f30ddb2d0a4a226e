"""Signing in to and out of the portal, and changing one's own password: plain HTML forms over
the identity's auth services (`cloud/identity/auth_service.py`), which check the captcha,
count failures, lock accounts and write the audit log. The sign-in page works without
JavaScript: it draws its captcha when it is shown, and a refused attempt shows the page again
with the reason and a new captcha (each is used once).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from cloud.calls import origin
from cloud.context import CONFIG, ENGINE
from cloud.errors import ApiError
from cloud.identity.auth_service import (
    Login,
    change_password,
    draw_captcha,
    sign_in,
    sign_out,
)
from cloud.identity.login import set_session_cookie
from cloud.identity.principal import SESSION_COOKIE, Principal, current_principal
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.render import LOGIN_PATH, local_target, page, redirect, render

__all__ = ["add_routes"]

_NOTICES = {"signed_out": "已退出登录"}


def add_routes(app: web.Application) -> None:
    app.router.add_get(LOGIN_PATH, _login_page)
    app.router.add_post(LOGIN_PATH, _sign_in)
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
    notice = _NOTICES.get(request.query.get("msg", ""))
    if request.query.get("expired") == "1":
        notice = "登录已过期，请重新登录"
    return await _login_form(request, target, notice=notice)


async def _sign_in(request: web.Request) -> web.StreamResponse:
    """The sign-in form: on to the page asked for with a session, or the form again with the
    refusal in Chinese and a fresh captcha."""
    form = await request.post()
    target = local_target(form_text(form, "next"))
    username = form_text(form, "username", 64)
    values = {
        "username": username,
        "password": _raw(form.get("password")),
        "captcha_id": form_text(form, "captcha_id", 64) or None,
        "captcha_answer": form_text(form, "captcha_answer", 16) or None,
    }
    if not username or not values["password"]:
        return await _login_form(request, target, error="请输入用户名和密码", username=username)
    if not values["captcha_answer"]:
        return await _login_form(request, target, error="请输入验证码", username=username)
    try:
        attempt = Login.model_validate(values)
        client = origin(request, Principal(id="", username=username, name=""))
        signed = await sign_in(request.app[ENGINE], request.app[CONFIG].auth, attempt, client)
    except ValidationError:
        return await _login_form(request, target, error="用户名或密码错误", username=username)
    except ApiError as exc:
        return await _login_form(
            request, target, error=exc.message, username=username, status=exc.status
        )
    response = redirect(target)
    set_session_cookie(request, response, signed)
    return response


async def _logout(request: web.Request) -> web.StreamResponse:
    """End the session (the form carries its CSRF token) and go back to the sign-in page."""
    try:
        me = await current_principal(request)
    except ApiError:
        me = None
    if me is not None:
        async with request.app[ENGINE].begin() as conn:
            await sign_out(conn, me, origin(request, me))
    response = redirect(f"{LOGIN_PATH}?msg=signed_out")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _password_page(request: web.Request, me: Principal) -> web.StreamResponse:
    return await render(request, "password.html", me, errors={})


async def _change_password(request: web.Request, me: Principal) -> web.StreamResponse:
    """Change one's own password: the old one, the new one twice; every other session ends."""
    form = await request.post()
    old, new, again = (form_text(form, k, 200) for k in ("old_password", "new_password", "again"))
    errors = FormErrors()
    if not old:
        errors.add("old_password", "请输入原密码")
    if not new:
        errors.add("new_password", "请输入新密码")
    elif new != again:
        errors.add("again", "两次输入的新密码不一致")
    if not errors:
        try:
            await change_password(request.app[ENGINE], me, origin(request, me), old, new)
        except ApiError as exc:
            field = {"wrong_password": "old_password", "weak_password": "new_password"}
            detail = exc.message.split("：", 1)[-1]
            errors.add(field.get(exc.code, ""), detail)
    if errors:
        return await render(request, "password.html", me, errors=errors.by_field, status=422)
    return redirect("/portal/account/password", "password_changed")


# ---------------------------------------------------------------------------- helpers


async def _login_form(
    request: web.Request,
    target: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> web.Response:
    async with request.app[ENGINE].begin() as conn:
        captcha = await draw_captcha(conn)
    return await render(
        request,
        "identity_login.html",
        None,
        status=status,
        target=target,
        notice=notice,
        error=error,
        username=username,
        captcha=captcha,
    )


def _raw(value: object) -> str:
    """A password as typed (spaces are part of it), cut at the longest accepted."""
    return value[:200] if isinstance(value, str) else ""
