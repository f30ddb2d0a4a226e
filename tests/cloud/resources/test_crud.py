"""A declared resource's records through the REST API: created, read, changed and deleted
with their audit rows; refused bodies change nothing; unique values and references hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.audit import POLICIES
from cloud.db import audit_log
from cloud.identity.permissions import PERMISSIONS, RIGHTS
from cloud.identity.principal import Scope
from cloud.resources.catalog import positions
from cloud.resources.declare import RESOURCES, Change, Field, FieldError, Resource, register
from tests.cloud.conftest import ADMIN
from tests.cloud.people import person, unit
from tests.cloud.resources.conftest import ensure_dictionary_item

ALL_DEPT: dict[str, Scope] = {f"position.{r}": "dept" for r in RIGHTS}


async def audit_rows(engine: AsyncEngine, resource: str, record_id: str) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(audit_log)
            .where(audit_log.c.resource == resource, audit_log.c.resource_id == record_id)
            .order_by(audit_log.c.id)
        )
        return list(rows)


async def test_a_position_goes_round_with_its_audit_rows(
    client: TestClient, engine: AsyncEngine
) -> None:
    hall = await unit(engine, "政务服务中心")
    clerk = await person(engine, hall, ALL_DEPT)
    response = await client.post(
        "/api/r/position",
        json={"name": "一楼大厅", "floor": 1, "description": "东侧入口"},
        headers=clerk.headers,
    )
    assert response.status == 201, await response.text()
    made = await response.json()
    assert made["department_id"] == hall and made["created_by"] == clerk.id
    path = f"/api/r/position/{made['id']}"

    response = await client.patch(path, json={"floor": 3}, headers=clerk.headers)
    assert response.status == 200
    assert (await response.json())["floor"] == 3
    response = await client.get(path, headers=clerk.headers)
    assert (await response.json())["name"] == "一楼大厅"
    response = await client.patch(path, json={"floor": 3}, headers=clerk.headers)
    assert response.status == 200  # nothing changed: no audit row

    response = await client.delete(path, headers=clerk.headers)
    assert response.status == 204
    response = await client.get(path, headers=clerk.headers)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "record_not_found"

    created, updated, deleted = await audit_rows(engine, "position", made["id"])
    assert created.action == "create" and created.actor == f"user:{clerk.username}"
    assert created.new["name"] == "一楼大厅" and created.new["department_id"] == hall
    assert (updated.action, updated.old, updated.new) == ("update", {"floor": 1}, {"floor": 3})
    assert deleted.action == "delete" and deleted.old["floor"] == 3


async def test_refused_bodies_change_nothing(client: TestClient, engine: AsyncEngine) -> None:
    hall = await unit(engine, "政务服务中心")
    clerk = await person(engine, hall, ALL_DEPT)
    response = await client.post(
        "/api/r/position", json={"name": "二楼", "floor": 2}, headers=clerk.headers
    )
    made = await response.json()
    path = f"/api/r/position/{made['id']}"
    refusals: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/api/r/position", {"name": "x", "colour": "红"}, 422, "unknown_field"),
        ("POST", "/api/r/position", {"floor": 1}, 422, "invalid_field"),
        ("POST", "/api/r/position", {"name": "x", "floor": "三楼"}, 422, "invalid_field"),
        ("POST", "/api/r/position", {"name": "x", "floor": 999}, 422, "invalid_field"),
        ("POST", "/api/r/position", {"name": "x" * 101}, 422, "invalid_field"),
        ("POST", "/api/r/position", [1, 2], 400, "invalid_request"),
        ("POST", "/api/r/position", "not json", 400, "invalid_request"),
        ("PATCH", path, {"floor": True}, 422, "invalid_field"),
        ("PATCH", path, {"name": None}, 422, "invalid_field"),
        ("PATCH", path, {"created_by": "someone"}, 422, "unknown_field"),
        ("PATCH", path, {"department_id": "no-such-unit"}, 422, "invalid_field"),
        ("GET", "/api/r/no_such_thing", None, 404, "unknown_resource"),
        ("GET", "/api/r/position/" + "x" * 300, None, 404, "record_not_found"),
    ]
    for method, url, body, status, code in refusals:
        if isinstance(body, str):
            response = await client.request(method, url, data=body, headers=clerk.headers)
        else:
            response = await client.request(method, url, json=body, headers=clerk.headers)
        assert response.status == status, (body, await response.text())
        answer = await response.json()
        assert answer["error"]["code"] == code
    response = await client.post("/api/r/position", json={"floor": 1}, headers=clerk.headers)
    assert "位置名称" in (await response.json())["error"]["message"]
    response = await client.patch(path, json={"floor": 5}, headers=clerk.cookie_only)
    assert response.status == 403  # no CSRF token
    async with engine.connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(positions))
        row = (await conn.execute(sa.select(positions).where(positions.c.id == made["id"]))).one()
    assert count == 1 and row.floor == 2 and row.name == "二楼"
    assert len(await audit_rows(engine, "position", made["id"])) == 1


async def test_unique_values_and_references_hold(client: TestClient) -> None:
    response = await client.post(
        "/api/r/dictionary_category", json={"code": "doc_type", "name": "证件类型"}, headers=ADMIN
    )
    category = (await response.json())["id"]
    response = await client.post(
        "/api/r/dictionary_category", json={"code": "doc_type", "name": "又一个"}, headers=ADMIN
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "duplicate_value"
    item = {"category": category, "code": "id_card", "label": "居民身份证"}
    response = await client.post("/api/r/dictionary_item", json=item, headers=ADMIN)
    assert response.status == 201, await response.text()
    assert (await response.json())["_labels"]["category"] == "证件类型"
    response = await client.post("/api/r/dictionary_item", json=item, headers=ADMIN)
    assert response.status == 409
    response = await client.post(
        "/api/r/dictionary_item", json={**item, "category": "nothing"}, headers=ADMIN
    )
    assert response.status == 422
    response = await client.delete(f"/api/r/dictionary_category/{category}", headers=ADMIN)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "in_use"


# a resource declared by the test itself: every kind of field, a reason on every change, a
# secret, a value derived by a hook
notes = sa.Table(
    "test_notes",
    sa.MetaData(),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(50), nullable=False),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("day", sa.Date),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("opens", sa.Time),
    sa.Column("urgent", sa.Boolean),
    sa.Column("level", sa.String(16)),
    sa.Column("gender", sa.String(64)),
    sa.Column("phone", sa.String(32)),
    sa.Column("email", sa.String(200)),
    sa.Column("id_number", sa.String(18)),
    sa.Column("pin", sa.String(16)),
    sa.Column("title_length", sa.Integer),
    sa.Column("department_id", sa.String(64)),
    sa.Column("created_by", sa.String(64)),
)


async def _derive_length(change: Change) -> None:
    if change.new is not None:
        if "禁止" in change.new["title"]:
            raise FieldError("title", "含有禁止的词")
        change.new["title_length"] = len(change.new["title"])


NOTE = Resource(
    name="test_note",
    label="测试记录",
    table=notes,
    title="title",
    reason_required=True,
    before=(_derive_length,),
    fields=(
        Field("title", "标题", required=True, max_length=50, filter="like", example="记录"),
        Field("amount", "金额", kind="decimal", min=0, filter="range"),
        Field("day", "日期", kind="date", filter="range"),
        Field("at", "时间", kind="datetime"),
        Field("opens", "开门", kind="time"),
        Field("urgent", "紧急", kind="bool", default=False, filter="eq"),
        Field("level", "级别", kind="choice", options=(("low", "低"), ("high", "高")), filter="in"),
        Field("gender", "性别", kind="choice", dictionary="gender_test"),
        Field("phone", "电话", kind="phone"),
        Field("email", "邮箱", kind="email"),
        Field("id_number", "身份证号", kind="id_number"),
        Field("pin", "口令", secret=True),
        Field("title_length", "标题长度", kind="int", readonly=True),
    ),
)


@pytest.fixture
async def note(engine: AsyncEngine) -> AsyncIterator[Resource]:
    async with engine.begin() as conn:
        await conn.run_sync(notes.metadata.create_all)
    register(NOTE)
    yield NOTE
    del RESOURCES[NOTE.name], POLICIES[NOTE.name]
    for right in ("create", "edit", "delete", "read", "view"):
        del PERMISSIONS[f"test_note.{right}"]
    async with engine.begin() as conn:
        await conn.run_sync(notes.metadata.drop_all)


async def test_every_kind_of_field_with_a_reason_required(
    client: TestClient, engine: AsyncEngine, note: Resource
) -> None:
    await ensure_dictionary_item(engine, "gender_test", "female")
    body: dict[str, Any] = {
        "title": "第一条",
        "amount": "12.50",
        "day": "2025-03-01",
        "at": "2025-03-01T09:30:00+08:00",
        "opens": "09:00",
        "urgent": True,
        "level": "high",
        "gender": "female",
        "phone": "13800138000",
        "email": "a@example.cn",
        "id_number": "11010519491231002x",
        "pin": "1234",
    }
    response = await client.post("/api/r/test_note", json=body, headers=ADMIN)
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "reason_required"
    response = await client.post(
        "/api/r/test_note", json={**body, "_reason": "登记"}, headers=ADMIN
    )
    assert response.status == 201, await response.text()
    made = await response.json()
    assert made["amount"] == "12.50" and made["day"] == "2025-03-01" and made["opens"] == "09:00:00"
    assert made["id_number"] == "11010519491231002X" and made["title_length"] == 3
    assert made["_labels"] == {"level": "高", "gender": "female的名称"}
    assert "pin" not in made
    for wrong in (
        {"phone": "12345"},
        {"email": "not-mail"},
        {"id_number": "110105194912310021"},
        {"level": "middle"},
        {"gender": "unknown"},
        {"day": "2025-02-30"},
        {"amount": "-1"},
        {"title_length": 5},
        {"title": "禁止的标题"},
    ):
        response = await client.patch(
            f"/api/r/test_note/{made['id']}", json={**wrong, "_reason": "改"}, headers=ADMIN
        )
        assert response.status == 422, (wrong, await response.text())
    path = f"/api/r/test_note/{made['id']}"
    response = await client.patch(path, json={"title": "改过的"}, headers=ADMIN)
    assert response.status == 422
    response = await client.patch(
        path, json={"title": "改过的"}, headers={**ADMIN, "X-Change-Reason": "%E6%9B%B4%E6%AD%A3"}
    )
    assert response.status == 200
    response = await client.delete(path, headers=ADMIN)
    assert response.status == 422
    response = await client.delete(path, json={"reason": "作废"}, headers=ADMIN)
    assert response.status == 204
    created, updated, deleted = await audit_rows(engine, "test_note", made["id"])
    assert created.reason == "登记" and "pin" not in created.new
    assert updated.reason == "更正"
    assert updated.old == {"title": "第一条"}
    assert updated.new == {"title": "改过的"}
    assert deleted.reason == "作废"
