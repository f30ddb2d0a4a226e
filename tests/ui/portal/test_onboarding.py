"""A staff entry in the portal, in Chromium: the applicant fills in the form of the start page,
the head approves it in another browser, the person then appears in the staff archive found by
a filter, and the applicant sees the new account's initial password once."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.workflow import engine as workflow
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import now_ms, person, unit
from tests.cloud.workflow.helpers import head, principal
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")

_QUERIES = {
    f"{resource}.{right}": "dept_tree"
    for resource in ("onboarding_staff", "stationed_department")
    for right in ("view", "read")
}


async def test_a_staff_entry_filed_in_the_portal_lands_in_the_archive(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    site = await unit(engine, "市民中心", kind="site")
    applicant = await person(engine, site, {"onboarding.apply": "dept", **_QUERIES})
    chief = await person(engine, site)
    await head(engine, site, chief)
    # the department the person is stationed with, itself stationed through its own flow
    me, boss = await principal(engine, applicant), await principal(engine, chief)
    form = {"name": "市场监督管理局", "short_name": "市监局", "site_id": site}
    started = await workflow.start(
        engine, me, business_key="onboarding.department_entry", form=form, now_ms=now_ms()
    )
    await workflow.act(
        engine, boss, started["current_approvers"][0]["task_id"],
        decision="approve", comment="同意", now_ms=now_ms(),
    )  # fmt: skip

    mine, page = await signed_in(browser, portal, applicant, page_errors)
    await page.goto(f"{portal.base}/portal/")
    await page.click("nav >> text=人员入驻备案")
    await expect(page.locator("h1")).to_have_text("人员入驻备案")
    await page.select_option("#f-unit_id", label="市场监督管理局")
    await page.fill("#f-name", "林小雨")
    await page.fill("#f-username", "bad name")
    await page.click("button:has-text('提交审批')")
    await expect(page.locator("[data-field=gender] .error")).to_have_text("不能为空")
    await expect(page.locator("[data-field=username] .error")).to_have_text("格式不正确")
    await page.select_option("#f-gender", "女")
    await page.fill("#f-username", "linxiaoyu")
    await page.fill("#f-mobile", "13812345678")
    await page.fill("#f-work_number", "SJ-007")
    await page.fill("#f-leaders\\.section_head\\.name", "赵敏")
    await page.check("#f-canteen")
    await screenshot(page, "portal-staff-entry")
    await page.click("button:has-text('提交审批')")
    await expect(page.get_by_test_id("status")).to_have_text("审批中")
    instance = page.url.split("/portal/work/i/")[1].split("?")[0]

    theirs, chief_page = await signed_in(browser, portal, chief, page_errors)
    await chief_page.goto(f"{portal.base}/portal/work/i/{instance}")
    await expect(chief_page.locator("text=林小雨").first).to_be_visible()
    await chief_page.click("button[value=approve]")
    await expect(chief_page.get_by_test_id("status")).to_have_text("已通过")
    await theirs.close()

    await page.goto(f"{portal.base}/portal/onboarding/staff")
    await page.fill("input[name=work_number]", "SJ-007")
    await page.click("#filters button:has-text('查询')")
    rows = page.locator("#rows tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("林小雨")
    await expect(rows.first).to_contain_text("市场监督管理局")
    await screenshot(page, "portal-staff-archive")
    await mine.close()
