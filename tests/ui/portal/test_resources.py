"""A declared resource in the portal, in Chromium: a CRUD round trip through its pages (a bad
value refused next to its field in Chinese), a user without the right sees no button and gets
the 403 page at the address, and the Excel export of a filtered list holds exactly the rows
the list shows."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.audit import Origin
from cloud.identity.principal import load_principal
from cloud.resources.declare import RESOURCES
from cloud.resources.service import create_row
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import person, unit
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")

ALL_RIGHTS = ("create", "edit", "delete", "read", "view")


async def test_sms_templates_round_trip_through_the_portal(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "政务服务管理办公室")
    clerk = await person(engine, office, {f"sms_template.{r}": "dept" for r in ALL_RIGHTS})
    context, page = await signed_in(browser, portal, clerk, page_errors)
    base = f"{portal.base}/portal/r/sms_template"

    await page.goto(base)
    await expect(page.locator("h1")).to_have_text("短信模板")
    await page.get_by_role("link", name="新增", exact=True).click()
    await page.fill("#f-code", "booking_ok")
    await page.fill("#f-name", "预约成功通知")
    await page.fill("#f-content", "{name}您好，您已成功预约{date")
    await page.click("button:has-text('保存')")
    # the hook's refusal stands next to the content field, what was typed is kept
    error = page.locator("[data-field=content] .error")
    await expect(error).to_have_text("花括号不成对，占位符应写成 {name}")
    await expect(page.locator("#f-name")).to_have_value("预约成功通知")
    await screenshot(page, "portal-resource-form-error")
    await page.fill("#f-content", "{name}您好，您已成功预约{date}的业务。")
    await page.click("button:has-text('保存')")
    await expect(page).to_have_url(f"{base}?msg=created")
    await expect(page.locator(".flash.ok")).to_have_text("已新增")

    # a second one, then the filter finds only the first
    await page.get_by_role("link", name="新增", exact=True).click()
    await page.fill("#f-code", "queue_call")
    await page.fill("#f-name", "叫号提醒")
    await page.fill("#f-content", "请{name}到{window}窗口办理。")
    await page.click("button:has-text('保存')")
    await expect(page.get_by_test_id("total")).to_contain_text("共 2 条")
    await page.fill("#filters input[name=name]", "预约")
    await page.click("#filters button[type=submit]")
    await expect(page.get_by_test_id("total")).to_contain_text("共 1 条")
    await expect(page).to_have_url(re.compile(r"name=%E9%A2%84%E7%BA%A6"))
    row = page.locator("#rows tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.first).to_contain_text("预约成功通知")
    await screenshot(page, "portal-resource-list")

    # edit: the new name is listed
    await row.first.locator("text=编辑").click()
    await expect(page.locator("#f-name")).to_have_value("预约成功通知")
    await page.fill("#f-name", "预约成功短信")
    await page.click("button:has-text('保存')")
    await expect(page.locator(".flash.ok")).to_have_text("已保存")
    await expect(page.locator("#rows")).to_contain_text("预约成功短信")

    # delete, confirmed in place
    target = page.locator("#rows tbody tr", has_text="预约成功短信")
    await target.locator("button:has-text('删除')").click()
    await expect(target.locator("text=确定删除？")).to_be_visible()
    await target.locator("button:has-text('确定')").click()
    await expect(page.locator("#rows tbody tr", has_text="预约成功短信")).to_have_count(0)
    await page.reload()
    await expect(page.get_by_test_id("total")).to_contain_text("共 1 条")
    await context.close()


async def test_a_user_without_the_right_sees_no_buttons_and_is_refused_at_the_address(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "综合窗口科")
    viewer = await person(engine, office, {"position.view": "dept"})
    outsider = await person(engine, office, {"sms_template.view": "dept"})

    context, page = await signed_in(browser, portal, viewer, page_errors)
    await page.goto(f"{portal.base}/portal/r/position")
    await expect(page.locator("h1")).to_have_text("位置")
    await expect(page.get_by_role("link", name="新增", exact=True)).to_have_count(0)
    await expect(page.locator("text=导出Excel")).to_have_count(0)
    # the address of a button that is not shown is refused all the same
    response = await page.goto(f"{portal.base}/portal/r/position/new")
    assert response is not None and response.status == 403
    await expect(page.get_by_test_id("refusal")).to_contain_text("没有权限")
    await context.close()

    context, page = await signed_in(browser, portal, outsider, page_errors)
    response = await page.goto(f"{portal.base}/portal/r/position")
    assert response is not None and response.status == 403
    await expect(page.get_by_test_id("refusal")).to_contain_text("没有该操作的权限")
    await screenshot(page, "portal-forbidden")
    await context.close()


async def test_the_export_of_a_filtered_list_holds_exactly_its_rows(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "不动产登记中心")
    clerk = await person(engine, office, {f"position.{r}": "dept" for r in ALL_RIGHTS})
    async with engine.begin() as conn:
        me = await load_principal(conn, clerk.id)
        assert me is not None
        for name, floor in (
            ("一楼东厅", 1),
            ("二楼东厅", 2),
            ("二楼西厅", 2),
            ("三楼东厅", 3),
            ("四楼东厅", 4),
        ):
            body = {"name": name, "floor": floor}
            await create_row(conn, me, RESOURCES["position"], body, Origin(me.actor))
    context, page = await signed_in(browser, portal, clerk, page_errors)
    await page.goto(f"{portal.base}/portal/r/position")
    await page.fill("input[name=floor__from]", "2")
    await page.fill("input[name=floor__to]", "3")
    await page.fill("input[name=name]", "东厅")
    await page.click("#filters button[type=submit]")
    await expect(page.get_by_test_id("total")).to_contain_text("共 2 条")
    async with page.expect_download() as waiting:
        await page.click("#export")
    download = await waiting.value
    path = await download.path()
    book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))
    sheet = book.active
    assert sheet is not None
    rows = [[c for c in r] for r in sheet.iter_rows(values_only=True)]
    header, body_rows = rows[0], rows[1:]
    name_at, floor_at = header.index("位置名称"), header.index("楼层")
    assert sorted((r[name_at], r[floor_at]) for r in body_rows) == [
        ("三楼东厅", 3),
        ("二楼东厅", 2),
    ]
    await context.close()
