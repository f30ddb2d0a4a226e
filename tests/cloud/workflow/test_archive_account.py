"""A staff record and the login account its approval made, over HTTP on PostgreSQL (§21.1.4,
§21.1.7): the archive's name, mobile phone and e-mail edits reach the account, audited as the
user's change; the signed documents are added and removed on the archive's edit page by whoever
may edit the record, files judged by content; a record whose account still works is not
deleted until it is cancelled (取消备案). A refusal changes nothing."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.app import create_app
from cloud.config import UploadsConfig
from cloud.db import audit_log
from cloud.identity.tables import users
from cloud.onboarding.tables import staff, staff_attachments, stationed_departments
from cloud.uploads import uploads
from tests.cloud.conftest import cloud_config
from tests.cloud.people import Person, now_ms, person, unit
from tests.cloud.workflow.helpers import head

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 300
ARCHIVE = "/portal/r/onboarding_staff"


def picture(kind: str, colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 40), colour).save(out, format=kind)
    return out.getvalue()


@pytest.fixture
async def cloud(
    postgresql_url: str, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> TestClient:
    config = cloud_config(postgresql_url).model_copy(
        update={"uploads": UploadsConfig(dir=str(tmp_path / "uploads"), max_mb=1)}
    )
    return await aiohttp_client(create_app(config))


@dataclass(frozen=True)
class Filed:
    """An approved staff entry: its archive record, its account, who may do what with it."""

    id: str
    user_id: str
    unit_id: str
    site: str
    boss: Person
    clerk: Person
    editor: Person


async def filed(cloud: TestClient, db: AsyncEngine, username: str, **form: Any) -> Filed:
    """A staff entry with one signed document, approved by the office's head."""
    site = await unit(db, "市民中心", kind="site")
    office = await unit(db, "政务服务办", parent=site)
    boss = await person(db, office)
    await head(db, office, boss)
    clerk = await person(db, office, {"onboarding.apply": "dept", "upload.create": "dept"})
    scan = await upload(cloud, clerk, PDF, "告知书.pdf")
    entry = {
        "unit_id": office,
        "name": "周婷",
        "gender": "女",
        "username": username,
        "mobile": "13800000001",
        "email": "zt@example.cn",
        "attachments": [scan],
        **form,
    }
    body = {"business_key": "onboarding.staff_entry", "form": entry}
    started = await cloud.post("/api/workflow/instances", json=body, headers=clerk.headers)
    assert started.status == 201, await started.text()
    await act(cloud, boss, await started.json())
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(staff).where(staff.c.username == username))).one()
    rights = {
        f"onboarding_staff.{r}": "dept_tree" for r in ("view", "read", "create", "edit", "delete")
    }
    editor = await person(
        db, site, rights | {"stationed_department.view": "dept_tree", "upload.create": "dept_tree"}
    )
    return Filed(row.id, row.user_id, row.unit_id, site, boss, clerk, editor)


async def act(cloud: TestClient, boss: Person, view: dict[str, Any]) -> None:
    task = view["current_approvers"][0]["task_id"]
    body = {"decision": "approve", "comment": "同意"}
    done = await cloud.post(f"/api/workflow/tasks/{task}/act", json=body, headers=boss.headers)
    assert done.status == 200, await done.text()


async def upload(cloud: TestClient, who: Person, content: bytes, name: str) -> str:
    data = aiohttp.FormData()
    data.add_field("file", content, filename=name, content_type="application/octet-stream")
    response = await cloud.post("/api/uploads", data=data, headers=who.headers)
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


def edit_form(
    record: Filed, files: Sequence[tuple[str, bytes, str]] = (), **fields: Any
) -> aiohttp.FormData:
    """The archive's edit form as the page posts it: the record's required fields, `fields`
    over them (a list posts the key once per item), and the chosen files."""
    values: dict[str, Any] = {
        "unit_id": record.unit_id,
        "name": "周婷",
        "gender": "女",
        "mobile": "13800000001",
        "email": "zt@example.cn",
    }
    data = aiohttp.FormData()
    for key, value in (values | fields).items():
        for one in value if isinstance(value, list) else [value]:
            data.add_field(key, one)
    for key, content, name in files:
        data.add_field(key, content, filename=name, content_type="application/octet-stream")
    return data


