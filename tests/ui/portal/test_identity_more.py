"""More of the identity pages in Chromium: an entry renamed and another hidden on the menu page
changes what a user's menu shows; a role group hands its roles' grants to a user given it; a
unit moved under another parent and disabled; a unit that still has users is not deleted, and
says why; a user's password reset (shown once, the old one no longer signs in), their account
屏蔽 (their open session ends) and deleted."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.tables import menus, role_grants, roles
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import PASSWORD, person, solve_captcha, unit
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import VIEWPORT, signed_in, watch

pytestmark = pytest.mark.xdist_group("browser")


async def test_a_renamed_entry_and_a_hidden_one_change_what_a_users_menu_shows(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "政务服务管理办公室")
    clerk = await person(engine, office, {"org.view": "dept", "user.view": "dept"})
    admin = await person(engine, None, superuser=True)
    clerk_context, clerk_page = await signed_in(browser, portal, clerk, page_errors)
    await clerk_page.goto(f"{portal.base}/portal/")
    menu = clerk_page.locator("nav.side")
    await expect(menu).to_contain_text("组织机构")
    await expect(menu).to_contain_text("用户管理")

    context, page = await signed_in(browser, portal, admin, page_errors)
    await page.goto(f"{portal.base}/portal/menus")
    users_row = page.locator("tr[data-id='system.users']")
    await users_row.locator("input[name=title]").fill("人员管理")
    await users_row.locator("button:has-text('保存')").click()
    await expect(page.locator(".flash.ok")).to_have_text("已保存")
    await expect(users_row.locator("input[name=title]")).to_have_value("人员管理")
    org_row = page.locator("tr[data-id='system.org']")
    await org_row.locator("input[name=visible]").uncheck()
    await org_row.locator("button:has-text('保存')").click()
    await expect(page.locator(".flash.ok")).to_have_text("已保存")
    await expect(org_row.locator("input[name=visible]")).not_to_be_checked()
    await screenshot(page, "portal-identity-menus")

    # the clerk's next page follows: the new title, the hidden entry gone, its page still theirs
    await clerk_page.reload()
    await expect(menu).to_contain_text("人员管理")
    await expect(menu).not_to_contain_text("用户管理")
    await expect(menu).not_to_contain_text("组织机构")
    await clerk_page.click("nav.side >> text=人员管理")
    await expect(clerk_page.locator("h1")).to_have_text("用户管理")
    await clerk_page.goto(f"{portal.base}/portal/org")
    await expect(clerk_page.get_by_test_id("org-tree")).to_contain_text("政务服务管理办公室")
    await clerk_context.close()
    await context.close()
    async with engine.begin() as conn:  # the module's other tests see the menu as it was
        restore = menus.update().where(menus.c.id == "system.users").values(title="用户管理")
        await conn.execute(restore)
        await conn.execute(menus.update().where(menus.c.id == "system.org").values(visible=True))


async def test_a_user_given_a_role_group_gets_the_grants_of_its_roles(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "数据管理科")
    async with engine.begin() as conn:
        await conn.execute(roles.insert().values(
            id="auditors", code="auditors", name="日志查看", created_at=0))  # fmt: skip
        await conn.execute(role_grants.insert().values(
            role_id="auditors", permission="audit.read", scope="all"))  # fmt: skip
    reader = await person(engine, office, username="zhao.shuju")
    admin = await person(engine, None, superuser=True)
    reader_context, reader_page = await signed_in(browser, portal, reader, page_errors)
    await reader_page.goto(f"{portal.base}/portal/")
    await expect(reader_page.locator("nav.side")).not_to_contain_text("审计日志")

    # a group holding the role
    context, page = await signed_in(browser, portal, admin, page_errors)
    await page.goto(f"{portal.base}/portal/role-groups")
    await page.click("form[action='/portal/role-groups/new'] button[type=submit]")
    await expect(page.locator("[data-field=name] .error")).to_have_text("不能为空")
    await page.fill("#f-name", "审计组")
    await page.fill("#f-description", "查看全部审计日志")
    await page.check("form[action='/portal/role-groups/new'] label:has-text('日志查看') input")
    await page.click("form[action='/portal/role-groups/new'] button[type=submit]")
    await expect(page.locator(".flash.ok")).to_have_text("已新增")
    group = page.locator("tbody tr", has_text="审计组")
    await expect(group).to_contain_text("日志查看")
    await screenshot(page, "portal-identity-groups")

    # the user is given the group, not the role
    await page.goto(f"{portal.base}/portal/users/{reader.id}")
    await page.check("[data-field=groups] label:has-text('审计组') input")
    await page.click("button:has-text('保存角色')")
    await expect(page.locator(".flash.ok")).to_have_text("已保存")
    await expect(page.locator("[data-field=groups] label:has-text('审计组') input")).to_be_checked()
    await expect(
        page.locator("[data-field=roles] label:has-text('日志查看') input")
    ).not_to_be_checked()

    # what the user sees follows: the audit log in their menu, and its page open to them
    await reader_page.reload()
    await reader_page.click("nav.side >> text=审计日志")
    await expect(reader_page.locator("h1")).to_have_text("审计日志")
    await expect(reader_page.get_by_test_id("audit")).to_contain_text("审计组")
    await reader_context.close()
    await context.close()


async def test_a_unit_moves_under_another_parent_and_is_disabled(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    east = await unit(engine, "东城区", kind="region")
    west = await unit(engine, "西城区", kind="region")
    office = await unit(engine, "不动产登记科", parent=east)
    admin = await person(engine, None, superuser=True)
    context, page = await signed_in(browser, portal, admin, page_errors)
    await page.goto(f"{portal.base}/portal/org?unit={office}")
    await expect(page.get_by_test_id("unit")).to_contain_text("位置：东城区 / 不动产登记科")
    # neither the unit itself nor anything below it is offered as its new parent
    await expect(page.locator(f"#f-parent_id option[value='{office}']")).to_have_count(0)

    await page.select_option("#f-parent_id", west)
    await page.click("button:has-text('切换上级')")
    await expect(page.locator(".flash.ok")).to_have_text("已移动")
    await expect(page.get_by_test_id("unit")).to_contain_text("位置：西城区 / 不动产登记科")
    tree = page.get_by_test_id("org-tree")
    await expect(tree.locator(f"[data-unit='{west}'] [data-unit='{office}']")).to_have_count(1)
    await expect(tree.locator(f"[data-unit='{east}'] [data-unit='{office}']")).to_have_count(0)

    await page.get_by_test_id("unit").locator("button:has-text('停用')").click()
    await expect(page.locator(".flash")).to_have_text("已停用")
    await expect(page.get_by_test_id("unit").locator(".tag.warn")).to_have_text("已停用")
    await expect(tree.locator(f"[data-unit='{office}'] .node")).to_have_class(
        re.compile("disabled")
    )
    await expect(page.get_by_test_id("unit").locator("button:has-text('启用')")).to_be_visible()
    await screenshot(page, "portal-identity-org-moved")
    await context.close()


async def test_a_unit_that_still_has_users_is_not_deleted_and_says_why(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "公积金服务科")
    await person(engine, office)
    admin = await person(engine, None, superuser=True)
    context, page = await signed_in(browser, portal, admin, page_errors)
    await page.goto(f"{portal.base}/portal/org?unit={office}")
    chosen = page.get_by_test_id("unit")
    await chosen.locator("button:has-text('删除')").click()
    await chosen.locator("form.confirm button:has-text('确定')").click()
    await expect(page.get_by_test_id("form-error")).to_have_text(
        "该机构下还有下级机构、用户或角色，不能删除：还有用户"
    )
    await expect(page.get_by_test_id("org-tree")).to_contain_text("公积金服务科")
    await screenshot(page, "portal-identity-org-in-use")
    await page.goto(f"{portal.base}/portal/org?unit={office}")
    await expect(chosen).to_contain_text("公积金服务科")
    await context.close()


async def test_a_users_password_is_reset_their_account_disabled_and_then_deleted(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "市场监管窗口")
    clerk = await person(engine, office, {"sms_template.view": "dept"}, username="wang.shichang")
    admin = await person(engine, None, superuser=True)
    context, page = await signed_in(browser, portal, admin, page_errors)
    user_url = f"{portal.base}/portal/users/{clerk.id}"

    # a new password, shown once; the old one no longer signs in, the new one does
    await page.goto(user_url)
    await page.click("button:has-text('重置密码')")
    await page.click("form.confirm[action$='/password'] button:has-text('确定')")
    await expect(page.locator("h1")).to_have_text("密码已重置")
    password = await page.get_by_test_id("password").inner_text()
    assert password and password != PASSWORD
    await screenshot(page, "portal-identity-password-reset")
    await page.goto(user_url)
    await expect(page.locator("body")).not_to_contain_text(password)

    clerk_context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    clerk_page = await clerk_context.new_page()
    watch(clerk_page, page_errors)
    await _sign_in(clerk_page, portal, engine, clerk.username, PASSWORD)
    await expect(clerk_page.locator("#login-error")).to_have_text("用户名或密码错误")
    await _sign_in(clerk_page, portal, engine, clerk.username, password)
    await expect(clerk_page).to_have_url(f"{portal.base}/portal/")
    await expect(clerk_page.locator("nav.side")).to_contain_text("短信模板")

    # 屏蔽: the open session stops working at the clerk's next page, and signing in is refused
    await page.goto(user_url)
    await page.click("button:has-text('屏蔽账号')")
    await expect(page.locator(".flash")).to_have_text("已屏蔽")
    await expect(page.locator(".tag.bad")).to_have_text("已屏蔽")
    await page.locator(".danger-zone").scroll_into_view_if_needed()
    await screenshot(page, "portal-identity-user-disabled")
    await clerk_page.goto(f"{portal.base}/portal/account/password")
    await expect(clerk_page).to_have_url(re.compile(r"/portal/login\?next="))
    await _sign_in(clerk_page, portal, engine, clerk.username, password)
    await expect(clerk_page.locator("#login-error")).to_have_text("账号已停用，不能登录")
    await clerk_context.close()

    # deleted: gone from the list
    await page.goto(f"{portal.base}/portal/users?q=wang.shichang")
    await expect(page.get_by_test_id("total")).to_contain_text("共 1 人")
    await page.goto(user_url)
    await page.click("button:has-text('删除用户')")
    await page.click("form.confirm[action$='/delete'] button:has-text('确定')")
    await expect(page).to_have_url(re.compile(r"/portal/users\?msg=deleted"))
    await expect(page.locator(".flash.ok")).to_have_text("已删除")
    await page.goto(f"{portal.base}/portal/users?q=wang.shichang")
    await expect(page.get_by_test_id("total")).to_contain_text("共 0 人")
    await page.goto(user_url)
    await expect(page.get_by_test_id("refusal")).to_contain_text("用户不存在")
    await context.close()


async def _sign_in(page: Page, portal: CloudWorker, engine: AsyncEngine, who: str, pw: str) -> None:
    """Fill the sign-in page (a fresh one unless it is showing) and send it."""
    if "/portal/login" not in page.url:
        await page.goto(f"{portal.base}/portal/login")
    captcha_id = await page.locator("input[name=captcha_id]").input_value()
    await page.fill("input[name=username]", who)
    await page.fill("input[name=password]", pw)
    await page.fill("input[name=captcha_answer]", await solve_captcha(engine, captcha_id))
    await page.click("button[type=submit]")
