"""Login sessions: a random token in an HttpOnly cookie, its SHA-256 in the table with the
session's CSRF token, absolute expiry and last activity (checked in `principal.py`)."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.identity.principal import session_digest
from cloud.identity.tables import sessions

__all__ = ["end_session", "start_session"]


async def start_session(
    conn: AsyncConnection,
    user_id: str,
    *,
    now_ms: int,
    hours: float,
    remote: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, str]:
    """A new session for `user_id`: the cookie's token and the session's CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    await conn.execute(
        sessions.insert().values(
            id=session_digest(token),
            user_id=user_id,
            csrf_token=csrf,
            created_at=now_ms,
            last_seen_at=now_ms,
            expires_at=now_ms + int(hours * 3_600_000),
            remote=remote,
            user_agent=user_agent[:200] if user_agent else None,
        )
    )
    return token, csrf


async def end_session(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(sessions.delete().where(sessions.c.id == session_id))
