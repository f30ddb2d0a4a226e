"""Managing the organisation, users, roles, groups and menus: every call checked on the server,
data scopes (own department, department and below, all) kept, no privilege escalation, an audit
row for every change."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.db import audit_log
from cloud.identity.menus import install_menus
from cloud.identity.tables import menus
from tests.cloud.conftest import ADMIN, register
from tests.cloud.identity.conftest import error_of
from tests.cloud.people import login, person, unit

EVERY_CALL = [
    ("GET", "/api/identity/units", None),
    ("POST", "/api/identity/units", {"kind": "department", "name": "新部门"}),
    ("GET", "/api/identity/units/X", None),
    ("PATCH", "/api/identity/units/X", {"name": "改名"}),
    ("DELETE", "/api/identity/units/X", None),
    ("GET", "/api/identity/users", None),
    ("POST", "/api/identity/users", {"username": "newbie", "name": "新人"}),
    ("GET", "/api/identity/users/X", None),
    ("PATCH", "/api/identity/users/X", {"name": "改名"}),
    ("DELETE", "/api/identity/users/X", None),
    ("POST", "/api/identity/users/X/password", {}),
    ("PUT", "/api/identity/users/X/roles", {"roles": []}),
    ("GET", "/api/identity/roles", None),
    ("POST", "/api/identity/roles", {"code": "r1", "name": "角色"}),
    ("GET", "/api/identity/roles/X", None),
    ("PATCH", "/api/identity/roles/X", {"name": "改名"}),
    ("DELETE", "/api/identity/roles/X", None),
    ("PUT", "/api/identity/roles/X/grants", {"grants": {}}),
    ("GET", "/api/identity/roles/X/users", None),
    ("GET", "/api/identity/permissions", None),
    ("GET", "/api/identity/role-groups", None),
    ("POST", "/api/identity/role-groups", {"name": "组"}),
    ("GET", "/api/identity/role-groups/X", None),
    ("PATCH", "/api/identity/role-groups/X", {"name": "组"}),
    ("DELETE", "/api/identity/role-groups/X", None),
    ("GET", "/api/identity/menus", None),
    ("POST", "/api/identity/menus", {"id": "m1", "title": "菜单"}),
    ("PATCH", "/api/identity/menus/X", {"title": "菜单"}),
    ("DELETE", "/api/identity/menus/X", None),
    ("POST", "/api/halls", {"name": "大厅"}),
    ("GET", "/api/halls/X/sync", None),
    ("GET", "/api/halls/X/calendar", None),
    ("GET", "/api/audit", None),
    ("POST", "/api/no-shows/run", None),
]


async def call(cloud: TestClient, method: str, path: str, who: Any, body: Any = None) -> Any:
    headers = who if isinstance(who, dict) else who.headers
    return await cloud.request(method, path, json=body, headers=headers)


async def test_every_call_refuses_a_user_without_the_grant_and_anyone_unsigned(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    nobody = await person(engine, await unit(engine, "无权部门"))
    for method, path, body in EVERY_CALL:
        response = await call(cloud, method, path, nobody, body)
        assert await error_of(response) == (403, "forbidden_operation"), (method, path)
        response = await call(cloud, method, path, {}, body)
        assert await error_of(response) == (401, "unauthorized"), (method, path)


@pytest.mark.parametrize("scope", ["dept", "dept_tree", "all"])
async def test_users_are_reached_by_the_scope_of_the_grant(
    cloud: TestClient, engine: AsyncEngine, scope: str
) -> None:
    region = await unit(engine, "区域", kind="region")
    a = await unit(engine, "甲部门", parent=region)
    below_a = await unit(engine, "甲科室", parent=a)
    b = await unit(engine, "乙部门", parent=region)
    rights = ("view", "read", "edit", "delete")
    manager = await person(engine, a, {f"user.{r}": scope for r in rights})  # type: ignore[misc]
    people = {d: await person(engine, d) for d in (a, below_a, b)}
    listed = await (await call(cloud, "GET", "/api/identity/users?size=500", manager)).json()
    seen = {u["id"] for u in listed["users"]}
    reach = {"dept": {a}, "dept_tree": {a, below_a}, "all": {a, below_a, b}}[scope]
    for department, someone in people.items():
        assert (someone.id in seen) == (department in reach), (scope, department)
        path = f"/api/identity/users/{someone.id}"
        read = await call(cloud, "GET", path, manager)
        change = await call(cloud, "PATCH", path, manager, {"phone": "13900000000"})
        if department in reach:
            assert read.status == 200 and change.status == 200
        else:
            assert await error_of(read) == (404, "unknown_user")
            assert await error_of(change) == (404, "unknown_user")
            assert await error_of(await call(cloud, "DELETE", path, manager)) == (
                404, "unknown_user")  # fmt: skip
    # the department filter with and without the units below
    q = await call(cloud, "GET", f"/api/identity/users?department={a}&below=1", manager)
    ids = {u["id"] for u in (await q.json())["users"]}
    assert people[below_a].id in ids or scope == "dept"
    assert (await call(cloud, "DELETE", f"/api/identity/users/{manager.id}", manager)).status == 409


@pytest.mark.parametrize("scope", ["dept", "dept_tree", "all"])
async def test_units_are_reached_by_the_scope_of_the_grant(
    cloud: TestClient, engine: AsyncEngine, scope: str
) -> None:
    root = await unit(engine, "根区域", kind="region")
    a = await unit(engine, "甲局", parent=root)
    below_a = await unit(engine, "甲局办公室", parent=a)
    b = await unit(engine, "乙局", parent=root)
    rights = ("view", "read", "edit", "delete", "create")
    manager = await person(engine, a, {f"org.{r}": scope for r in rights})  # type: ignore[misc]
    listed = await (await call(cloud, "GET", "/api/identity/units", manager)).json()
    seen = {u["id"] for u in listed["units"]}
    reach = {"dept": {a}, "dept_tree": {a, below_a}, "all": {root, a, below_a, b}}[scope]
    assert reach <= seen and not ({root, a, below_a, b} - reach) & seen
    assert (await call(cloud, "GET", f"/api/identity/units/{b}", manager)).status == (
        200 if scope == "all" else 404)  # fmt: skip
    made = await call(cloud, "POST", "/api/identity/units", manager,
                      {"kind": "site", "name": "新网点", "parent_id": a})  # fmt: skip
    assert made.status == 201
    site = (await made.json())["unit"]["id"]
    if scope == "dept":
        assert await error_of(await call(cloud, "GET", f"/api/identity/units/{site}", manager)) == (
            404, "unknown_org_unit")  # fmt: skip
        return
    # 切换: move the site under the office, then delete refusals and a delete
    moved = await call(cloud, "PATCH", f"/api/identity/units/{site}", manager,
                       {"parent_id": below_a, "short_name": "网点"})  # fmt: skip
    assert (await moved.json())["unit"]["parent_id"] == below_a
    refused = await call(cloud, "DELETE", f"/api/identity/units/{below_a}", manager)
    assert await error_of(refused) == (409, "org_unit_in_use")
    away = await call(cloud, "PATCH", f"/api/identity/units/{site}", manager, {"parent_id": b})
    assert away.status == (200 if scope == "all" else 404)
    assert (await call(cloud, "DELETE", f"/api/identity/units/{site}", manager)).status == 200
    cycle = await call(cloud, "PATCH", f"/api/identity/units/{a}", manager, {"parent_id": below_a})
    assert cycle.status in (403, 422)


async def test_no_one_hands_out_more_than_they_hold(cloud: TestClient, engine: AsyncEngine) -> None:
    a = await unit(engine, "授权部门")
    grants = {"role.view": "dept", "role.read": "dept", "role.create": "dept", "role.edit": "dept",
              "user.view": "dept", "user.edit": "dept", "hall.read": "dept"}  # fmt: skip
    admin = await person(engine, a, grants)  # type: ignore[arg-type]
    made = await call(cloud, "POST", "/api/identity/roles", admin,
                      {"code": "clerk-a", "name": "办事员", "department_id": a,
                       "grants": {"hall.read": "dept"}})  # fmt: skip
    assert made.status == 201, await made.text()
    role = (await made.json())["role"]["id"]
    for wider in ({"hall.read": "all"}, {"hall.manage": "dept"}):
        response = await call(cloud, "PUT", f"/api/identity/roles/{role}/grants", admin,
                              {"grants": wider})  # fmt: skip
        assert await error_of(response) == (403, "privilege_escalation")
    unknown = await call(cloud, "PUT", f"/api/identity/roles/{role}/grants", admin,
                         {"grants": {"no.such": "dept"}})  # fmt: skip
    assert await error_of(unknown) == (422, "unknown_permission")
    # a superuser's role with more cannot be given by the department's admin
    big = await call(cloud, "POST", "/api/identity/roles", ADMIN,
                     {"code": "big-a", "name": "大角色", "department_id": a,
                      "grants": {"hall.manage": "all"}})  # fmt: skip
    big_id = (await big.json())["role"]["id"]
    clerk = await person(engine, a)
    response = await call(cloud, "PUT", f"/api/identity/users/{clerk.id}/roles", admin,
                          {"roles": [big_id]})  # fmt: skip
    assert await error_of(response) == (403, "privilege_escalation")
    ok = await call(cloud, "PUT", f"/api/identity/users/{clerk.id}/roles", admin, {"roles": [role]})
    assert ok.status == 200
    of_role = await (await call(cloud, "GET", f"/api/identity/roles/{role}/users", admin)).json()
    assert [u["id"] for u in of_role["users"]] == [clerk.id]
    me = await (await call(cloud, "GET", "/api/auth/me", clerk)).json()
    assert me["grants"] == {"hall.read": "dept"}


async def test_an_administrator_manages_users_with_an_audit_trail(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    a = await unit(engine, "用户部门")
    boss = await person(engine, None, superuser=True)
    weak = await call(cloud, "POST", "/api/identity/users", boss,
                      {"username": "weakling", "name": "弱", "password": "abc"})  # fmt: skip
    assert await error_of(weak) == (422, "weak_password")
    made = await call(cloud, "POST", "/api/identity/users", boss,
                      {"username": "zhang.san", "name": "张三", "department_id": a})  # fmt: skip
    body = await made.json()
    assert made.status == 201 and body["initial_password"]
    user_id = body["user"]["id"]
    zhang = await login(cloud, "zhang.san", body["initial_password"])
    taken = await call(cloud, "POST", "/api/identity/users", boss,
                       {"username": "zhang.san", "name": "重名"})  # fmt: skip
    assert await error_of(taken) == (409, "username_taken")
    off = await call(cloud, "PATCH", f"/api/identity/users/{user_id}", boss, {"status": "disabled"})
    assert (await off.json())["user"]["status"] == "disabled"
    assert (await call(cloud, "GET", "/api/auth/me", zhang)).status == 401
    await call(cloud, "PATCH", f"/api/identity/users/{user_id}", boss, {"status": "active"})
    reset = await call(cloud, "POST", f"/api/identity/users/{user_id}/password", boss, {})
    new_password = (await reset.json())["initial_password"]
    await login(cloud, "zhang.san", new_password)
    found = await call(cloud, "GET", "/api/identity/users?q=zhang&status=active", boss)
    assert [u["username"] for u in (await found.json())["users"]] == ["zhang.san"]
    assert (await call(cloud, "DELETE", f"/api/identity/users/{user_id}", boss)).status == 200
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.resource == "user", audit_log.c.resource_id == user_id)
                .order_by(audit_log.c.id)
            )
        ).all()
    assert [r.action for r in rows] == ["create", "update", "update", "update", "delete"]
    assert {r.actor for r in rows} == {f"user:{boss.username}"}
    assert not any(new_password in str(r._asdict()) for r in rows)


async def test_roles_and_groups_round_trip(cloud: TestClient, engine: AsyncEngine) -> None:
    role = await (await call(cloud, "POST", "/api/identity/roles", ADMIN,
                             {"code": "auditor", "name": "审计员",
                              "grants": {"audit.read": "all"}})).json()  # fmt: skip
    role_id = role["role"]["id"]
    group = await call(cloud, "POST", "/api/identity/role-groups", ADMIN,
                       {"name": "审计组", "roles": [role_id]})  # fmt: skip
    assert group.status == 201
    group_id = (await group.json())["group"]["id"]
    member = await person(engine, None)
    await call(cloud, "PUT", f"/api/identity/users/{member.id}/roles", ADMIN,
               {"groups": [group_id]})  # fmt: skip
    me = await (await call(cloud, "GET", "/api/auth/me", member)).json()
    assert me["grants"] == {"audit.read": "all"}
    catalogue = await (await call(cloud, "GET", "/api/identity/permissions", ADMIN)).json()
    org = next(a for a in catalogue["areas"] if a["area"] == "org")
    assert org["label"] == "组织机构" and len(org["permissions"]) == 5
    assert (await call(cloud, "DELETE", f"/api/identity/roles/{role_id}", ADMIN)).status == 200
    me = await (await call(cloud, "GET", "/api/auth/me", member)).json()
    assert me["grants"] == {}
    assert (await call(cloud, "DELETE", f"/api/identity/role-groups/{group_id}", ADMIN)).ok


async def test_the_menu_follows_the_permissions_and_keeps_an_administrators_edits(
    cloud: TestClient, engine: AsyncEngine
) -> None:
    reader = await person(engine, None, {"calendar.read": "all", "user.view": "all"})
    me = await (await call(cloud, "GET", "/api/auth/me", reader)).json()
    system = next(m for m in me["menu"] if m["id"] == "system")
    assert [c["path"] for c in system["children"]] == ["/portal/users", "/portal/calendar"]
    plain = await person(engine, None)
    me = await (await call(cloud, "GET", "/api/auth/me", plain)).json()
    # the home page (and other capabilities' pages for everyone), no system management
    assert me["menu"][0]["id"] == "home" and "system" not in [m["id"] for m in me["menu"]]
    renamed = await call(cloud, "PATCH", "/api/identity/menus/system.users", ADMIN,
                         {"title": "账号管理"})  # fmt: skip
    assert renamed.status == 200
    hidden = await call(cloud, "DELETE", "/api/identity/menus/system.calendar", ADMIN)
    assert (await hidden.json())["hidden"] is True
    async with engine.begin() as conn:
        await install_menus(conn)  # a worker starting again
        rows = dict((await conn.execute(sa.select(menus.c.id, menus.c.title))).all())
    assert rows["system.users"] == "账号管理"
    me = await (await call(cloud, "GET", "/api/auth/me", reader)).json()
    system = next(m for m in me["menu"] if m["id"] == "system")
    assert [c["title"] for c in system["children"]] == ["账号管理"]
    await call(cloud, "PATCH", "/api/identity/menus/system.users", ADMIN, {"title": "用户管理"})
    await call(cloud, "PATCH", "/api/identity/menus/system.calendar", ADMIN, {"visible": True})


async def test_hall_calls_follow_the_halls_org_unit(cloud: TestClient, engine: AsyncEngine) -> None:
    mine, _ = await register(cloud)
    other, _ = await register(cloud)
    department = await unit(engine, "大厅管理局")
    new_site = {"kind": "site", "name": "本厅", "parent_id": department, "hall": mine}
    site = await call(cloud, "POST", "/api/identity/units", ADMIN, new_site)
    assert site.status == 201, await site.text()
    reads = ("hall.read", "calendar.read", "audit.read")
    staff = await person(engine, department, {p: "dept_tree" for p in reads})
    assert (await call(cloud, "GET", f"/api/halls/{mine}/sync", staff)).status == 200
    assert (await call(cloud, "GET", f"/api/halls/{mine}/calendar", staff)).status == 200
    assert (await call(cloud, "GET", f"/api/audit?hall={mine}", staff)).status == 200
    for path in (f"/api/halls/{other}/sync", f"/api/halls/{other}/calendar",
                 f"/api/audit?hall={other}", "/api/audit"):  # fmt: skip
        assert await error_of(await call(cloud, "GET", path, staff)) == (403, "forbidden"), path
    change = await call(cloud, "PATCH", f"/api/halls/{mine}", staff, {"disabled": True})
    assert await error_of(change) == (403, "forbidden_operation")
    assert (await call(cloud, "GET", f"/api/halls/{other}/sync", ADMIN)).status == 200
