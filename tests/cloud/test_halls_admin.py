"""办事厅维护 (§21.2.1) on PostgreSQL: a hall registered with its site — a new site under a
region, or an existing site without a hall — in one transaction with its audit rows; a refused
registration leaves nothing behind; renaming reaches the authored configuration; a disabled
hall's edge is refused by the sync; the portal's pages check rights on the server (registering
needs the scope `all`, a hall out of scope is not there, reading is not managing) and answer
bad forms next to the field."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.app import create_app
from cloud.audit import Origin
from cloud.db import audit_log, halls, open_engine
from cloud.errors import ApiError
from cloud.hallconfig.settings import read_settings, write_settings
from cloud.halls import SitePlace, register_hall_at_site, rename_hall, sync_summaries
from cloud.identity.principal import CSRF_FIELD, SESSION_COOKIE
from cloud.identity.tables import org_closure, org_units
from cloud.portal.hall_admin import relative_time
from tests.cloud.conftest import cloud_config
from tests.cloud.people import Person, now_ms, person, unit

ORIGIN = Origin(actor="admin:tests")


@pytest.fixture
async def db(postgresql_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(postgresql_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def cloud(
    postgresql_url: str, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> TestClient:
    return await aiohttp_client(create_app(cloud_config(postgresql_url)))


async def audited(db: AsyncEngine, hall: str) -> list[tuple[str, str]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            sa.select(audit_log.c.resource, audit_log.c.action)
            .where(audit_log.c.hall == hall)
            .order_by(audit_log.c.id)
        )
        return [(r.resource, r.action) for r in rows]


async def hall_exists(db: AsyncEngine, hall: str) -> bool:
    async with db.connect() as conn:
        return await conn.scalar(sa.select(halls.c.id).where(halls.c.id == hall)) is not None


async def test_a_hall_registered_under_a_new_site_is_linked_in_the_tree(db: AsyncEngine) -> None:
    region = await unit(db, "东城区", kind="region")
    answer = await register_hall_at_site(
        db, "dc-1", "东城政务服务中心", SitePlace(site_name="东城网点", parent_id=region),
        now_ms(), ORIGIN,
    )  # fmt: skip
    assert answer["token"] == f"dc-1.{answer['secret']}"
    async with db.connect() as conn:
        site = await conn.execute(sa.select(org_units).where(org_units.c.id == answer["site"]))
        row = site.one()
        above = await conn.scalar(
            sa.select(org_closure.c.depth).where(
                org_closure.c.ancestor == region, org_closure.c.descendant == row.id
            )
        )
    assert (row.kind, row.name, row.hall, row.parent_id) == ("site", "东城网点", "dc-1", region)
    assert above == 1
    assert await audited(db, "dc-1") == [("hall", "create"), ("org_unit", "create")]
    async with db.connect() as conn:
        summary = (await sync_summaries(conn, ["dc-1"]))["dc-1"]
    assert summary.last_contact is None and summary.newest_version is None


async def test_a_refused_registration_leaves_nothing_behind(db: AsyncEngine) -> None:
    region = await unit(db, "西城区", kind="region")
    site = await unit(db, "西城网点", kind="site", parent=region)
    await register_hall_at_site(db, "xc-1", "西城中心", SitePlace(site_id=site), now_ms(), ORIGIN)

    refusals = [
        ("xc-2", SitePlace(site_id=site), "site_has_hall"),
        ("xc-3", SitePlace(site_id=region), "unknown_site"),
        ("xc-4", SitePlace(site_name="新网点", parent_id=site), "site_parent_kind"),
        ("xc-5", SitePlace(site_name="新网点", parent_id="nowhere"), "unknown_org_unit"),
        ("xc-1", SitePlace(site_name="又一个", parent_id=region), "hall_exists"),
    ]
    for hall, place, code in refusals:
        with pytest.raises(ApiError) as refused:
            await register_hall_at_site(db, hall, "大厅", place, now_ms(), ORIGIN)
        assert refused.value.code == code
        if hall != "xc-1":
            assert not await hall_exists(db, hall)
            assert await audited(db, hall) == []
    async with db.connect() as conn:
        sites = await conn.scalar(
            sa.select(sa.func.count()).select_from(org_units).where(org_units.c.parent_id == region)
        )
    assert sites == 1  # no site of a refused registration stayed


async def test_renaming_reaches_the_authored_configuration(db: AsyncEngine) -> None:
    region = await unit(db, "南城区", kind="region")
    await register_hall_at_site(db, "nc-1", "南城中心", SitePlace(site_name="南城网点",
                                parent_id=region), now_ms(), ORIGIN)  # fmt: skip
    async with db.begin() as conn:
        await write_settings(conn, "nc-1", {"name": "南城中心"}, replace=True, department=None,
                             origin=ORIGIN, now_ms=now_ms())  # fmt: skip
    answer = await rename_hall(db, "nc-1", "南城区政务服务中心", now_ms(), ORIGIN)
    assert answer["hall"]["name"] == "南城区政务服务中心"
    async with db.connect() as conn:
        assert (await read_settings(conn, "nc-1"))["name"] == "南城区政务服务中心"
    assert ("hall", "update") in await audited(db, "nc-1")
    for bad in ("", "名" * 201):
        with pytest.raises(ApiError):
            await rename_hall(db, "nc-1", bad, now_ms(), ORIGIN)
    with pytest.raises(ApiError) as missing:
        await rename_hall(db, "nowhere", "名字", now_ms(), ORIGIN)
    assert missing.value.code == "unknown_hall"


# ---------------------------------------------------------------------------- the portal


def cookie(who: Person) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={who.token}"}


async def post_form(cloud: TestClient, who: Person, path: str, form: dict[str, str]) -> Any:
    return await cloud.post(
        path, data={CSRF_FIELD: who.csrf, **form}, headers=cookie(who), allow_redirects=False
    )


async def test_the_portal_registers_a_hall_and_refuses_what_it_must(
    cloud: TestClient, db: AsyncEngine
) -> None:
    region = await unit(db, "北城区", kind="region")
    root = await person(db, None, superuser=True)
    local = await person(db, region, {"hall.manage": "dept_tree", "hall_config.view": "dept_tree"})

    # registering needs the scope `all`
    response = await cloud.get("/portal/halls/new", headers=cookie(local))
    assert response.status == 403
    form = {"id": "bc-1", "name": "北城中心", "site_mode": "new", "site_name": "北城网点",
            "parent_id": region}  # fmt: skip
    response = await post_form(cloud, local, "/portal/halls/new", form)
    assert response.status == 403 and not await hall_exists(db, "bc-1")

    # bad fields are answered next to them, what was typed stays
    bad = form | {"id": "带空格 的编号", "site_name": ""}
    response = await post_form(cloud, root, "/portal/halls/new", bad)
    html = await response.text()
    assert response.status == 422
    for field in ("id", "site_name"):
        assert re.search(rf'data-field="{field}".*?class="error"', html, re.S), field
    assert 'value="北城中心"' in html

    response = await post_form(cloud, root, "/portal/halls/new", form)
    html = await response.text()
    assert response.status == 201 and "bc-1." in html and "secret_file" in html

    # the same again (a reload of the answer) shows no token: the id is taken
    response = await post_form(cloud, root, "/portal/halls/new", form)
    html = await response.text()
    assert response.status == 422 and "大厅编号已存在" in html and "bc-1." not in html

    # a user whose scope reaches the hall manages it; one who only reads it may not change it
    reader = await person(db, region, {"hall.read": "dept_tree"})
    response = await cloud.get("/portal/halls/bc-1/admin", headers=cookie(reader))
    assert response.status == 200 and "从未连接" in await response.text()
    response = await post_form(cloud, reader, "/portal/halls/bc-1/admin/disable", {})
    assert response.status == 403
    response = await post_form(cloud, local, "/portal/halls/bc-1/admin/name", {"name": ""})
    assert response.status == 422 and "请填写大厅名称" in await response.text()
    response = await post_form(
        cloud, local, "/portal/halls/bc-1/admin/name", {"name": "北城区中心"}
    )
    assert response.status == 303

    # another region's user does not find it at all
    other = await unit(db, "南城区", kind="region")
    stranger = await person(db, other, {"hall.manage": "dept_tree", "hall.read": "dept_tree"})
    for method, path in (("GET", "/portal/halls/bc-1/admin"),
                         ("POST", "/portal/halls/bc-1/admin/disable")):  # fmt: skip
        response = await cloud.request(method, path, data={CSRF_FIELD: stranger.csrf},
                                       headers=cookie(stranger), allow_redirects=False)  # fmt: skip
        assert response.status == 404, (method, path)
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(halls).where(halls.c.id == "bc-1"))).one()
    assert (row.name, row.disabled) == ("北城区中心", False)


async def test_a_disabled_halls_edge_is_refused_by_the_sync(
    cloud: TestClient, db: AsyncEngine
) -> None:
    region = await unit(db, "中城区", kind="region")
    answer = await register_hall_at_site(db, "zc-1", "中城中心", SitePlace(site_name="中城网点",
                                         parent_id=region), now_ms(), ORIGIN)  # fmt: skip
    edge = {"Authorization": f"Bearer {answer['token']}"}
    response = await cloud.get("/sync/v1/mark?epoch=ep1", headers=edge)
    assert response.status == 200
    manager = await person(db, region, {"hall.manage": "dept_tree"})
    response = await post_form(cloud, manager, "/portal/halls/zc-1/admin/disable", {})
    assert response.status == 303
    response = await cloud.get("/sync/v1/mark?epoch=ep1", headers=edge)
    assert response.status == 401
    response = await post_form(cloud, manager, "/portal/halls/zc-1/admin/enable", {})
    assert response.status == 303
    response = await cloud.get("/sync/v1/mark?epoch=ep1", headers=edge)
    assert response.status == 200
    assert [a for r, a in await audited(db, "zc-1") if r == "hall"] == [
        "create", "update", "update"
    ]  # fmt: skip


def test_times_are_told_relative_to_now() -> None:
    now = 1_000_000_000
    assert relative_time(None, now) == "从未连接"
    assert relative_time(now - 20_000, now) == "刚刚"
    assert relative_time(now - 3 * 60_000 - 5, now) == "3 分钟前"
    assert relative_time(now - 2 * 3_600_000, now) == "2 小时前"
    assert relative_time(now - 5 * 86_400_000, now) == "5 天前"


async def test_a_new_secret_replaces_the_old_one_at_once(
    cloud: TestClient, db: AsyncEngine
) -> None:
    region = await unit(db, "北区", kind="region")
    answer = await register_hall_at_site(db, "bq-1", "北区中心", SitePlace(site_name="北区网点",
                                         parent_id=region), now_ms(), ORIGIN)  # fmt: skip
    old = {"Authorization": f"Bearer {answer['token']}"}
    assert (await cloud.get("/sync/v1/mark?epoch=ep1", headers=old)).status == 200

    # over the API: the hall's managers only
    outsider = await person(db, await unit(db, "南区", kind="region"), {"hall.manage": "dept_tree"})
    refused = await cloud.post("/api/halls/bq-1/secret", headers=outsider.headers)
    assert refused.status == 403
    assert (await cloud.get("/sync/v1/mark?epoch=ep1", headers=old)).status == 200
    manager = await person(db, region, {"hall.manage": "dept_tree"})
    response = await cloud.post("/api/halls/bq-1/secret", headers=manager.headers)
    assert response.status == 200, await response.text()
    issued = await response.json()
    assert issued["token"] != answer["token"] and issued["token"].startswith("bq-1.")
    assert (await cloud.get("/sync/v1/mark?epoch=ep1", headers=old)).status == 401
    new = {"Authorization": f"Bearer {issued['token']}"}
    assert (await cloud.get("/sync/v1/mark?epoch=ep1", headers=new)).status == 200

    # in the portal: the new token shown once, the one before it refused from then on
    page = await post_form(cloud, manager, "/portal/halls/bq-1/admin/secret", {})
    text = await page.text()
    assert page.status == 200 and "已换发密钥" in text
    token = re.search(r'data-testid="token">([^<]+)<', text)
    assert token is not None and token.group(1).startswith("bq-1.")
    assert (await cloud.get("/sync/v1/mark?epoch=ep1", headers=new)).status == 401
    latest = {"Authorization": f"Bearer {token.group(1)}"}
    assert (await cloud.get("/sync/v1/mark?epoch=ep1", headers=latest)).status == 200
    reader = await person(db, region, {"hall.read": "dept_tree"})
    assert (await post_form(cloud, reader, "/portal/halls/bq-1/admin/secret", {})).status == 403

    # the log says when, never what
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(audit_log).where(audit_log.c.hall == "bq-1"))).all()
    logged = repr([(r.old, r.new) for r in rows])
    assert "credentials_replaced_at" in logged
    for secret in (answer["secret"], issued["secret"], token.group(1)):
        assert secret.rpartition(".")[2] not in logged
