"""Back-office accounts: creating users, their passwords (Argon2) and their status (active,
disabled 屏蔽, cancelled 取消备案). A user who is not active cannot sign in, and their
sessions end at once."""

from __future__ import annotations

import asyncio
import secrets
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from cloud.errors import ApiError
from cloud.identity.tables import sessions, users

__all__ = [
    "Status",
    "create_user",
    "hash_password",
    "initial_password",
    "password_problem",
    "set_password",
    "set_status",
    "verify_password",
]

Status = Literal["active", "disabled", "cancelled"]

# passwords people chose: argon2-cffi's defaults (RFC 9106 low-memory profile)
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches (in a thread: Argon2 takes tens of milliseconds)."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def initial_password() -> str:
    """A first password for an account (made by an administrator or an approval), shown once:
    12 characters that always satisfy `password_problem`."""
    while True:
        password = secrets.token_urlsafe(9)
        if password_problem(password, "") is None:
            return password


async def create_user(
    conn: AsyncConnection,
    *,
    username: str,
    name: str,
    department_id: str | None,
    password: str,
    now_ms: int,
    created_by: str | None,
    phone: str | None = None,
    email: str | None = None,
    superuser: bool = False,
    id: str | None = None,
) -> str:
    """A new active user; their id. Refuses a username already taken (409 `username_taken`)."""
    taken = await conn.scalar(sa.select(users.c.id).where(users.c.username == username))
    if taken is not None:
        raise ApiError("username_taken", username)
    user_id = id or str(ULID())
    password_hash = await asyncio.to_thread(hash_password, password)
    await conn.execute(
        users.insert().values(
            id=user_id,
            username=username,
            name=name,
            department_id=department_id,
            phone=phone,
            email=email,
            password_hash=password_hash,
            status="active",
            superuser=superuser,
            password_changed_at=now_ms,
            created_at=now_ms,
            created_by=created_by,
        )
    )
    return user_id


async def set_status(conn: AsyncConnection, user_id: str, status: Status) -> Status:
    """Make a user active, disabled or cancelled; their previous status. Ending a user's
    activity ends their sessions."""
    old = await conn.scalar(sa.select(users.c.status).where(users.c.id == user_id))
    if old is None:
        raise ApiError("unknown_user", user_id)
    await conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(status=status, failed_logins=0, locked_until=None)
    )
    if status != "active":
        await conn.execute(sessions.delete().where(sessions.c.user_id == user_id))
    return old  # type: ignore[no-any-return]


async def set_password(
    conn: AsyncConnection, user_id: str, password: str, now_ms: int, *, keep_session: str | None
) -> None:
    """A new password; every session of the user ends but `keep_session` (the one that made
    the change)."""
    password_hash = await asyncio.to_thread(hash_password, password)
    done = await conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, password_changed_at=now_ms)
    )
    if done.rowcount == 0:
        raise ApiError("unknown_user", user_id)
    ends = sessions.delete().where(sessions.c.user_id == user_id)
    if keep_session is not None:
        ends = ends.where(sessions.c.id != keep_session)
    await conn.execute(ends)


# the password rule (§21.1.4 用户中心: people change their own password): long enough, letters
# and digits, not the username
_SHORTEST = 8
_LONGEST = 128


def password_problem(password: str, username: str) -> str | None:
    """What is wrong with `password` as a new password of `username`, in Chinese; None if
    nothing."""
    if len(password) < _SHORTEST:
        return f"密码至少 {_SHORTEST} 位"
    if len(password) > _LONGEST:
        return f"密码不能超过 {_LONGEST} 位"
    if not any(c.isascii() and c.isalpha() for c in password) or not any(
        c.isdigit() for c in password
    ):
        return "密码须同时包含字母和数字"
    if password.casefold() == username.casefold():
        return "密码不能与登录账号相同"
    return None