async def post_edit(cloud: TestClient, who: Person, record: Filed, data: aiohttp.FormData) -> Any:
    return await cloud.post(
        f"{ARCHIVE}/{record.id}/edit", data=data, headers=who.headers, allow_redirects=False
    )


async def account(db: AsyncEngine, user_id: str) -> tuple[Any, ...]:
    async with db.connect() as conn:
        row = (
            await conn.execute(
                sa.select(users.c.name, users.c.phone, users.c.email, users.c.status).where(
                    users.c.id == user_id
                )
            )
        ).one()
    return tuple(row)


async def audits(db: AsyncEngine, resource: str, resource_id: str) -> list[Any]:
    async with db.connect() as conn:
        return list(
            await conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.resource == resource, audit_log.c.resource_id == resource_id)
                .order_by(audit_log.c.id)
            )
        )


async def documents(db: AsyncEngine, staff_id: str) -> list[str]:
    async with db.connect() as conn:
        return list(
            await conn.scalars(
                sa.select(uploads.c.name)
                .join(staff_attachments, staff_attachments.c.upload_id == uploads.c.id)
                .where(staff_attachments.c.staff_id == staff_id)
                .order_by(staff_attachments.c.sort)
            )
        )


async def upload_count(db: AsyncEngine) -> tuple[int, int]:
    """The uploads recorded and their audit rows."""
    async with db.connect() as conn:
        made = await conn.scalar(sa.select(sa.func.count()).select_from(uploads))
        audited = await conn.scalar(
            sa.select(sa.func.count()).where(audit_log.c.resource == "upload")
        )
    return int(made or 0), int(audited or 0)


def error_at(html: str, field: str) -> str:
    """The error shown in the form row of `field`."""
    row = html.split(f'data-field="{field}"', 1)[1].split('class="buttons"', 1)[0]
    return row.split('class="error"', 1)[1].split("</div>", 1)[0] if 'class="error"' in row else ""


async def test_editing_the_archive_name_phone_and_email_changes_the_account(
    cloud: TestClient, db: AsyncEngine
) -> None:
    record = await filed(cloud, db, "zhouting")
    assert await account(db, record.user_id) == ("周婷", "13800000001", "zt@example.cn", "active")
    user_audits = len(await audits(db, "user", record.user_id))

    # a refused edit (a bad e-mail) changes neither the record nor the account
    bad = edit_form(record, name="周婷婷", email="不是邮箱")
    response = await post_edit(cloud, record.editor, record, bad)
    assert response.status == 422 and error_at(await response.text(), "email")
    assert await account(db, record.user_id) == ("周婷", "13800000001", "zt@example.cn", "active")
    assert len(await audits(db, "user", record.user_id)) == user_audits

    # other fields leave the account alone
    response = await post_edit(cloud, record.editor, record, edit_form(record, hall="二楼大厅"))
    assert response.status == 303, await response.text()
    assert len(await audits(db, "user", record.user_id)) == user_audits

    changed = edit_form(record, name="周婷婷", mobile="13900000002", email="", hall="二楼大厅")
    response = await post_edit(cloud, record.editor, record, changed)
    assert response.status == 303, await response.text()
    assert await account(db, record.user_id) == ("周婷婷", "13900000002", None, "active")
    *_, last = await audits(db, "user", record.user_id)
    assert last.action == "update" and last.actor == f"user:{record.editor.username}"
    assert last.old == {"name": "周婷", "phone": "13800000001", "email": "zt@example.cn"}
    assert last.new == {"name": "周婷婷", "phone": "13900000002", "email": None}
    # from where, as the archive's own row says
    assert last.remote == "127.0.0.1" and last.reason == "入驻人员档案修改"

    # the REST API goes through the same hook
    patched = await cloud.patch(
        f"/api/r/onboarding_staff/{record.id}",
        json={"email": "new@example.cn"},
        headers=record.editor.headers,
    )
    assert patched.status == 200, await patched.text()
    assert (await account(db, record.user_id))[2] == "new@example.cn"
    *_, last = await audits(db, "user", record.user_id)
    assert last.old == {"email": None} and last.new == {"email": "new@example.cn"}


