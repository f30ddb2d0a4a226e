"""The onboarding queries on PostgreSQL (§21.1.3, §21.1.7): approved flows fill the stationed
departments and the staff archive consistently; both lists filter and export exactly what they
show; an administrator edits and deletes archive records directly; a department's user sees
only its own; the portal's start pages start the flows and answer bad forms next to the
field."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.principal import CSRF_FIELD, SESSION_COOKIE
from cloud.onboarding.tables import staff, stationed_departments
from tests.cloud.people import Person, person, unit
from tests.cloud.workflow.helpers import head

RIGHTS = ("view", "read", "create", "edit", "delete")


async def call(
    cloud: TestClient, method: str, path: str, who: Person, status: int, body: Any = None
) -> Any:
    response = await cloud.request(method, path, json=body, headers=who.headers)
    assert response.status == status, await response.text()
    return None if status == 204 else await response.json()


async def approved(
    cloud: TestClient, clerk: Person, boss: Person, key: str, form: dict[str, Any]
) -> Any:
    body = {"business_key": f"onboarding.{key}", "form": form}
    view = await call(cloud, "POST", "/api/workflow/instances", clerk, 201, body)
    (task,) = [t["task_id"] for t in view["current_approvers"]]
    act = {"decision": "approve", "comment": "同意"}
    return await call(cloud, "POST", f"/api/workflow/tasks/{task}/act", boss, 200, act)


def grants(scope: str) -> dict[str, Any]:
    held = {f"onboarding_staff.{r}": scope for r in RIGHTS}
    return held | {f"stationed_department.{r}": scope for r in RIGHTS}


def sheet(content: bytes) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    return rows


async def hall(db: AsyncEngine) -> tuple[str, Person, Person, Person]:
    """A site with its hall office: the head who approves, a clerk who applies, and the hall's
    administrator over everything under the site."""
    site = await unit(db, "市民中心", kind="site")
    office = await unit(db, "政务服务办", parent=site)
    boss = await person(db, office)
    await head(db, office, boss)
    clerk = await person(db, office, {"onboarding.apply": "dept"})
    admin = await person(db, site, grants("dept_tree"))
    return site, boss, clerk, admin


def entry(site: str, name: str, number: str, short: str) -> dict[str, Any]:
    return {
        "name": name,
        "short_name": short,
        "number": number,
        "site_id": site,
        "window_count": 3,
        "staff_count": 6,
        "items": [{"name": "企业设立登记", "time_limit": "3个工作日"}],
    }


def staff_form(unit_id: str, name: str, username: str, mobile: str) -> dict[str, Any]:
    return {
        "unit_id": unit_id,
        "name": name,
        "gender": "女",
        "mobile": mobile,
        "hall": "市民中心",
        "window": "A03",
        "category": "派驻人员",
        "post": "科员",
        "stationed_post": "窗口受理",
        "stationed_status": "在岗",
        "work_number": f"G-{username}",
        "entered_on": "2025-03-01",
        "username": username,
    }


async def test_approved_flows_fill_both_queries_consistently(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site, boss, clerk, admin = await hall(db)
    done = await approved(
        cloud, clerk, boss, "department_entry", entry(site, "市场监督管理局", "BM01", "市监局")
    )
    market = done["result"]["unit_id"]
    await approved(cloud, clerk, boss, "department_entry", entry(site, "税务局", "BM02", "税务"))

    found = await call(cloud, "GET", "/api/r/stationed_department?short_name=市监", admin, 200)
    assert [(r["id"], r["number"], r["status"]) for r in found["rows"]] == [
        (market, "BM01", "stationed")
    ]
    assert found["rows"][0]["_labels"]["status"] == "已进驻"
    found = await call(cloud, "GET", "/api/r/stationed_department?number=BM02", admin, 200)
    assert [r["name"] for r in found["rows"]] == ["税务局"]

    done = await approved(
        cloud, clerk, boss, "staff_entry", staff_form(market, "李娜", "lina", "13800000001")
    )
    archived = done["result"]["record_id"]
    await approved(
        cloud, clerk, boss, "staff_entry", staff_form(market, "王芳", "wangfang", "13800000002")
    )
    rows = (await call(cloud, "GET", f"/api/r/onboarding_staff?unit_id={market}", admin, 200))[
        "rows"
    ]
    assert {r["name"] for r in rows} == {"李娜", "王芳"}
    (lina,) = [r for r in rows if r["id"] == archived]
    assert (lina["department_id"], lina["username"], lina["status"]) == (market, "lina", "active")
    assert lina["_labels"]["unit_id"] == "市场监督管理局"
    assert lina["user_id"] == done["result"]["user_id"]

    change = {"staff_id": archived, "date": "2030-02-01", "remark": "调回"}
    await approved(cloud, clerk, boss, "staff_cancel", change)
    rows = (await call(cloud, "GET", "/api/r/onboarding_staff?status=cancelled", admin, 200))[
        "rows"
    ]
    assert [r["id"] for r in rows] == [archived]
    await approved(cloud, clerk, boss, "staff_reinstate", change)
    rows = (await call(cloud, "GET", "/api/r/onboarding_staff?status=active", admin, 200))["rows"]
    assert archived in {r["id"] for r in rows}

    await approved(cloud, clerk, boss, "department_exit", {"unit_id": market, "date": "2030-03-01"})
    rows = (await call(cloud, "GET", "/api/r/stationed_department?status=departed", admin, 200))[
        "rows"
    ]
    assert [(r["id"], r["departed_on"]) for r in rows] == [(market, "2030-03-01")]


async def test_the_staff_archive_filters_exports_and_is_edited_by_an_administrator(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site, boss, clerk, admin = await hall(db)
    done = await approved(
        cloud, clerk, boss, "department_entry", entry(site, "人社局", "BM03", "人社")
    )
    labour = done["result"]["unit_id"]
    for name, username, mobile in (
        ("赵敏", "zhaomin", "13900000001"),
        ("赵强", "zhaoqiang", "13900000002"),
        ("孙丽", "sunli", "13900000003"),
    ):
        await approved(
            cloud, clerk, boss, "staff_entry", staff_form(labour, name, username, mobile)
        )

    query = "name=赵&mobile=1390000000&entered_on__from=2025-01-01&entered_on__to=2025-12-31"
    rows = (await call(cloud, "GET", f"/api/r/onboarding_staff?{query}", admin, 200))["rows"]
    assert sorted(r["name"] for r in rows) == ["赵强", "赵敏"]
    response = await cloud.get(
        f"/api/r/onboarding_staff/export.xlsx?{query}", headers=admin.headers
    )
    assert response.status == 200
    table = sheet(await response.read())
    assert table[0][:3] == ["姓名", "性别", "窗口单位"]
    assert sorted((r[0], r[2]) for r in table[1:]) == [("赵强", "人社局"), ("赵敏", "人社局")]
    none = "entered_on__from=2026-01-01"
    assert (await call(cloud, "GET", f"/api/r/onboarding_staff?{none}", admin, 200))["total"] == 0

    # the administrator adds a record directly, corrects it and deletes it
    made = await call(
        cloud,
        "POST",
        "/api/r/onboarding_staff",
        admin,
        201,
        {"unit_id": labour, "name": "周杰", "gender": "男", "work_number": "G-99"},
    )
    assert (made["department_id"], made["status"]) == (labour, "active")
    edited = await call(
        cloud, "PATCH", f"/api/r/onboarding_staff/{made['id']}", admin, 200, {"window": "B07"}
    )
    assert edited["window"] == "B07"
    refused = await call(
        cloud,
        "PATCH",
        f"/api/r/onboarding_staff/{made['id']}",
        admin,
        422,
        {"status": "cancelled"},
    )
    assert refused["error"]["code"] == "invalid_field"
    await call(cloud, "DELETE", f"/api/r/onboarding_staff/{made['id']}", admin, 204)
    async with db.connect() as conn:
        gone = await conn.scalar(sa.select(sa.func.count()).where(staff.c.id == made["id"]))
    assert gone == 0

    # a stationed department still named by the archive is not deleted
    refused = await call(cloud, "DELETE", f"/api/r/stationed_department/{labour}", admin, 409)
    assert refused["error"]["code"] == "in_use"


async def test_a_department_sees_only_its_own_people_and_places_none_elsewhere(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site, boss, clerk, _admin = await hall(db)
    done = await approved(
        cloud, clerk, boss, "department_entry", entry(site, "公安局", "BM04", "公安")
    )
    police = done["result"]["unit_id"]
    done = await approved(
        cloud, clerk, boss, "department_entry", entry(site, "卫健委", "BM05", "卫健")
    )
    health = done["result"]["unit_id"]
    await approved(
        cloud, clerk, boss, "staff_entry", staff_form(police, "钱进", "qianjin", "13700000001")
    )
    await approved(
        cloud, clerk, boss, "staff_entry", staff_form(health, "吴用", "wuyong", "13700000002")
    )

    officer = await person(db, police, grants("dept"))
    rows = (await call(cloud, "GET", "/api/r/onboarding_staff", officer, 200))["rows"]
    assert [r["name"] for r in rows] == ["钱进"]
    rows = (await call(cloud, "GET", "/api/r/stationed_department", officer, 200))["rows"]
    assert [r["id"] for r in rows] == [police]
    refused = await call(
        cloud,
        "POST",
        "/api/r/onboarding_staff",
        officer,
        422,
        {"unit_id": health, "name": "混入", "gender": "男"},
    )
    assert refused["error"]["code"] == "invalid_field"
    async with db.connect() as conn:
        moved = await conn.scalar(sa.select(sa.func.count()).where(staff.c.name == "混入"))
        flows_row = await conn.scalar(
            sa.select(stationed_departments.c.id).where(stationed_departments.c.unit_id == police)
        )
    assert moved == 0 and flows_row == police


async def test_the_start_page_starts_a_staff_entry_and_answers_errors_by_field(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site, boss, clerk, _admin = await hall(db)
    done = await approved(
        cloud, clerk, boss, "department_entry", entry(site, "医保局", "BM06", "医保")
    )
    unit_id = done["result"]["unit_id"]
    cookie = {"Cookie": f"{SESSION_COOKIE}={clerk.token}"}

    page = await cloud.get("/portal/onboarding/staff-entry", headers=cookie)
    html = await page.text()
    assert page.status == 200 and "人员入驻备案" in html and "派驻科室负责人姓名" in html
    assert f'value="{unit_id}"' in html and "医保局" in html

    form = {CSRF_FIELD: clerk.csrf, "unit_id": unit_id, "name": "", "gender": "女"}
    form |= {"username": "ab cd", "mobile": "x", "leaders.section_head.name": "赵敏"}
    refused = await cloud.post(
        "/portal/onboarding/staff-entry", data=form, headers=cookie, allow_redirects=False
    )
    html = await refused.text()
    assert refused.status == 422
    for field in ("name", "username", "mobile"):
        assert re.search(rf'data-field="{field}".*?class="error"', html, re.S), field
    assert 'value="赵敏"' in html  # what was typed stays

    form |= {"name": "陈晨", "username": "chenchen", "mobile": "13600000000", "shuttle": "true"}
    started = await cloud.post(
        "/portal/onboarding/staff-entry", data=form, headers=cookie, allow_redirects=False
    )
    assert started.status == 303
    location = started.headers["Location"]
    assert location.startswith("/portal/work/i/")
    instance = location.split("/")[-1].split("?")[0]
    view = await call(cloud, "GET", f"/api/workflow/instances/{instance}", clerk, 200)
    assert view["form"]["shuttle"] is True
    assert view["form"]["leaders"]["section_head"] == {"name": "赵敏", "phone": None}

    nobody = await person(db, site)
    page = await cloud.get(
        "/portal/onboarding/staff-entry", headers={"Cookie": f"{SESSION_COOKIE}={nobody.token}"}
    )
    assert page.status == 403


async def test_the_department_entry_page_takes_rows_of_business_items(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site, _boss, clerk, _admin = await hall(db)
    cookie = {"Cookie": f"{SESSION_COOKIE}={clerk.token}"}
    form = {
        CSRF_FIELD: clerk.csrf,
        "name": "住建局",
        "site_id": site,
        "window_count": "2",
        "items.0.name": "施工许可",
        "items.0.time_limit": "5个工作日",
        "items.3.name": "",  # an empty row is left out
        "items.5.name": "竣工验收备案",
        "leaders.unit_leader.name": "刘洋",
        "leaders.unit_leader.phone": "13500000000",
    }
    started = await cloud.post(
        "/portal/onboarding/department-entry", data=form, headers=cookie, allow_redirects=False
    )
    assert started.status == 303, await started.text()
    instance = started.headers["Location"].split("/")[-1].split("?")[0]
    view = await call(cloud, "GET", f"/api/workflow/instances/{instance}", clerk, 200)
    assert [i["name"] for i in view["form"]["items"]] == ["施工许可", "竣工验收备案"]
    assert view["form"]["window_count"] == 2

    form["items.5.time_limit"] = "x" * 51
    refused = await cloud.post(
        "/portal/onboarding/department-entry", data=form, headers=cookie, allow_redirects=False
    )
    html = await refused.text()
    assert refused.status == 422 and "不能超过 50 个字" in html
    assert re.search(r'name="items\.5\.time_limit"[^>]*>\s*<div class="error"', html)

    page = await cloud.get("/portal/onboarding/staff", headers=cookie, allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/portal/r/onboarding_staff"


async def test_the_applicant_sees_the_initial_password_once_on_the_instance_page(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site, boss, clerk, _admin = await hall(db)
    done = await approved(
        cloud, clerk, boss, "department_entry", entry(site, "民政局", "BM07", "民政")
    )
    done = await approved(
        cloud,
        clerk,
        boss,
        "staff_entry",
        staff_form(done["result"]["unit_id"], "郑好", "zhenghao", "13600000001"),
    )
    cookie = {"Cookie": f"{SESSION_COOKIE}={clerk.token}"}
    first = await (await cloud.get(f"/portal/work/i/{done['id']}", headers=cookie)).text()
    assert 'data-testid="initial-password"' in first
    again = await (await cloud.get(f"/portal/work/i/{done['id']}", headers=cookie)).text()
    assert 'data-testid="initial-password"' not in again
