"""Signing in: captchas, lockout, sessions that expire, CSRF, sign-out and password changes."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.context import ENGINE
from cloud.db import audit_log
from cloud.identity.accounts import set_status
from cloud.identity.principal import SESSION_COOKIE
from cloud.identity.tables import captchas, sessions, users
from tests.cloud.identity.conftest import MakeCloud, error_of
from tests.cloud.people import PASSWORD, login, now_ms, person, solve_captcha, unit


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Signing in works the same on the embedded SQLite."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def attempt(
    cloud: TestClient, engine: AsyncEngine, username: str, password: str, *, solved: bool = True
) -> Any:
    """A sign-in with a freshly drawn captcha (solved, or answered wrongly)."""
    drawn = await (await cloud.get("/api/auth/captcha")).json()
    answer = await solve_captcha(engine, drawn["id"])
    if not solved:
        answer = f"{(int(answer) + 1) % 10_000:04d}"
    body = {"username": username, "password": password, "captcha_id": drawn["id"],
            "captcha_answer": answer}  # fmt: skip
    return await cloud.post("/api/auth/login", json=body)


async def test_a_user_signs_in_with_a_captcha_and_gets_a_session(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    drawn = await (await cloud.get("/api/auth/captcha")).json()
    assert drawn["image"].startswith("data:image/png;base64,")
    department = await unit(engine, "政务服务中心")
    staff = await person(engine, department, {"audit.read": "all"})
    response = await attempt(cloud, engine, staff.username, PASSWORD)
    body = await response.json()
    assert response.status == 200, body
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert body["user"]["username"] == staff.username and body["csrf_token"]
    assert body["department"] == {"id": department, "name": "政务服务中心", "kind": "department"}
    signed = {"Cookie": f"{SESSION_COOKIE}={cookie.value}"}
    me = await (await cloud.get("/api/auth/me", headers=signed)).json()
    assert me["grants"] == {"audit.read": "all"}
    assert me["menu"][0]["title"] == "工作台"
    system = next(m for m in me["menu"] if m["id"] == "system")
    assert [c["path"] for c in system["children"]] == ["/portal/audit"]


async def test_an_unknown_user_and_a_wrong_password_get_the_same_refusal(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    staff = await person(engine, None)
    wrong = await attempt(cloud, engine, staff.username, "Wrong-pass-1")
    unknown = await attempt(cloud, engine, "nobody-here", PASSWORD)
    assert wrong.status == unknown.status == 401
    assert (await wrong.json()) == (await unknown.json())


async def test_a_captcha_is_required_used_once_and_expires(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    staff = await person(engine, None)
    plain = {"username": staff.username, "password": PASSWORD}
    response = await cloud.post("/api/auth/login", json=plain)
    assert await error_of(response) == (422, "captcha_required")
    assert await error_of(await attempt(cloud, engine, staff.username, PASSWORD, solved=False)) == (
        422, "captcha_wrong")  # fmt: skip
    drawn = await (await cloud.get("/api/auth/captcha")).json()
    answer = await solve_captcha(engine, drawn["id"])
    body = {**plain, "captcha_id": drawn["id"], "captcha_answer": answer}
    assert (await cloud.post("/api/auth/login", json=body)).status == 200
    again = await cloud.post("/api/auth/login", json=body)
    assert await error_of(again) == (422, "captcha_expired")
    drawn = await (await cloud.get("/api/auth/captcha")).json()
    answer = await solve_captcha(engine, drawn["id"])
    async with engine.begin() as conn:
        await conn.execute(
            captchas.update().where(captchas.c.id == drawn["id"]).values(expires_at=now_ms() - 1)
        )
    late = {**plain, "captcha_id": drawn["id"], "captcha_answer": answer}
    assert await error_of(await cloud.post("/api/auth/login", json=late)) == (
        422, "captcha_expired")  # fmt: skip


async def test_the_captcha_can_be_asked_only_after_failures(make_cloud: MakeCloud) -> None:
    cloud = await make_cloud(captcha_after_failures=2, lockout_attempts=5)

    engine = cloud.app[ENGINE]
    staff = await person(engine, None)
    plain = {"username": staff.username, "password": PASSWORD}
    assert (await cloud.post("/api/auth/login", json=plain)).status == 200
    for _ in range(2):
        wrong = await cloud.post("/api/auth/login", json={**plain, "password": "Nope-12345"})
        assert await error_of(wrong) == (401, "login_failed")
    assert await error_of(await cloud.post("/api/auth/login", json=plain)) == (
        422, "captcha_required")  # fmt: skip
    assert (await attempt(cloud, engine, staff.username, PASSWORD)).status == 200
    # a success starts the count again
    assert (await cloud.post("/api/auth/login", json=plain)).status == 200


async def test_repeated_failures_lock_the_account_until_the_lock_runs_out(
    make_cloud: MakeCloud,
) -> None:

    cloud = await make_cloud(lockout_attempts=3, lockout_minutes=10)
    engine = cloud.app[ENGINE]
    staff = await person(engine, None)
    for _ in range(2):
        response = await attempt(cloud, engine, staff.username, "Nope-12345")
        assert await error_of(response) == (401, "login_failed")
    third = await attempt(cloud, engine, staff.username, "Nope-12345")
    assert await error_of(third) == (423, "account_locked")
    message = (await (await attempt(cloud, engine, staff.username, "x")).json())["error"]
    assert "后再试" in message["message"]
    right = await attempt(cloud, engine, staff.username, PASSWORD)
    assert await error_of(right) == (423, "account_locked")
    async with engine.begin() as conn:
        await conn.execute(
            users.update().where(users.c.id == staff.id).values(locked_until=now_ms() - 1)
        )
    # the lock ran out: one more failure does not lock again at once
    assert (await attempt(cloud, engine, staff.username, "Nope-12345")).status == 401
    assert (await attempt(cloud, engine, staff.username, PASSWORD)).status == 200
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(users).where(users.c.id == staff.id))).one()
    assert (row.failed_logins, row.locked_until) == (0, None) and row.last_login_at


async def test_sessions_end_when_idle_or_too_old(cloud: TestClient, engine: AsyncEngine) -> None:
    idle = await login(cloud, (await person(engine, None)).username)
    old = await login(cloud, (await person(engine, None)).username)
    assert (await cloud.get("/api/auth/me", headers=idle.headers)).status == 200
    async with engine.begin() as conn:
        await conn.execute(
            sessions.update()
            .where(sessions.c.user_id == idle.id)
            .values(last_seen_at=now_ms() - 31 * 60_000)
        )
        await conn.execute(
            sessions.update().where(sessions.c.user_id == old.id).values(expires_at=now_ms() - 1)
        )
    for who in (idle, old):
        response = await cloud.get("/api/auth/me", headers=who.headers)
        assert await error_of(response) == (401, "session_expired")


async def test_a_change_needs_the_csrf_token_of_the_session(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    staff = await login(cloud, (await person(engine, None)).username)
    forged = await cloud.post("/api/auth/logout", headers=staff.cookie_only)
    assert await error_of(forged) == (403, "csrf_failed")
    wrong = {**staff.headers, "X-CSRF-Token": "not-it"}
    assert await error_of(await cloud.post("/api/auth/logout", headers=wrong)) == (
        403, "csrf_failed")  # fmt: skip
    assert (await cloud.get("/api/auth/me", headers=staff.cookie_only)).status == 200
    assert (await cloud.post("/api/auth/logout", headers=staff.headers)).status == 200
    after = await cloud.get("/api/auth/me", headers=staff.headers)
    assert await error_of(after) == (401, "unauthorized")


async def test_changing_the_password_ends_the_other_sessions(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    username = (await person(engine, None)).username
    here = await login(cloud, username)
    there = await login(cloud, username)
    change = {"old_password": "Wrong-old-1", "new_password": "New-pass-2027"}
    response = await cloud.post("/api/auth/password", json=change, headers=here.headers)
    assert await error_of(response) == (422, "wrong_password")
    for weak in ("short1", "onlyletters", "1234567890", username):
        body = {"old_password": PASSWORD, "new_password": weak}
        response = await cloud.post("/api/auth/password", json=body, headers=here.headers)
        assert await error_of(response) == (422, "weak_password"), weak
    change = {"old_password": PASSWORD, "new_password": "New-pass-2027"}
    assert (await cloud.post("/api/auth/password", json=change, headers=here.headers)).ok
    assert (await cloud.get("/api/auth/me", headers=here.headers)).status == 200
    assert (await cloud.get("/api/auth/me", headers=there.headers)).status == 401
    assert (await attempt(cloud, engine, username, PASSWORD)).status == 401
    assert (await attempt(cloud, engine, username, "New-pass-2027")).status == 200
    async with engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(audit_log).where(audit_log.c.actor == f"user:{username}"))
        ).all()
    assert {(r.resource, r.action) for r in rows} == {("login", "create"), ("user", "update")}
    assert all("password" not in str(r.new) or "password_changed_at" in str(r.new) for r in rows)
    assert not any("New-pass-2027" in str(r._asdict()) for r in rows)


async def test_a_disabled_users_session_stops_at_once(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    staff = await login(cloud, (await person(engine, None)).username)
    async with engine.begin() as conn:
        await set_status(conn, staff.id, "disabled")
    assert (await cloud.get("/api/auth/me", headers=staff.headers)).status == 401
    refused = await attempt(cloud, engine, staff.username, PASSWORD)
    assert await error_of(refused) == (403, "account_disabled")
    async with engine.begin() as conn:
        await set_status(conn, staff.id, "active")
    assert (await attempt(cloud, engine, staff.username, PASSWORD)).status == 200