async def test_a_record_without_an_account_is_edited_and_deleted_alone(
    cloud: TestClient, db: AsyncEngine
) -> None:
    record = await filed(cloud, db, "liwei")
    before = await account(db, record.user_id)
    async with db.begin() as conn:  # the office stationed, so records may name it
        await conn.execute(
            stationed_departments.insert().values(
                id=record.unit_id,
                unit_id=record.unit_id,
                name="政务服务办",
                created_at=now_ms(),
                updated_at=now_ms(),
            )
        )
    body = {"unit_id": record.unit_id, "name": "王芳", "gender": "女", "mobile": "13700000000"}
    made = await cloud.post("/api/r/onboarding_staff", json=body, headers=record.editor.headers)
    assert made.status == 201, await made.text()
    other = (await made.json())["id"]
    patched = await cloud.patch(
        f"/api/r/onboarding_staff/{other}", json={"name": "王芳芳"}, headers=record.editor.headers
    )
    assert patched.status == 200, await patched.text()
    assert await account(db, record.user_id) == before
    gone = await cloud.delete(f"/api/r/onboarding_staff/{other}", headers=record.editor.headers)
    assert gone.status == 204, await gone.text()


async def test_signed_documents_are_added_and_removed_on_the_edit_page(
    cloud: TestClient, db: AsyncEngine, tmp_path: Path
) -> None:
    record = await filed(cloud, db, "zhaoyi")
    me = record.editor
    page = await (await cloud.get(f"{ARCHIVE}/{record.id}/edit", headers=me.headers)).text()
    assert 'name="_attached"' in page and 'name="_attached__remove"' in page

    added = [
        ("_attached", PDF + b"% 2\n", "承诺书.pdf"),
        ("_attached", picture("PNG"), "签字页.png"),
    ]
    response = await post_edit(cloud, me, record, edit_form(record, added))
    assert response.status == 303, await response.text()
    assert await documents(db, record.id) == ["告知书.pdf", "承诺书.pdf", "签字页.png"]
    *_, last = await audits(db, "onboarding_staff", record.id)
    assert len(last.new["attachments"]) == 3 and len(last.old["attachments"]) == 1
    page = await (await cloud.get(f"{ARCHIVE}/{record.id}/edit", headers=me.headers)).text()
    assert "承诺书.pdf" in page and "签字页.png" in page

    # refused files: by content, by kind, by size — nothing is recorded, the record unchanged
    before_uploads = await upload_count(db)
    stored = sorted(p for p in (tmp_path / "uploads").rglob("*") if p.is_file())
    for content, name, reason in (
        (EXE, "承诺书.pdf", "不支持该文件类型"),
        (picture("BMP"), "承诺书.bmp", "只能是 doc、docx、jpg、pdf、png 文件"),
        (PDF + b"\x00" * (1024 * 1024), "大文件.pdf", "文件过大"),
    ):
        files = [("_attached", PDF, "好的.pdf"), ("_attached", content, name)]
        response = await post_edit(cloud, me, record, edit_form(record, files, name="改名"))
        assert response.status == 422, name
        assert reason in error_at(await response.text(), "attached"), name
    assert await upload_count(db) == before_uploads
    assert sorted(p for p in (tmp_path / "uploads").rglob("*") if p.is_file()) == stored
    assert await documents(db, record.id) == ["告知书.pdf", "承诺书.pdf", "签字页.png"]
    assert (await account(db, record.user_id))[0] == "周婷"

    async with db.connect() as conn:
        ids = dict(
            (
                await conn.execute(
                    sa.select(uploads.c.name, uploads.c.id)
                    .join(staff_attachments, staff_attachments.c.upload_id == uploads.c.id)
                    .where(staff_attachments.c.staff_id == record.id)
                )
            ).all()
        )
    # a file not attached to this record is refused, with the rest of the change
    foreign = await upload(cloud, record.clerk, PDF, "别处的.pdf")
    refused = edit_form(record, name="改名", _attached__remove=[ids["承诺书.pdf"], foreign])
    response = await post_edit(cloud, me, record, refused)
    assert response.status == 422
    assert "文件不存在" in error_at(await response.text(), "attached")
    assert await documents(db, record.id) == ["告知书.pdf", "承诺书.pdf", "签字页.png"]
    assert (await account(db, record.user_id))[0] == "周婷"

    taken = edit_form(record, _attached__remove=[ids["告知书.pdf"], ids["签字页.png"]])
    response = await post_edit(cloud, me, record, taken)
    assert response.status == 303, await response.text()
    assert await documents(db, record.id) == ["承诺书.pdf"]
    *_, last = await audits(db, "onboarding_staff", record.id)
    assert last.old["attachments"] == [ids["告知书.pdf"], ids["承诺书.pdf"], ids["签字页.png"]]
    assert last.new["attachments"] == [ids["承诺书.pdf"]]


