"""The identity pages in Chromium: an administrator builds a department, a role with a grant at
the scope 本部门 and a user holding it; that user signs in with the captcha and sees only
their menu entries and their department's rows; a department administrator who is not a
superuser is refused when granting more than they hold; the audit page shows the changes."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.audit import Origin
from cloud.identity.principal import load_principal
from cloud.resources.declare import RESOURCES
from cloud.resources.service import create_row
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import person, solve_captcha, unit
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import VIEWPORT, signed_in, watch

pytestmark = pytest.mark.xdist_group("browser")


async def _template(engine: AsyncEngine, writer_id: str, code: str, name: str) -> None:
    async with engine.begin() as conn:
        me = await load_principal(conn, writer_id)
        assert me is not None
        body = {"code": code, "name": name, "content": "您好，{name}", "enabled": "true"}
        await create_row(conn, me, RESOURCES["sms_template"], body, Origin(me.actor))


async def test_an_administrator_builds_a_department_role_and_user_who_sees_only_their_own(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    region = await unit(engine, "滨江区", kind="region")
    other = await unit(engine, "税务科", parent=region)
    admin = await person(engine, None, superuser=True, username="admin-zhang")
    context, page = await signed_in(browser, portal, admin, page_errors)

    # a new department under the region, refused first for a missing name
    await page.goto(f"{portal.base}/portal/org?unit={region}")
    await expect(page.get_by_test_id("org-tree")).to_contain_text("税务科")
    await page.click("form[action='/portal/org/new'] button")
    await expect(page.locator("[data-field=name] .error").last).to_have_text("不能为空")
    await page.select_option("#n-kind", "department")
    await page.fill("#n-name", "社保服务科")
    await page.fill("#n-code", "SB01")
    await page.click("form[action='/portal/org/new'] button")
    await expect(page.locator(".flash.ok")).to_have_text("已新增")
    await expect(page.get_by_test_id("unit")).to_contain_text("滨江区 / 社保服务科")
    department = page.url.split("unit=")[1].split("&")[0]
    await screenshot(page, "portal-identity-org")

    # a role with sms_template.view at 本部门
    await page.goto(f"{portal.base}/portal/roles")
    await page.fill("#f-code", "sms_viewer")
    await page.fill("#f-name", "短信模板查看")
    await page.click("button:has-text('新增')")
    await expect(page.locator(".flash.ok")).to_have_text("已新增")
    row = page.locator("tr[data-permission='sms_template.view']")
    await row.locator("input[type=checkbox]").check()
    await row.locator("select").select_option("dept")
    await page.click("button:has-text('保存授权')")
    await expect(page.locator(".flash.ok")).to_have_text("已保存")
    await expect(row.locator("input[type=checkbox]")).to_be_checked()
    await expect(row.locator("select")).to_have_value("dept")
    await screenshot(page, "portal-identity-role")
    role_url = page.url

    # a user of the new department holding the role; the initial password shown once
    await page.goto(f"{portal.base}/portal/users/new")
    await page.fill("#f-username", "bad name!")
    await page.fill("#f-name", "李社保")
    await page.click("button:has-text('保存')")
    await expect(page.locator("[data-field=username] .error")).to_contain_text("字母")
    await page.fill("#f-username", "li.shebao")
    await page.select_option("#f-department_id", department)
    await page.check(
        "input[name=roles] >> xpath=..//self::label[contains(., '短信模板查看')]/input"
    )
    await page.click("button:has-text('保存')")
    await expect(page.locator("h1")).to_have_text("用户已创建")
    password = await page.get_by_test_id("password").inner_text()
    await screenshot(page, "portal-identity-user-created")

    # the list filters by department and role
    await page.goto(f"{portal.base}/portal/users?department={region}&below=1")
    await expect(page.get_by_test_id("total")).to_contain_text("共 1 人")
    await expect(page.locator("#rows tbody")).to_contain_text("li.shebao")
    await screenshot(page, "portal-identity-users")
    await page.goto(role_url)
    await expect(page.get_by_test_id("holders")).to_contain_text("li.shebao")

    # one template in each department
    writer = await person(engine, department, {"sms_template.create": "dept"})
    stranger = await person(engine, other, {"sms_template.create": "dept"})
    await _template(engine, writer.id, "sb_notice", "社保办理提醒")
    await _template(engine, stranger.id, "tax_notice", "税务办理提醒")

    # the new user signs in through the page and sees their own menu and rows only
    user_context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    user_page = await user_context.new_page()
    watch(user_page, page_errors)
    await _sign_in(user_page, portal, engine, "li.shebao", password)
    await expect(user_page.get_by_test_id("user")).to_have_text("李社保 · 社保服务科")
    menu = user_page.locator("nav.side")
    await expect(menu).to_contain_text("短信模板")
    for entry in ("组织机构", "用户管理", "角色管理", "菜单管理", "审计日志"):
        await expect(menu).not_to_contain_text(entry)
    await user_page.click("nav.side >> text=短信模板")
    await expect(user_page.locator("#rows tbody")).to_contain_text("社保办理提醒")
    await expect(user_page.locator("#rows tbody")).not_to_contain_text("税务办理提醒")
    await expect(user_page.get_by_test_id("total")).to_contain_text("共 1 条")
    await screenshot(user_page, "portal-identity-user-view")
    # the identity pages are refused on the server, not only missing from the menu
    await user_page.goto(f"{portal.base}/portal/users")
    await expect(user_page.get_by_test_id("refusal")).to_contain_text("没有该操作的权限")
    await user_context.close()

    # the audit page shows the department, the role's grant and the user
    await page.goto(f"{portal.base}/portal/audit")
    log = page.get_by_test_id("audit")
    await expect(log).to_contain_text("社保服务科")
    await expect(log).to_contain_text("sms_template.view")
    await expect(log).to_contain_text("li.shebao")
    await page.select_option("select[name=resource]", "role")
    await page.click("#filters button[type=submit]")
    await expect(page).to_have_url(re.compile(r"resource=role"))
    await expect(log.locator(":scope > tbody > tr")).to_have_count(2)  # created, then its grants
    await screenshot(page, "portal-identity-audit")
    await context.close()


async def test_a_department_administrator_cannot_grant_more_than_they_hold(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "行政审批局")
    boss = await person(engine, office, {
        "role.view": "dept", "role.read": "dept", "role.edit": "dept", "role.create": "dept",
        "sms_template.view": "dept",
    })  # fmt: skip
    context, page = await signed_in(browser, portal, boss, page_errors)
    await page.goto(f"{portal.base}/portal/roles")
    await page.fill("#f-code", "clerks")
    await page.fill("#f-name", "窗口人员")
    await page.select_option("#f-department_id", office)
    await page.click("button:has-text('新增')")
    await expect(page.locator(".flash.ok")).to_have_text("已新增")
    role_url = page.url.split("?")[0]

    # within what they hold: saved
    row = page.locator("tr[data-permission='sms_template.view']")
    await row.locator("input[type=checkbox]").check()
    await row.locator("select").select_option("dept")
    await page.click("button:has-text('保存授权')")
    await expect(page.locator(".flash.ok")).to_have_text("已保存")

    # wider than they hold: refused, named, and nothing saved
    await row.locator("select").select_option("all")
    await page.click("button:has-text('保存授权')")
    refusal = page.get_by_test_id("grants-error")
    await expect(refusal).to_have_text(
        "不能授予自己没有的权限或更大的数据范围：短信模板：可看（全部）"
    )
    await screenshot(page, "portal-identity-escalation")
    await page.goto(role_url)
    await expect(row.locator("select")).to_have_value("dept")

    # a permission they lack altogether: refused too
    other = page.locator("tr[data-permission='user.delete']")
    await other.locator("input[type=checkbox]").check()
    await page.click("button:has-text('保存授权')")
    await expect(refusal).to_contain_text("用户：删除")
    await context.close()


async def _sign_in(page: Page, portal: CloudWorker, engine: AsyncEngine, who: str, pw: str) -> None:
    await page.goto(f"{portal.base}/portal/")
    await expect(page).to_have_url(re.compile(r"/portal/login"))
    captcha_id = await page.locator("input[name=captcha_id]").input_value()
    await page.fill("input[name=username]", who)
    await page.fill("input[name=password]", pw)
    await page.fill("input[name=captcha_answer]", await solve_captcha(engine, captcha_id))
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{portal.base}/portal/")
