"""Department boards on PostgreSQL (部门板块, §21.2.3): a hall's administrator groups its
stationed departments into boards; the stationed departments' list filters by board and shows
and exports its name; a board still named by a department cannot be deleted; codes are unique
within an org unit; a department's user neither sees nor names another department's boards;
the board's menu entry sits beside the positions and SMS templates."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.db import audit_log
from cloud.identity.menus import menu_for
from cloud.onboarding.boards import department_boards
from tests.cloud.people import Person, person, unit
from tests.cloud.workflow.helpers import principal

RIGHTS = ("view", "read", "create", "edit", "delete")
BOARDS = "/api/r/department_board"
DEPARTMENTS = "/api/r/stationed_department"


def grants(scope: str) -> dict[str, Any]:
    held = {f"department_board.{r}": scope for r in RIGHTS}
    return held | {f"stationed_department.{r}": scope for r in RIGHTS}


async def call(
    cloud: TestClient, method: str, path: str, who: Person, status: int, body: Any = None
) -> Any:
    response = await cloud.request(method, path, json=body, headers=who.headers)
    assert response.status == status, await response.text()
    return None if status == 204 else await response.json()


async def test_departments_are_grouped_into_boards_listed_filtered_and_exported(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site = await unit(db, "市民中心", kind="site")
    admin = await person(db, site, grants("dept_tree"))
    market = await call(cloud, "POST", BOARDS, admin, 201,
                        {"name": "市场监管板块", "code": "SCJG", "sort_no": 1})  # fmt: skip
    social = await call(cloud, "POST", BOARDS, admin, 201,
                        {"name": "社会保障板块", "code": "SHBZ", "sort_no": 2})  # fmt: skip
    assert market["department_id"] == site and market["enabled"] is True

    rows = (await call(cloud, "GET", BOARDS, admin, 200))["rows"]
    assert [r["name"] for r in rows] == ["市场监管板块", "社会保障板块"]  # by their sort number

    scjg = await call(cloud, "POST", DEPARTMENTS, admin, 201,
                      {"name": "市场监督管理局", "board_id": market["id"]})  # fmt: skip
    await call(cloud, "POST", DEPARTMENTS, admin, 201,
               {"name": "人力资源和社会保障局", "board_id": social["id"]})  # fmt: skip
    await call(cloud, "POST", DEPARTMENTS, admin, 201, {"name": "税务局"})

    found = await call(cloud, "GET", f"{DEPARTMENTS}?board_id={market['id']}", admin, 200)
    assert [r["name"] for r in found["rows"]] == ["市场监督管理局"]
    assert found["rows"][0]["_labels"]["board_id"] == "市场监管板块"

    response = await cloud.get(
        f"{DEPARTMENTS}/export.xlsx?board_id={social['id']}", headers=admin.headers
    )
    assert response.status == 200
    book = openpyxl.load_workbook(io.BytesIO(await response.read()), read_only=True)
    sheet = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    column = sheet[0].index("所属板块")
    assert [(r[sheet[0].index("部门名称")], r[column]) for r in sheet[1:]] == [
        ("人力资源和社会保障局", "社会保障板块")
    ]

    # a board some department still names stays; once none does, it goes
    refused = await call(cloud, "DELETE", f"{BOARDS}/{market['id']}", admin, 409)
    assert refused["error"]["code"] == "in_use"
    assert "进驻部门" in refused["error"]["message"]
    async with db.connect() as conn:
        assert await conn.scalar(
            sa.select(department_boards.c.id).where(department_boards.c.id == market["id"])
        )
    await call(cloud, "PATCH", f"{DEPARTMENTS}/{scjg['id']}", admin, 200,
               {"board_id": social["id"]})  # fmt: skip
    await call(cloud, "DELETE", f"{BOARDS}/{market['id']}", admin, 204)

    async with db.connect() as conn:
        actions = (
            await conn.scalars(
                sa.select(audit_log.c.action)
                .where(
                    audit_log.c.resource == "department_board",
                    audit_log.c.resource_id == market["id"],
                )
                .order_by(audit_log.c.id)
            )
        ).all()
    assert actions == ["create", "delete"]


async def test_a_boards_code_is_unique_within_its_unit_and_bad_input_changes_nothing(
    cloud: TestClient, db: AsyncEngine
) -> None:
    east = await unit(db, "东城网点", kind="site")
    west = await unit(db, "西城网点", kind="site")
    east_admin = await person(db, east, grants("dept"))
    west_admin = await person(db, west, grants("dept"))
    body = {"name": "商事登记板块", "code": "SSDJ"}
    await call(cloud, "POST", BOARDS, east_admin, 201, body)
    again = await call(cloud, "POST", BOARDS, east_admin, 409, body | {"name": "另一个"})
    assert again["error"]["code"] == "duplicate_value"
    await call(cloud, "POST", BOARDS, west_admin, 201, body)  # another unit's own code

    missing = await call(cloud, "POST", BOARDS, east_admin, 422, {"code": "X1"})
    assert "板块名称" in missing["error"]["message"]
    negative = await call(cloud, "POST", BOARDS, east_admin, 422,
                          {"name": "公安板块", "code": "GA", "sort_no": -1})  # fmt: skip
    assert "排序号" in negative["error"]["message"]
    async with db.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(department_boards)
            .where(department_boards.c.department_id == east)
        )
    assert count == 1


async def test_a_department_neither_sees_nor_names_another_departments_board(
    cloud: TestClient, db: AsyncEngine
) -> None:
    east = await unit(db, "东城网点", kind="site")
    west = await unit(db, "西城网点", kind="site")
    east_admin = await person(db, east, grants("dept"))
    west_admin = await person(db, west, grants("dept"))
    theirs = await call(cloud, "POST", BOARDS, west_admin, 201, {"name": "公安板块", "code": "GA"})

    listed = await call(cloud, "GET", BOARDS, east_admin, 200)
    assert theirs["id"] not in {r["id"] for r in listed["rows"]}
    await call(cloud, "GET", f"{BOARDS}/{theirs['id']}", east_admin, 404)
    await call(cloud, "DELETE", f"{BOARDS}/{theirs['id']}", east_admin, 404)
    refused = await call(cloud, "POST", DEPARTMENTS, east_admin, 422,
                         {"name": "公安局", "board_id": theirs["id"]})  # fmt: skip
    assert "所属板块" in refused["error"]["message"]

    # without the right to view boards, no board can be named at all
    clerk = await person(db, east, {f"stationed_department.{r}": "dept" for r in RIGHTS})
    refused = await call(cloud, "POST", DEPARTMENTS, clerk, 422,
                         {"name": "公安局", "board_id": theirs["id"]})  # fmt: skip
    assert "没有查看部门板块的权限" in refused["error"]["message"]


async def test_the_board_menu_entry_sits_with_the_hall_base_data(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site = await unit(db, "市民中心", kind="site")
    holder = await person(db, site, grants("dept"))
    async with db.connect() as conn:
        menu = await menu_for(conn, await principal(db, holder))
    (system,) = [m for m in menu if m["id"] == "system"]
    entries = {c["id"]: c for c in system["children"]}
    assert entries["system.department_board"]["title"] == "部门板块维护"
    assert entries["system.department_board"]["path"] == "/portal/r/department_board"
    stranger = await person(db, site, {"position.view": "dept"})
    async with db.connect() as conn:
        menu = await menu_for(conn, await principal(db, stranger))
    shown = {c["id"] for m in menu for c in m["children"]}
    assert "system.position" in shown and "system.department_board" not in shown