async def test_only_an_editor_in_scope_changes_the_documents(
    cloud: TestClient, db: AsyncEngine
) -> None:
    record = await filed(cloud, db, "sunli")
    viewer = await person(
        db,
        record.site,
        {"onboarding_staff.view": "dept_tree", "onboarding_staff.read": "dept_tree"},
    )
    elsewhere = await person(
        db,
        await unit(db, "别的部门"),
        {f"onboarding_staff.{r}": "dept" for r in ("view", "read", "edit")},
    )
    upload_before = await upload_count(db)
    for who, status in ((viewer, 403), (elsewhere, 404)):
        files = [("_attached", PDF, "私自.pdf")]
        response = await post_edit(cloud, who, record, edit_form(record, files))
        assert response.status == status, who
        assert await documents(db, record.id) == ["告知书.pdf"]
        async with db.connect() as conn:
            attached = await conn.scalar(
                sa.select(staff_attachments.c.upload_id).where(
                    staff_attachments.c.staff_id == record.id
                )
            )
        removal = edit_form(record, _attached__remove=str(attached))
        response = await post_edit(cloud, who, record, removal)
        assert response.status == status, who
        assert await documents(db, record.id) == ["告知书.pdf"]
    assert await upload_count(db) == upload_before


async def test_an_active_account_keeps_its_record_until_it_is_cancelled(
    cloud: TestClient, db: AsyncEngine
) -> None:
    record = await filed(cloud, db, "qianfeng")
    me = record.editor
    audited = len(await audits(db, "onboarding_staff", record.id))

    refused = await cloud.delete(f"/api/r/onboarding_staff/{record.id}", headers=me.headers)
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert error["code"] == "staff_account_active" and "取消备案" in error["message"]
    response = await cloud.post(
        f"{ARCHIVE}/{record.id}/delete", data={}, headers=me.headers, allow_redirects=False
    )
    assert response.status == 409 and "取消备案" in await response.text()
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(staff.c.id).where(staff.c.id == record.id))
    assert await documents(db, record.id) == ["告知书.pdf"]
    assert (await account(db, record.user_id))[3] == "active"
    assert len(await audits(db, "onboarding_staff", record.id)) == audited

    # a disabled (屏蔽) account is not cancelled either
    async with db.begin() as conn:
        await conn.execute(
            users.update().where(users.c.id == record.user_id).values(status="disabled")
        )
    refused = await cloud.delete(f"/api/r/onboarding_staff/{record.id}", headers=me.headers)
    assert refused.status == 409
    async with db.begin() as conn:
        await conn.execute(
            users.update().where(users.c.id == record.user_id).values(status="active")
        )

    change = {"staff_id": record.id, "date": "2030-02-01", "remark": "调回原单位"}
    body = {"business_key": "onboarding.staff_cancel", "form": change}
    started = await cloud.post("/api/workflow/instances", json=body, headers=record.clerk.headers)
    assert started.status == 201, await started.text()
    await act(cloud, record.boss, await started.json())

    response = await cloud.post(
        f"{ARCHIVE}/{record.id}/delete", data={}, headers=me.headers, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(staff.c.id).where(staff.c.id == record.id)) is None
    assert await documents(db, record.id) == []
    assert (await account(db, record.user_id))[3] == "cancelled"
    *_, last = await audits(db, "onboarding_staff", record.id)
    assert last.action == "delete"
