"""Signing in and out (§21.3): captchas, the login with lockout after repeated failures, the
signed-in user with their grants and menu, and changing one's own password.

- A **captcha** is four digits drawn as a PNG (`captcha` package). The table keeps only the
  SHA-256 of the answer salted with the captcha's id; a captcha is used once (deleted by the
  attempt that presents it, right or wrong) and expires after `CAPTCHA_MINUTES`. Four digits
  are few by design: their strength is single use plus the account lockout, not the search
  space (a test finds the answer from the stored hash in milliseconds).
- The captcha is required from the first attempt (`auth.captcha_after_failures = 0`) or once
  the account has failed that many times in a row.
- **Lockout**: `auth.lockout_attempts` failures in a row lock the account for
  `auth.lockout_minutes`; a locked account is refused even with the right password (423). An
  unknown username and a wrong password get the same refusal, so usernames are not revealed.
- Every attempt is logged; a sign-in, a sign-out and a password change are in the audit log
  (never a password).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web
from captcha.image import ImageCaptcha
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from cloud.audit import POLICIES, AuditPolicy, record
from cloud.context import CONFIG, ENGINE
from cloud.errors import ApiError, register_errors
from cloud.identity.accounts import (
    hash_password,
    password_problem,
    set_password,
    verify_password,
)
from cloud.identity.calls import answer, caller, now_ms, origin, read_body
from cloud.identity.menus import menu_for
from cloud.identity.permissions import PERMISSIONS
from cloud.identity.principal import (
    SESSION_COOKIE,
    Principal,
    current_principal,
    load_principal,
)
from cloud.identity.sessions import end_session, start_session
from cloud.identity.tables import captchas, org_units, users

__all__ = ["CAPTCHA_DIGITS", "CAPTCHA_MINUTES", "captcha_digest", "routes"]

log = logging.getLogger(__name__)

CAPTCHA_DIGITS = 4
CAPTCHA_MINUTES = 5

register_errors(
    {
        "login_failed": (401, "用户名或密码错误"),
        "account_locked": (423, "登录失败次数过多，账号已锁定"),
        "account_disabled": (403, "账号已停用，不能登录"),
        "captcha_required": (422, "请输入验证码"),
        "captcha_wrong": (422, "验证码错误，请换一张重试"),
        "captcha_expired": (422, "验证码已失效，请换一张"),
        "weak_password": (422, "密码不符合要求"),
        "wrong_password": (422, "原密码不正确"),
        "not_a_user": (400, "管理令牌不是登录用户，没有密码"),
    }
)

for _policy in (
    AuditPolicy("login", "登录"),
    AuditPolicy("user", "用户"),
):
    POLICIES[_policy.resource] = _policy

_SHANGHAI = ZoneInfo("Asia/Shanghai")


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    captcha_id: str | None = Field(None, max_length=64)
    captcha_answer: str | None = Field(None, max_length=16)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


def captcha_digest(captcha_id: str, answer_text: str) -> str:
    """How the table keeps a captcha's answer: SHA-256 over the id and the answer."""
    return hashlib.sha256(f"{captcha_id}:{answer_text.strip().upper()}".encode()).hexdigest()


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/auth/captcha", _captcha),
        web.post("/api/auth/login", _login),
        web.post("/api/auth/logout", _logout),
        web.get("/api/auth/me", _me),
        web.post("/api/auth/password", _password),
    ]


async def _captcha(request: web.Request) -> web.Response:
    captcha_id = str(ULID())
    text = "".join(secrets.choice("0123456789") for _ in range(CAPTCHA_DIGITS))
    image = await asyncio.to_thread(lambda: ImageCaptcha().generate(text).getvalue())
    now = now_ms()
    async with request.app[ENGINE].begin() as conn:
        # expired captchas nobody used go with the next one drawn
        await conn.execute(captchas.delete().where(captchas.c.expires_at <= now))
        await conn.execute(
            captchas.insert().values(
                id=captcha_id,
                answer_hash=captcha_digest(captcha_id, text),
                expires_at=now + CAPTCHA_MINUTES * 60_000,
            )
        )
    data = base64.b64encode(image).decode()
    return answer({"id": captcha_id, "image": f"data:image/png;base64,{data}"})


