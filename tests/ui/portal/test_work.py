"""An approval in the portal, in Chromium: an applicant's submission reaches their department
head's work table in another browser, the head approves it with an opinion, and the applicant
sees it approved with the history."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.principal import load_principal
from cloud.workflow import engine as workflow
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import now_ms, person, unit
from tests.cloud.workflow.helpers import flow, head
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")


async def test_the_department_head_approves_what_the_applicant_sees_approved(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "社保窗口科")
    applicant = await person(engine, office)
    chief = await person(engine, office)
    await head(engine, office, chief)
    key = await flow(engine, {"name": "科室负责人审批", "approvers": [{"type": "department_head"}]})
    async with engine.connect() as conn:
        me = await load_principal(conn, applicant.id)
    assert me is not None
    started = await workflow.start(
        engine, me, business_key=key, form={"请假天数": 2, "事由": "参加培训"},
        title="请假申请（2天）", now_ms=now_ms(),
    )  # fmt: skip

    mine, applicant_page = await signed_in(browser, portal, applicant, page_errors)
    await applicant_page.goto(f"{portal.base}/portal/work/involved")
    await applicant_page.click("text=请假申请（2天）")
    await expect(applicant_page.get_by_test_id("status")).to_have_text("审批中")
    await expect(applicant_page.get_by_test_id("approvers")).to_contain_text(
        f"测试{chief.username}"
    )

    theirs, chief_page = await signed_in(browser, portal, chief, page_errors)
    await chief_page.goto(f"{portal.base}/portal/")
    await expect(chief_page.get_by_test_id("count-todo")).to_have_text("1")
    await chief_page.click("a:has-text('办理')")
    await expect(chief_page).to_have_url(f"{portal.base}/portal/work/i/{started['id']}")
    await expect(chief_page.locator("text=参加培训")).to_be_visible()
    await chief_page.fill("#f-comment", "同意，注意安排好窗口替岗")
    await screenshot(chief_page, "portal-approval")
    await chief_page.click("button[value=approve]")
    await expect(chief_page.locator(".flash.ok")).to_have_text("已同意")
    await expect(chief_page.get_by_test_id("status")).to_have_text("已通过")

    await applicant_page.goto(f"{portal.base}/portal/work/done")
    await expect(applicant_page.locator("tbody tr")).to_contain_text("已通过")
    await applicant_page.click("text=请假申请（2天）")
    await expect(applicant_page.get_by_test_id("status")).to_have_text("已通过")
    await expect(applicant_page.get_by_test_id("history")).to_contain_text(
        "同意，注意安排好窗口替岗"
    )
    await screenshot(applicant_page, "portal-approved")
    await mine.close()
    await theirs.close()
