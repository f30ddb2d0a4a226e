"""The flow designer and supervision in the portal, in Chromium: a designer makes a one-step
flow two steps — a new submission follows both while the one already running keeps its single
step — and a supervisor sees what waits longest first, urges it (the approver's to-do shows it)
and reassigns another."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.workflow import engine as workflow
from cloud.workflow import lists
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import now_ms, person, unit
from tests.cloud.workflow.helpers import flow, head, principal, user
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")

DAY_MS = 86_400_000


async def test_a_second_step_applies_to_new_submissions_while_running_ones_keep_their_version(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "政务服务科")
    applicant = await person(engine, office)
    chief = await person(engine, office)
    director = await person(engine, office)
    await head(engine, office, chief)
    designer = await person(engine, office, {"workflow.design": "all"})
    key = await flow(engine, {"name": "科室负责人审批", "approvers": [{"type": "department_head"}]})
    me = await principal(engine, applicant)
    older = await workflow.start(
        engine, me, business_key=key, form={"事由": "表扬呈签"}, title="表扬呈签（一）",
        now_ms=now_ms(),
    )  # fmt: skip

    context, page = await signed_in(browser, portal, designer, page_errors)
    await page.goto(f"{portal.base}/portal/flows")
    row = page.get_by_test_id("flows").locator("tr", has_text=key)
    await expect(row).to_contain_text("第 1 版")
    await expect(row).to_contain_text("申请人所在部门负责人")
    await expect(row).to_contain_text("1 件")
    await row.get_by_role("link", name="编辑").click()
    await expect(page.get_by_test_id("steps").locator("li.step")).to_have_count(1)
    await expect(page.get_by_test_id("versions")).to_contain_text("1 件申请正在按此版本审批")

    await page.click("text=＋ 添加环节")
    second = page.get_by_test_id("steps").locator("li.step").nth(1)
    await second.locator("select[aria-label=审批人类型]").select_option("user")
    await page.click("text=保存为新版本")  # no name, no user: refused, next to the step
    second = page.get_by_test_id("steps").locator("li.step").nth(1)
    await expect(second.locator(".error")).to_have_text("请填写环节名称")
    await expect(page.get_by_test_id("steps").locator("li.step")).to_have_count(2)

    await second.locator("input.step-name").fill("分管领导审批")
    await second.locator("select[aria-label=审批用户]").select_option(director.id)
    await second.locator("select[aria-label=驳回后]").select_option("previous")
    await screenshot(page, "portal-flows-editor")
    await page.click("text=保存为新版本")
    await expect(page.locator(".flash.ok")).to_contain_text("已保存为新版本")
    await expect(page.get_by_test_id("steps").locator("li.step")).to_have_count(2)
    versions = page.get_by_test_id("versions")
    await expect(versions.locator("li").first).to_contain_text("第 2 版")
    await expect(versions.locator("li").nth(1)).to_contain_text("1 件申请正在按此版本审批")
    await screenshot(page, "portal-flows-saved")

    await versions.get_by_role("link", name="第 1 版").click()
    await expect(page.get_by_test_id("version-steps").locator("tbody tr")).to_have_count(1)
    await page.goto(f"{portal.base}/portal/flows")
    await expect(page.get_by_test_id("flows").locator("tr", has_text=key)).to_contain_text(
        "分管领导审批"
    )
    await screenshot(page, "portal-flows-list")

    newer = await workflow.start(
        engine, me, business_key=key, form={"事由": "表扬呈签"}, title="表扬呈签（二）",
        now_ms=now_ms(),
    )  # fmt: skip
    assert [s["name"] for s in newer["steps"]] == ["科室负责人审批", "分管领导审批"]
    boss = await principal(engine, chief)
    for started in (older, newer):
        task = started["current_approvers"][0]["task_id"]
        await workflow.act(engine, boss, task, decision="approve", comment=None, now_ms=now_ms())
    old_view = await lists.instance_view(engine, me, older["id"], now_ms=now_ms())
    new_view = await lists.instance_view(engine, me, newer["id"], now_ms=now_ms())
    assert old_view["status"] == "approved"
    assert new_view["status"] == "running"
    assert [a["user_id"] for a in new_view["current_approvers"]] == [director.id]

    mine, applicant_page = await signed_in(browser, portal, applicant, page_errors)
    await applicant_page.goto(f"{portal.base}/portal/work/i/{newer['id']}")
    await expect(applicant_page.get_by_test_id("approvers")).to_contain_text(
        f"测试{director.username}"
    )
    await expect(applicant_page.locator("text=分管领导审批").first).to_be_visible()
    await context.close()
    await mine.close()


async def test_a_designer_only_page_refuses_others(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "综合科")
    clerk = await person(engine, office)
    key = await flow(engine, {"name": "审批", "approvers": [{"type": "department_head"}]})
    context, page = await signed_in(browser, portal, clerk, page_errors)
    for path in ("/portal/flows", f"/portal/flows/{key}", "/portal/work/supervise"):
        response = await page.goto(f"{portal.base}{path}")
        assert response is not None and response.status == 403
        await expect(page.get_by_test_id("refusal")).to_contain_text("没有权限")
    await context.close()


async def test_the_supervisor_urges_the_longest_waiting_and_reassigns_another(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "不动产登记窗口")
    applicant = await person(engine, office)
    approver = await person(engine, office)
    stand_in = await person(engine, office)
    supervisor = await person(
        engine, office, {"workflow.supervise": "dept", "workflow.manage": "dept"}
    )
    key = await flow(engine, {"name": "窗口负责人审批", "approvers": [user(approver)]})
    me = await principal(engine, applicant)
    late = await workflow.start(
        engine, me, business_key=key, form={"天数": 3}, title="请假申请（3天）",
        now_ms=now_ms() - 2 * DAY_MS - 3_600_000,
    )  # fmt: skip
    fresh = await workflow.start(
        engine, me, business_key=key, form={"天数": 1}, title="请假申请（1天）", now_ms=now_ms()
    )

    context, page = await signed_in(browser, portal, supervisor, page_errors)
    await page.goto(f"{portal.base}/portal/work/supervise")
    rows = page.get_by_test_id("supervise").locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("请假申请（3天）")
    await expect(rows.first.get_by_test_id("waited")).to_have_text("2 天 1 小时")
    await expect(rows.first).to_contain_text(f"测试{approver.username}")
    await expect(rows.first).to_contain_text("窗口负责人审批")
    await rows.first.get_by_role("button", name="催办").click()
    await expect(page.locator(".flash.ok")).to_have_text("已催办")
    await expect(rows.first).to_contain_text("已催办 1 次")

    second = page.locator(f"tr[data-instance='{fresh['id']}']")
    await second.locator("summary", has_text="改派").click()
    await second.locator("select[name=to_user]").select_option(stand_in.id)
    await screenshot(page, "portal-supervise-reassign")
    await second.get_by_role("button", name="确定改派").click()
    await expect(page.locator(".flash.ok")).to_have_text("已改派")
    await expect(page.locator(f"tr[data-instance='{fresh['id']}']")).to_contain_text(
        f"测试{stand_in.username}"
    )
    await screenshot(page, "portal-supervise")

    theirs, todo = await signed_in(browser, portal, approver, page_errors)
    await todo.goto(f"{portal.base}/portal/work/todo")
    first = todo.locator("tbody tr").first
    await expect(first).to_contain_text("请假申请（3天）")
    await expect(first.locator(".tag.bad")).to_have_text("催办")
    await expect(todo.locator("tbody tr")).to_have_count(1)  # the other one is the stand-in's
    await screenshot(todo, "portal-supervise-urged-todo")
    assert late["id"] != fresh["id"]
    await context.close()
    await theirs.close()