async def _login(request: web.Request) -> web.Response:
    body = await read_body(request, Login)
    config = request.app[CONFIG].auth
    engine = request.app[ENGINE]
    remote = request.remote
    now = now_ms()
    async with engine.connect() as conn:
        user = await _user_named(conn, body.username)
    failures = _failures(user, now)
    if config.captcha_after_failures == 0 or failures >= config.captcha_after_failures:
        await _use_captcha(request, body)
    if user is not None and (user.locked_until or 0) > now:
        log.warning("sign-in of %s from %s refused: the account is locked", body.username, remote)
        raise ApiError("account_locked", _until(user.locked_until))
    # an unknown username costs as much as a wrong password: no timing tells them apart
    right = await verify_password(user.password_hash if user else _dummy_hash(), body.password)
    if user is None or not right:
        await _failed(request, user, now)
        raise ApiError("login_failed")
    if user.status != "active":
        log.warning("sign-in of %s from %s refused: the account is %s", body.username, remote,
                    user.status)  # fmt: skip
        raise ApiError("account_disabled")
    async with engine.begin() as conn:
        await conn.execute(
            users.update()
            .where(users.c.id == user.id)
            .values(failed_logins=0, locked_until=None, last_login_at=now)
        )
        token, csrf = await start_session(
            conn,
            user.id,
            now_ms=now,
            hours=config.session_hours,
            remote=remote,
            user_agent=request.headers.get("User-Agent"),
        )
        who = origin(request, Principal(id=user.id, username=user.username, name=user.name))
        await record(conn, who, action="create", resource="login", resource_id=user.id,
                     hall=None, new={"username": user.username, "remote": remote},
                     now_ms=now)  # fmt: skip
        me = await _me_of(conn, request, await _principal_of(conn, user.id))
    log.info("%s signed in from %s", body.username, remote)
    response = answer({**me, "csrf_token": csrf})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=config.secure_cookies,
        path="/",
        max_age=int(config.session_hours * 3600),
    )
    return response


