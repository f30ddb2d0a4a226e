"""The five onboarding flows end to end over HTTP on PostgreSQL (§21.1): a department is
stationed and leaves; a staff member's entry makes an account that signs in, with the initial
password shown once to the applicant; cancellation ends sign-in and sessions; reinstatement
restores it; a failing hook rolls the approval back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.accounts import verify_password
from cloud.identity.principal import load_principal
from cloud.identity.sessions import start_session
from cloud.identity.tables import org_units, sessions, users
from cloud.onboarding.tables import password_reveals, staff, stationed_departments
from tests.cloud.people import Person, now_ms, person, unit
from tests.cloud.workflow.helpers import head


async def call(
    cloud: TestClient, method: str, path: str, who: Person, status: int, body: Any = None
) -> Any:
    response = await cloud.request(method, path, json=body, headers=who.headers)
    assert response.status == status, await response.text()
    return await response.json()


async def submit(cloud: TestClient, who: Person, key: str, form: dict[str, Any]) -> Any:
    body = {"business_key": f"onboarding.{key}", "form": form}
    return await call(cloud, "POST", "/api/workflow/instances", who, 201, body)


async def approve(cloud: TestClient, boss: Person, view: dict[str, Any], status: int = 200) -> Any:
    (task,) = [t["task_id"] for t in view["current_approvers"] if True]
    body = {"decision": "approve", "comment": "同意进驻"}
    return await call(cloud, "POST", f"/api/workflow/tasks/{task}/act", boss, status, body)


async def hall_office(db: AsyncEngine) -> tuple[str, Person, Person]:
    """A site, the hall office under it with its head, and a clerk who files applications."""
    site = await unit(db, "市民中心", kind="site")
    office = await unit(db, "政务服务办", parent=site)
    boss = await person(db, office)
    await head(db, office, boss)
    clerk = await person(db, office, {"onboarding.apply": "dept"})
    return site, boss, clerk


def staff_form(unit_id: str, username: str) -> dict[str, Any]:
    return {
        "unit_id": unit_id,
        "name": "李娜",
        "gender": "女",
        "birth_date": "1990-05-01",
        "political_status": "中共党员",
        "floor": "2",
        "work_number": "G001",
        "department": "登记科",
        "post": "科员",
        "mobile": "13800000001",
        "email": "lina@example.cn",
        "stationed_post": "窗口受理",
        "stationed_status": "在岗",
        "leaders": {
            "division_leader": {"name": "王强", "phone": "13900000000"},
            "section_head": {"name": "赵敏", "phone": "13700000000"},
        },
        "shuttle": True,
        "canteen": True,
        "username": username,
    }


async def test_department_entry_and_exit(cloud: TestClient, db: AsyncEngine) -> None:
    site, boss, clerk = await hall_office(db)
    form = {
        "name": "市场监督管理局",
        "short_name": "市场监管",
        "number": "D-01",
        "site_id": site,
        "window_name": "市场监管窗口",
        "window_count": 3,
        "staff_count": 8,
        "leaders": {"unit_leader": {"name": "张三", "phone": "13800000000"}},
        "items": [
            {
                "name": "营业执照办理",
                "type": "许可",
                "service_object": "企业",
                "time_limit": "3个工作日",
                "fees": "不收费",
            }
        ],
    }
    view = await submit(cloud, clerk, "department_entry", form)
    assert view["current_step"] == "负责人审批"
    assert [a["user_id"] for a in view["current_approvers"]] == [boss.id]
    view = await approve(cloud, boss, view)
    assert view["status"] == "approved"
    unit_id = view["result"]["unit_id"]
    async with db.connect() as conn:
        made = (await conn.execute(sa.select(org_units).where(org_units.c.id == unit_id))).one()
        row = (
            await conn.execute(
                sa.select(stationed_departments).where(stationed_departments.c.unit_id == unit_id)
            )
        ).one()
    assert (made.parent_id, made.name, made.kind) == (site, "市场监督管理局", "department")
    assert (row.status, row.number, row.window_count, row.items[0]["name"]) == (
        "stationed",
        "D-01",
        3,
        "营业执照办理",
    )
    refused = await call(
        cloud,
        "POST",
        "/api/workflow/instances",
        clerk,
        409,
        {"business_key": "onboarding.department_entry", "form": form},
    )
    assert refused["error"]["code"] == "already_stationed"

    view = await submit(cloud, clerk, "department_exit", {"unit_id": unit_id, "date": "2030-01-31"})
    await approve(cloud, boss, view)
    async with db.connect() as conn:
        disabled = await conn.scalar(
            sa.select(org_units.c.disabled).where(org_units.c.id == unit_id)
        )
        status = await conn.scalar(
            sa.select(stationed_departments.c.status).where(
                stationed_departments.c.unit_id == unit_id
            )
        )
    assert (disabled, status) == (True, "departed")


async def test_staff_entry_cancellation_and_reinstatement(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site, boss, clerk = await hall_office(db)
    window_unit = await unit(db, "税务局", parent=site)
    refused = await call(
        cloud,
        "POST",
        "/api/workflow/instances",
        await person(db, None),
        403,
        {"business_key": "onboarding.staff_entry", "form": staff_form(window_unit, "lina")},
    )
    assert refused["error"]["code"] == "forbidden_operation"
    view = await submit(cloud, clerk, "staff_entry", staff_form(window_unit, "lina"))
    approved = await approve(cloud, boss, view)
    assert approved["status"] == "approved" and "revealed" not in approved  # not the approver's
    assert approved["result"]["account_created"]
    path = f"/api/workflow/instances/{view['id']}"
    shown = await call(cloud, "GET", path, clerk, 200)
    password = shown["revealed"]["initial_password"]
    assert shown["revealed"]["username"] == "lina" and len(password) >= 12
    assert "revealed" not in await call(cloud, "GET", path, clerk, 200)  # once
    user_id = approved["result"]["user_id"]
    async with db.begin() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(password_reveals)) == 0
        account = (await conn.execute(sa.select(users).where(users.c.id == user_id))).one()
        assert await verify_password(account.password_hash, password)
        assert (account.department_id, account.phone) == (window_unit, "13800000001")
        signed_in = await load_principal(conn, user_id)
        assert signed_in is not None and signed_in.username == "lina"
        archived = (await conn.execute(sa.select(staff).where(staff.c.user_id == user_id))).one()
        assert (archived.name, archived.status, archived.leaders["section_head"]["name"]) == (
            "李娜",
            "active",
            "赵敏",
        )
        await start_session(conn, user_id, now_ms=now_ms(), hours=1)

    change = {"staff_id": archived.id, "date": "2030-02-01", "remark": "调回原单位"}
    refused = await call(
        cloud,
        "POST",
        "/api/workflow/instances",
        clerk,
        409,
        {"business_key": "onboarding.staff_reinstate", "form": change},
    )
    assert refused["error"]["code"] == "staff_status"
    view = await submit(cloud, clerk, "staff_cancel", change)
    assert view["form"]["name"] == "李娜" and view["record_id"] == archived.id
    await approve(cloud, boss, view)
    async with db.connect() as conn:
        assert await load_principal(conn, user_id) is None
        left = await conn.scalar(
            sa.select(sa.func.count()).select_from(sessions).where(sessions.c.user_id == user_id)
        )
        assert left == 0
        assert await conn.scalar(sa.select(staff.c.status).where(staff.c.id == archived.id)) == (
            "cancelled"
        )

    view = await submit(cloud, clerk, "staff_reinstate", change | {"remark": "复职"})
    await approve(cloud, boss, view)
    async with db.connect() as conn:
        assert await load_principal(conn, user_id) is not None


async def test_a_failing_hook_rolls_the_approval_back(cloud: TestClient, db: AsyncEngine) -> None:
    site, boss, clerk = await hall_office(db)
    window_unit = await unit(db, "人社局", parent=site)
    view = await submit(cloud, clerk, "staff_entry", staff_form(window_unit, "wangfang"))
    await person(db, window_unit, username="wangfang")  # the username is taken meanwhile
    refused = await approve(cloud, boss, view, status=409)
    assert refused["error"]["code"] == "username_taken"
    seen = await call(cloud, "GET", f"/api/workflow/instances/{view['id']}", clerk, 200)
    assert seen["status"] == "running" and [h["action"] for h in seen["history"]] == ["start"]
    assert [a["user_id"] for a in seen["current_approvers"]] == [boss.id]
    async with db.connect() as conn:
        archived = await conn.scalar(
            sa.select(sa.func.count()).select_from(staff).where(staff.c.unit_id == window_unit)
        )
    assert archived == 0
