"""The sign-in API (§21.3): `/api/auth/captcha`, `/api/auth/login` (sets the HttpOnly session
cookie), `/api/auth/logout`, `/api/auth/me` and `/api/auth/password` — thin wrappers over
`auth_service.py`, which holds the rules (captcha, lockout, audit)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cloud.calls import answer, caller, origin, read_body
from cloud.context import CONFIG, ENGINE
from cloud.identity.auth_service import (
    CAPTCHA_DIGITS,
    CAPTCHA_MINUTES,
    Login,
    SignedIn,
    captcha_digest,
    change_password,
    draw_captcha,
    sign_in,
    sign_out,
    signed_in_user,
)
from cloud.identity.principal import SESSION_COOKIE, Principal, current_principal

__all__ = [
    "CAPTCHA_DIGITS",
    "CAPTCHA_MINUTES",
    "captcha_digest",
    "routes",
    "set_session_cookie",
]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/auth/captcha", _captcha),
        web.post("/api/auth/login", _login),
        web.post("/api/auth/logout", _logout),
        web.get("/api/auth/me", _me),
        web.post("/api/auth/password", _password),
    ]


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, signed: SignedIn
) -> None:
    """Give the browser its session: HttpOnly, SameSite=Lax, for the session's hours."""
    config = request.app[CONFIG].auth
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        httponly=True,
        samesite="Lax",
        secure=config.secure_cookies,
        path="/",
        max_age=int(config.session_hours * 3600),
    )


async def _captcha(request: web.Request) -> web.Response:
    async with request.app[ENGINE].begin() as conn:
        drawn = await draw_captcha(conn)
    return answer({"id": drawn.id, "image": drawn.image})


async def _login(request: web.Request) -> web.Response:
    attempt = await read_body(request, Login)
    client = origin(request, Principal(id="", username=attempt.username, name=""))
    engine = request.app[ENGINE]
    signed = await sign_in(engine, request.app[CONFIG].auth, attempt, client)
    async with engine.connect() as conn:
        me = await signed_in_user(conn, signed.principal)
    response = answer({**me, "csrf_token": signed.csrf})
    set_session_cookie(request, response, signed)
    return response


async def _logout(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    async with request.app[ENGINE].begin() as conn:
        await sign_out(conn, principal, who)
    response = answer({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _me(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    async with request.app[ENGINE].connect() as conn:
        return answer(await signed_in_user(conn, principal))


async def _password(request: web.Request) -> web.Response:
    """Change one's own password; every other session of the user ends."""
    principal, who = await caller(request)
    body = await read_body(request, PasswordChange)
    await change_password(request.app[ENGINE], principal, who, body.old_password, body.new_password)
    return answer({"ok": True})
