"""A staff entry's photo and signed documents over HTTP on PostgreSQL (§21.1.4): files are
judged by their content and size in the portal's own request and a refused one leaves nothing
behind; an applicant attaches only files they uploaded; the approver sees them on the instance;
on approval they land in the staff archive, readable by whoever may view the record; the
archive's generic form replaces and removes the photo."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
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
from cloud.db import open_engine
from cloud.onboarding.tables import staff, staff_attachments
from cloud.uploads import uploads
from cloud.workflow.tables import instances
from tests.cloud.conftest import cloud_config
from tests.cloud.people import Person, person, unit
from tests.cloud.workflow.helpers import head

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 300


def png(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 40), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def cloud(
    postgresql_url: str, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> TestClient:
    config = cloud_config(postgresql_url).model_copy(
        update={"uploads": UploadsConfig(dir=str(tmp_path / "uploads"), max_mb=1)}
    )
    return await aiohttp_client(create_app(config))


@pytest.fixture
async def db(postgresql_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(postgresql_url)
    yield engine
    await engine.dispose()


async def upload(cloud: TestClient, who: Person, content: bytes, name: str) -> str:
    data = aiohttp.FormData()
    data.add_field("file", content, filename=name, content_type="application/octet-stream")
    response = await cloud.post("/api/uploads", data=data, headers=who.headers)
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


def entry(unit_id: str, username: str, **more: Any) -> dict[str, Any]:
    return {"unit_id": unit_id, "name": "周婷", "gender": "女", "username": username, **more}


async def start(cloud: TestClient, who: Person, form: dict[str, Any], status: int = 201) -> Any:
    body = {"business_key": "onboarding.staff_entry", "form": form}
    response = await cloud.post("/api/workflow/instances", json=body, headers=who.headers)
    assert response.status == status, await response.text()
    return await response.json()


def portal_form(fields: dict[str, str], files: list[tuple[str, bytes, str]]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in fields.items():
        data.add_field(key, value)
    for key, content, name in files:
        data.add_field(key, content, filename=name, content_type="application/octet-stream")
    return data


async def counts(db: AsyncEngine) -> tuple[int, int]:
    async with db.connect() as conn:
        made = await conn.scalar(sa.select(sa.func.count()).select_from(uploads))
        started = await conn.scalar(sa.select(sa.func.count()).select_from(instances))
    return int(made or 0), int(started or 0)


def stored_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()]


async def test_refused_files_on_the_start_page_leave_nothing_behind(
    cloud: TestClient, db: AsyncEngine, tmp_path: Path
) -> None:
    office = await unit(db, "政务服务办")
    clerk = await person(db, office, {"onboarding.apply": "dept"})
    fields = {"unit_id": office, "name": "周婷", "gender": "女", "username": "zhouting"}
    before, files_before = await counts(db), stored_files(tmp_path)
    cases = [
        ("photo__file", EXE, "照片.jpg", "photo", "不支持该文件类型"),
        ("photo__file", PDF, "照片.pdf", "photo", "只能是 bmp、jpg、png 文件"),
        (
            "attachments__file",
            png() + b"\x00" * (1024 * 1024),
            "承诺书.png",
            "attachments",
            "文件过大",
        ),
        ("attachments__file", EXE, "承诺书.pdf", "attachments", "不支持该文件类型"),
    ]
    for key, content, name, field, reason in cases:
        files = [("attachments__file", PDF, "告知书.pdf"), (key, content, name)]
        response = await cloud.post(
            "/portal/onboarding/staff-entry",
            data=portal_form(fields, files),
            headers=clerk.headers,
        )
        assert response.status == 422, name
        html = await response.text()
        shown = html.split(f'data-field="{field}"', 1)[1].split('class="error"', 1)[1]
        assert reason in shown.split("</div>", 1)[0], (name, shown[:300])
        assert await counts(db) == before, name
    assert stored_files(tmp_path) == files_before

    # text errors: no file is even looked at
    response = await cloud.post(
        "/portal/onboarding/staff-entry",
        data=portal_form(fields | {"gender": ""}, [("photo__file", png(), "照片.png")]),
        headers=clerk.headers,
    )
    assert response.status == 422
    assert await counts(db) == before and stored_files(tmp_path) == files_before


async def test_an_applicant_attaches_only_their_own_uploads(
    cloud: TestClient, db: AsyncEngine
) -> None:
    office = await unit(db, "政务服务办")
    rights = {"onboarding.apply": "dept", "upload.create": "dept"}
    clerk = await person(db, office, rights)
    other = await person(db, office, rights)
    theirs = await upload(cloud, other, PDF, "别人的承诺书.pdf")
    their_photo = await upload(cloud, other, png(), "别人的照片.png")
    mine = await upload(cloud, clerk, PDF, "承诺书.pdf")

    for form in (
        entry(office, "a1", attachments=[mine, theirs]),
        entry(office, "a2", photo=their_photo),
        entry(office, "a3", photo="01JGUESSEDID0000000000000"),
        entry(office, "a4", photo=mine),  # a PDF is no photo
    ):
        refused = await start(cloud, clerk, form, 422)
        assert refused["error"]["code"] == "invalid_form", form
    async with db.connect() as conn:
        mine_started = sa.select(sa.func.count()).where(instances.c.applicant_id == clerk.id)
        assert await conn.scalar(mine_started) == 0

    # the portal's kept ids are checked the same way, and a foreign one's name is not shown
    fields = {"unit_id": office, "name": "周婷", "gender": "女", "username": "zt2"}
    data = portal_form(fields | {"photo": their_photo}, [])
    response = await cloud.post("/portal/onboarding/staff-entry", data=data, headers=clerk.headers)
    html = await response.text()
    assert response.status == 422 and "不是本人上传的" in html
    assert "别人的照片" not in html and their_photo not in html


async def test_an_approved_entry_files_its_photo_and_documents_in_the_archive(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site = await unit(db, "市民中心", kind="site")
    office = await unit(db, "政务服务办", parent=site)
    boss = await person(db, office)
    await head(db, office, boss)
    clerk = await person(db, office, {"onboarding.apply": "dept"})
    archivist = await person(db, site, {"onboarding_staff.view": "dept_tree"})
    stranger = await person(db, await unit(db, "别的部门"), {"upload.read": "dept"})

    photo, scan = png("blue"), PDF + b"% signed\n"
    fields = {"unit_id": office, "name": "周婷", "gender": "女", "username": "zhouting"}
    files = [
        ("photo__file", photo, "一寸照.png"),
        ("attachments__file", scan, "告知书.pdf"),
        ("attachments__file", png("green"), "承诺书.png"),
    ]
    response = await cloud.post(
        "/portal/onboarding/staff-entry",
        data=portal_form(fields, files),
        headers=clerk.headers,
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    instance = response.headers["Location"].split("/portal/work/i/")[1].split("?")[0]
    view = await (
        await cloud.get(f"/api/workflow/instances/{instance}", headers=clerk.headers)
    ).json()
    photo_id, attached = view["form"]["photo"], view["form"]["attachments"]
    assert len(attached) == 2

    # the approver sees them while it waits, named and linked on the instance's page
    page = await (await cloud.get(f"/portal/work/i/{instance}", headers=boss.headers)).text()
    assert f'href="/api/uploads/{photo_id}"' in page and "一寸照.png" in page
    assert f'img src="/api/uploads/{photo_id}"' in page
    assert f'href="/api/uploads/{attached[0]}"' in page and "告知书.pdf" in page
    for who, status in ((boss, 200), (stranger, 404), (archivist, 404)):
        got = await cloud.get(f"/api/uploads/{attached[0]}", headers=who.headers)
        assert got.status == status, who
    task = view["current_approvers"][0]["task_id"]
    response = await cloud.post(
        f"/api/workflow/tasks/{task}/act",
        json={"decision": "approve", "comment": "同意"},
        headers=boss.headers,
    )
    assert response.status == 200, await response.text()

    async with db.connect() as conn:
        record = (await conn.execute(sa.select(staff).where(staff.c.username == "zhouting"))).one()
        filed = list(
            await conn.scalars(
                sa.select(staff_attachments.c.upload_id)
                .where(staff_attachments.c.staff_id == record.id)
                .order_by(staff_attachments.c.sort)
            )
        )
    assert record.photo == photo_id and filed == attached

    # whoever may view the record reads its photo and documents, byte for byte
    for upload_id, content in ((photo_id, photo), (attached[0], scan)):
        got = await cloud.get(f"/api/uploads/{upload_id}", headers=archivist.headers)
        assert got.status == 200 and await got.read() == content
    got = await cloud.get(f"/api/uploads/{attached[0]}", headers=stranger.headers)
    assert got.status == 404

    # the archive's edit page shows them
    page = await cloud.get(
        f"/portal/r/onboarding_staff/{record.id}/edit", headers=(await editor(db, site)).headers
    )
    html = await page.text()
    assert page.status == 200 and "一寸照.png" in html and "告知书.pdf" in html
    assert f"/api/uploads/{photo_id}" in html and f"/api/uploads/{attached[1]}" in html


async def editor(db: AsyncEngine, site: str) -> Person:
    rights = {f"onboarding_staff.{r}": "dept_tree" for r in ("view", "read", "edit")}
    return await person(db, site, rights | {"stationed_department.view": "dept_tree"})


async def test_the_archive_form_replaces_and_removes_the_photo(
    cloud: TestClient, db: AsyncEngine, tmp_path: Path
) -> None:
    site = await unit(db, "市民中心", kind="site")
    office = await unit(db, "政务服务办", parent=site)
    boss = await person(db, office)
    await head(db, office, boss)
    clerk = await person(db, office, {"onboarding.apply": "dept"})
    view = await start(cloud, clerk, entry(office, "liwei"))
    task = view["current_approvers"][0]["task_id"]
    body = {"decision": "approve", "comment": "同意"}
    act = await cloud.post(f"/api/workflow/tasks/{task}/act", json=body, headers=boss.headers)
    assert act.status == 200
    async with db.connect() as conn:
        record = (await conn.execute(sa.select(staff).where(staff.c.username == "liwei"))).one()
    me = await editor(db, site)
    path = f"/portal/r/onboarding_staff/{record.id}/edit"
    page = await cloud.get(path, headers=me.headers)
    assert 'enctype="multipart/form-data"' in await page.text()
    fields = {"unit_id": record.unit_id, "name": "李伟", "gender": "男"}
    before, files_before = await counts(db), stored_files(tmp_path)

    response = await cloud.post(
        path, data=portal_form(fields, [("photo", EXE, "照片.jpg")]), headers=me.headers
    )
    html = await response.text()
    assert response.status == 422
    shown = html.split('data-field="photo"', 1)[1].split('class="error"', 1)[1]
    assert "不支持该文件类型" in shown.split("</div>", 1)[0]
    assert await counts(db) == before and stored_files(tmp_path) == files_before
    response = await cloud.post(
        path, data=portal_form(fields, [("photo", PDF, "照片.pdf")]), headers=me.headers
    )
    assert response.status == 422 and "只能上传 jpg、bmp、png 图片" in await response.text()

    response = await cloud.post(
        path,
        data=portal_form(fields, [("photo", png(), "新照片.png")]),
        headers=me.headers,
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    async with db.connect() as conn:
        photo = await conn.scalar(sa.select(staff.c.photo).where(staff.c.id == record.id))
        name = await conn.scalar(sa.select(uploads.c.name).where(uploads.c.id == photo))
    assert name == "新照片.png"
    listed = await (await cloud.get("/portal/r/onboarding_staff", headers=me.headers)).text()
    assert f'src="/api/uploads/{photo}"' in listed
    edit_page = await (await cloud.get(path, headers=me.headers)).text()
    assert "新照片.png" in edit_page and "photo__remove" in edit_page

    # saving without a new file keeps it; "remove" clears it
    response = await cloud.post(
        path, data=portal_form(fields, []), headers=me.headers, allow_redirects=False
    )
    assert response.status == 303
    response = await cloud.post(
        path,
        data=portal_form(fields | {"photo__remove": "true"}, []),
        headers=me.headers,
        allow_redirects=False,
    )
    assert response.status == 303
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(staff.c.photo).where(staff.c.id == record.id)) is None


async def test_a_record_takes_only_its_editors_own_uploads_over_the_api(
    cloud: TestClient, db: AsyncEngine
) -> None:
    site = await unit(db, "市民中心", kind="site")
    office = await unit(db, "政务服务办", parent=site)
    boss = await person(db, office)
    await head(db, office, boss)
    clerk = await person(db, office, {"onboarding.apply": "dept", "upload.create": "dept"})
    view = await start(cloud, clerk, entry(office, "zhaoyi"))
    task = view["current_approvers"][0]["task_id"]
    body = {"decision": "approve", "comment": "同意"}
    act = await cloud.post(f"/api/workflow/tasks/{task}/act", json=body, headers=boss.headers)
    assert act.status == 200
    async with db.connect() as conn:
        record = (await conn.execute(sa.select(staff).where(staff.c.username == "zhaoyi"))).one()
    rights = {f"onboarding_staff.{r}": "dept_tree" for r in ("view", "read", "edit")}
    me = await person(db, site, rights | {"upload.create": "dept_tree"})
    theirs = await upload(cloud, clerk, png(), "别人的照片.png")
    mine = await upload(cloud, me, png("blue"), "我的照片.png")
    path = f"/api/r/onboarding_staff/{record.id}"

    refused = await cloud.patch(path, json={"photo": theirs}, headers=me.headers)
    assert refused.status == 422, await refused.text()
    assert "文件不存在" in (await refused.json())["error"]["message"]
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(staff.c.photo).where(staff.c.id == record.id)) is None
    taken = await cloud.patch(path, json={"photo": mine}, headers=me.headers)
    assert taken.status == 200, await taken.text()
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(staff.c.photo).where(staff.c.id == record.id)) == mine
