"""Test people: org units and users with roles of given grants, signed in through a real
session row, so a test can call the cloud as a department's user (cookie + CSRF header)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.accounts import create_user
from cloud.identity.org import Kind, create_unit
from cloud.identity.principal import CSRF_HEADER, SESSION_COOKIE, Scope
from cloud.identity.sessions import start_session
from cloud.identity.tables import role_grants, roles, user_roles

PASSWORD = "Test-pass-2026"


@dataclass(frozen=True)
class Person:
    """A signed-in user: pass `person.headers` to every call (cookie and CSRF token)."""

    id: str
    username: str
    department_id: str | None
    token: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.token}", CSRF_HEADER: self.csrf}

    @property
    def cookie_only(self) -> dict[str, str]:
        """The cookie without the CSRF token: a forged cross-site request."""
        return {"Cookie": f"{SESSION_COOKIE}={self.token}"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def unit(
    engine: AsyncEngine, name: str, *, kind: Kind = "department", parent: str | None = None
) -> str:
    async with engine.begin() as conn:
        return await create_unit(conn, kind=kind, name=name, parent_id=parent, now_ms=now_ms())


async def person(
    engine: AsyncEngine,
    department: str | None,
    grants: dict[str, Scope] | None = None,
    *,
    superuser: bool = False,
    username: str | None = None,
) -> Person:
    """A new user of `department` holding `grants` through a role of their own, signed in."""
    username = username or f"u{secrets.token_hex(4)}"
    async with engine.begin() as conn:
        user_id = await create_user(
            conn,
            username=username,
            name=f"测试{username}",
            department_id=department,
            password=PASSWORD,
            now_ms=now_ms(),
            created_by=None,
            superuser=superuser,
        )
        if grants:
            role = f"role-{secrets.token_hex(4)}"
            await conn.execute(roles.insert().values(id=role, code=role, name=role, created_at=0))
            await conn.execute(
                role_grants.insert(),
                [{"role_id": role, "permission": p, "scope": s} for p, s in grants.items()],
            )
            await conn.execute(user_roles.insert().values(user_id=user_id, role_id=role))
        token, csrf = await start_session(conn, user_id, now_ms=now_ms(), hours=1)
    return Person(user_id, username, department, token, csrf)


async def solve_captcha(engine: AsyncEngine, captcha_id: str) -> str:
    """The answer of a captcha drawn by the cloud, found from its stored hash (four digits:
    ten thousand tries, a few milliseconds)."""
    import itertools

    import sqlalchemy as sa

    from cloud.identity.login import CAPTCHA_DIGITS, captcha_digest
    from cloud.identity.tables import captchas

    async with engine.connect() as conn:
        stored = await conn.scalar(
            sa.select(captchas.c.answer_hash).where(captchas.c.id == captcha_id)
        )
    if stored is None:
        raise LookupError(f"no captcha {captcha_id}")
    for digits in itertools.product("0123456789", repeat=CAPTCHA_DIGITS):
        guess = "".join(digits)
        if captcha_digest(captcha_id, guess) == stored:
            return guess
    raise LookupError(f"captcha {captcha_id} has no {CAPTCHA_DIGITS}-digit answer")


async def login(
    client: Any, username: str, password: str = PASSWORD, engine: AsyncEngine | None = None
) -> Person:
    """Sign in through `POST /api/auth/login` with a solved captcha, as a browser would; the
    signed-in person. `client` is an aiohttp TestClient (the engine is its app's) or any
    client with `get`/`post` and a base address, given the engine."""
    from cloud.context import ENGINE

    engine = engine or client.app[ENGINE]
    assert engine is not None
    drawn = await (await client.get("/api/auth/captcha")).json()
    answer = await solve_captcha(engine, drawn["id"])
    body = {"username": username, "password": password, "captcha_id": drawn["id"],
            "captcha_answer": answer}  # fmt: skip
    response = await client.post("/api/auth/login", json=body)
    signed = await response.json()
    assert response.status == 200, signed
    token = response.cookies[SESSION_COOKIE].value
    # the person's headers carry the session: a test client's own jar would send the newest
    # sign-in's cookie with every request, whoever makes it
    jar = getattr(getattr(client, "session", None), "cookie_jar", None)
    if jar is not None:
        jar.clear()
    user = signed["user"]
    return Person(user["id"], username, user["department_id"], token, signed["csrf_token"])
