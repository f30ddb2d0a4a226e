"""Signing in and out (§21.3), for the API and the portal's own forms alike: captchas, the
sign-in with lockout after repeated failures, signing out, changing one's own password, and
the signed-in user with their grants and menu.

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
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from captcha.image import ImageCaptcha
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from ulid import ULID

from cloud.audit import POLICIES, AuditPolicy, Origin, record
from cloud.calls import now_ms
from cloud.config import AuthConfig
from cloud.errors import ApiError, register_errors
from cloud.identity.accounts import hash_password, password_problem, set_password, verify_password
from cloud.identity.menus import menu_for
from cloud.identity.permissions import PERMISSIONS
from cloud.identity.principal import Principal, load_principal
from cloud.identity.sessions import end_session, start_session
from cloud.identity.tables import captchas, org_units, users

__all__ = [
    "CAPTCHA_DIGITS",
    "CAPTCHA_MINUTES",
    "Captcha",
    "Login",
    "SignedIn",
    "captcha_digest",
    "change_password",
    "draw_captcha",
    "sign_in",
    "sign_out",
    "signed_in_user",
]

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
    """A sign-in attempt."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    captcha_id: str | None = Field(None, max_length=64)
    captcha_answer: str | None = Field(None, max_length=16)


@dataclass(frozen=True)
class Captcha:
    id: str
    image: str  # a data: URL of the PNG


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token (set it HttpOnly), the session's CSRF token and the
    user."""

    token: str
    csrf: str
    principal: Principal


def captcha_digest(captcha_id: str, answer_text: str) -> str:
    """How the table keeps a captcha's answer: SHA-256 over the id and the answer."""
    return hashlib.sha256(f"{captcha_id}:{answer_text.strip().upper()}".encode()).hexdigest()


async def draw_captcha(conn: AsyncConnection) -> Captcha:
    """A new captcha, its answer stored hashed (the expired ones nobody used go with it)."""
    captcha_id = str(ULID())
    text = "".join(secrets.choice("0123456789") for _ in range(CAPTCHA_DIGITS))
    image = await asyncio.to_thread(lambda: ImageCaptcha().generate(text).getvalue())
    now = now_ms()
    await conn.execute(captchas.delete().where(captchas.c.expires_at <= now))
    await conn.execute(
        captchas.insert().values(
            id=captcha_id,
            answer_hash=captcha_digest(captcha_id, text),
            expires_at=now + CAPTCHA_MINUTES * 60_000,
        )
    )
    return Captcha(captcha_id, f"data:image/png;base64,{base64.b64encode(image).decode()}")


async def sign_in(
    engine: AsyncEngine, config: AuthConfig, attempt: Login, client: Origin
) -> SignedIn:
    """Check the attempt (captcha, lock, password, status) and start a session; each failure
    a refusal in Chinese. `client` is where the attempt comes from (its actor is replaced by
    the user's). Runs its own transactions: a used captcha and a counted failure stay even
    though the sign-in is refused."""
    now = now_ms()
    remote = client.remote
    async with engine.connect() as conn:
        user = await _user_named(conn, attempt.username)
    failures = _failures(user, now)
    if config.captcha_after_failures == 0 or failures >= config.captcha_after_failures:
        await _use_captcha(engine, attempt, remote)
    if user is not None and (user.locked_until or 0) > now:
        log.warning("sign-in of %s from %s refused: the account is locked", attempt.username,
                    remote)  # fmt: skip
        raise ApiError("account_locked", _until(user.locked_until))
    # an unknown username costs as much as a wrong password: no timing tells them apart
    right = await verify_password(user.password_hash if user else _dummy_hash(), attempt.password)
    if user is None or not right:
        await _failed(engine, config, user, now, remote)
        raise ApiError("login_failed")
    if user.status != "active":
        log.warning("sign-in of %s from %s refused: the account is %s", attempt.username, remote,
                    user.status)  # fmt: skip
        raise ApiError("account_disabled")
    async with engine.begin() as conn:
        await conn.execute(
            users.update()
            .where(users.c.id == user.id)
            .values(failed_logins=0, locked_until=None, last_login_at=now)
        )
        token, csrf = await start_session(conn, user.id, now_ms=now, hours=config.session_hours,
                                          remote=remote, user_agent=client.user_agent)  # fmt: skip
        principal = await load_principal(conn, user.id, csrf_token=csrf)
        assert principal is not None  # just checked active, in this transaction
        await record(conn, replace(client, actor=principal.actor), action="create",
                     resource="login", resource_id=user.id, hall=None,
                     new={"username": user.username, "remote": remote}, now_ms=now)  # fmt: skip
    log.info("%s signed in from %s", attempt.username, remote)
    return SignedIn(token, csrf, principal)


async def sign_out(conn: AsyncConnection, principal: Principal, origin: Origin) -> None:
    """End the principal's session (nothing for an admin token)."""
    if principal.session_id is None:
        return
    await end_session(conn, principal.session_id)
    await record(conn, origin, action="delete", resource="login", resource_id=principal.id,
                 hall=None, old={"username": principal.username}, now_ms=now_ms())  # fmt: skip
    log.info("%s signed out", principal.username)


async def change_password(
    engine: AsyncEngine, principal: Principal, origin: Origin, old: str, new: str
) -> None:
    """Change one's own password: refused for an admin token (`not_a_user`), a wrong old
    password (`wrong_password`) or a new one against the rule (`weak_password`, saying why);
    every other session of the user ends."""
    if principal.session_id is None:
        raise ApiError("not_a_user")
    async with engine.connect() as conn:
        stored = await conn.scalar(
            sa.select(users.c.password_hash).where(users.c.id == principal.id)
        )
    if stored is None or not await verify_password(stored, old):
        log.warning("%s gave a wrong old password to change it", principal.username)
        raise ApiError("wrong_password")
    problem = password_problem(new, principal.username)
    if problem is not None:
        raise ApiError("weak_password", problem)
    now = now_ms()
    async with engine.begin() as conn:
        await set_password(conn, principal.id, new, now, keep_session=principal.session_id)
        await record(conn, origin, action="update", resource="user", resource_id=principal.id,
                     hall=None, new={"password_changed_at": now}, now_ms=now)  # fmt: skip
    log.info("%s changed their password", principal.username)


async def signed_in_user(conn: AsyncConnection, principal: Principal) -> dict[str, Any]:
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


async def _use_captcha(engine: AsyncEngine, attempt: Login, remote: str | None) -> None:
    """Check the attempt's captcha and use it up, right or wrong (its own transaction: a
    refused sign-in does not give the captcha back)."""
    if not attempt.captcha_id or not attempt.captcha_answer:
        raise ApiError("captcha_required")
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                captchas.delete()
                .where(captchas.c.id == attempt.captcha_id)
                .returning(captchas.c.answer_hash, captchas.c.expires_at)
            )
        ).first()
    if row is None or row.expires_at <= now_ms():
        raise ApiError("captcha_expired")
    given = captcha_digest(attempt.captcha_id, attempt.captcha_answer)
    if not hmac.compare_digest(given, row.answer_hash):
        log.warning("sign-in of %s from %s: wrong captcha", attempt.username, remote)
        raise ApiError("captcha_wrong")


async def _failed(
    engine: AsyncEngine, config: AuthConfig, user: Any, now: int, remote: str | None
) -> None:
    """Count a failed sign-in; lock the account at the configured number in a row (423)."""
    username = user.username if user is not None else "(unknown)"
    log.warning("sign-in of %s from %s failed", username, remote)
    if user is None:
        return
    async with engine.begin() as conn:
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