async def _logout(request: web.Request) -> web.Response:
    principal, who = await caller(request)
    if principal.session_id is not None:
        async with request.app[ENGINE].begin() as conn:
            await end_session(conn, principal.session_id)
            await record(conn, who, action="delete", resource="login", resource_id=principal.id,
                         hall=None, old={"username": principal.username},
                         now_ms=now_ms())  # fmt: skip
        log.info("%s signed out", principal.username)
    response = answer({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _me(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    async with request.app[ENGINE].connect() as conn:
        return answer(await _me_of(conn, request, principal))


async def _password(request: web.Request) -> web.Response:
    """Change one's own password; every other session of the user ends."""
    principal, who = await caller(request)
    body = await read_body(request, PasswordChange)
    if principal.session_id is None:
        raise ApiError("not_a_user")
    engine = request.app[ENGINE]
    async with engine.connect() as conn:
        stored = await conn.scalar(
            sa.select(users.c.password_hash).where(users.c.id == principal.id)
        )
    if stored is None or not await verify_password(stored, body.old_password):
        log.warning("%s gave a wrong old password to change it", principal.username)
        raise ApiError("wrong_password")
    problem = password_problem(body.new_password, principal.username)
    if problem is not None:
        raise ApiError("weak_password", problem)
    now = now_ms()
    async with engine.begin() as conn:
        await set_password(conn, principal.id, body.new_password, now,
                           keep_session=principal.session_id)  # fmt: skip
        await record(conn, who, action="update", resource="user", resource_id=principal.id,
                     hall=None, new={"password_changed_at": now}, now_ms=now)  # fmt: skip
    log.info("%s changed their password", principal.username)
    return answer({"ok": True})


# ---------------------------------------------------------------------------- helpers


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that both refusals take as long."""
    return hash_password(secrets.token_urlsafe(16))


async def _user_named(conn: AsyncConnection, username: str) -> Any:
    return (
        await conn.execute(
            sa.select(
                users.c.id,
                users.c.username,
                users.c.name,
                users.c.password_hash,
                users.c.status,
                users.c.failed_logins,
                users.c.locked_until,
            ).where(users.c.username == username)
        )
    ).first()


def _failures(user: Any, now: int) -> int:
    """The account's failures in a row; a lock that has run out starts the count again."""
    if user is None:
        return 0
    if user.locked_until is not None and user.locked_until <= now:
        return 0
    return int(user.failed_logins)


async def _use_captcha(request: web.Request, body: Login) -> None:
    """Check the login's captcha and use it up, right or wrong (its own transaction: a refused
    login does not give the captcha back)."""
    if not body.captcha_id or not body.captcha_answer:
        raise ApiError("captcha_required")
    async with request.app[ENGINE].begin() as conn:
        row = (
            await conn.execute(
                captchas.delete()
                .where(captchas.c.id == body.captcha_id)
                .returning(captchas.c.answer_hash, captchas.c.expires_at)
            )
        ).first()
    if row is None or row.expires_at <= now_ms():
        raise ApiError("captcha_expired")
    given = captcha_digest(body.captcha_id, body.captcha_answer)
    if not hmac.compare_digest(given, row.answer_hash):
        log.warning("sign-in of %s from %s: wrong captcha", body.username, request.remote)
        raise ApiError("captcha_wrong")


async def _failed(request: web.Request, user: sa.Row[Any] | None, now: int) -> None:
    """Count a failed sign-in; lock the account at the configured number in a row (423)."""
    config = request.app[CONFIG].auth
    username = user.username if user is not None else "(unknown)"
    log.warning("sign-in of %s from %s failed", username, request.remote)
    if user is None:
        return
    async with request.app[ENGINE].begin() as conn:
        # read again under the row's lock: parallel attempts each count
        current = (
            await conn.execute(
                sa.select(users.c.failed_logins, users.c.locked_until)
                .where(users.c.id == user.id)
                .with_for_update()
            )
        ).first()
        if current is None:
            return
        count = _failures(current, now) + 1
        locked = count >= config.lockout_attempts
        until = now + int(config.lockout_minutes * 60_000) if locked else None
        await conn.execute(
            users.update().where(users.c.id == user.id).values(failed_logins=count,
                                                               locked_until=until)
        )  # fmt: skip
    if until is not None:
        log.warning("account %s locked until %s after %d failed sign-ins", username,
                    _until(until), count)  # fmt: skip
        raise ApiError("account_locked", _until(until))


def _until(ms: int) -> str:
    at = dt.datetime.fromtimestamp(ms / 1000, _SHANGHAI)
    return f"请于 {at:%Y-%m-%d %H:%M:%S} 后再试"


async def _principal_of(conn: AsyncConnection, user_id: str) -> Principal:
    principal = await load_principal(conn, user_id)
    assert principal is not None  # just checked active, in this request
    return principal


async def _me_of(
    conn: AsyncConnection, request: web.Request, principal: Principal
) -> dict[str, Any]:
    """The signed-in user, their department, grants and menu."""
    department = None
    if principal.department_id is not None:
        row = (
            await conn.execute(
                sa.select(org_units.c.id, org_units.c.name, org_units.c.kind).where(
                    org_units.c.id == principal.department_id
                )
            )
        ).first()
        if row is not None:
            department = {"id": row.id, "name": row.name, "kind": row.kind}
    grants = (
        {code: "all" for code in sorted(PERMISSIONS)} if principal.superuser else principal.grants
    )
    return {
        "user": {
            "id": principal.id,
            "username": principal.username,
            "name": principal.name,
            "superuser": principal.superuser,
            "department_id": principal.department_id,
        },
        "department": department,
        "grants": dict(grants),
        "menu": await menu_for(conn, principal),
    }
