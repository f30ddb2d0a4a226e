"""办事厅维护 in Chromium (§21.2.1): a superuser registers a hall under a new site and sees its
token once — not again on returning to the page; the hall is listed as never connected;
disabling it shows 已停用 on its page and in the list; a user whose scope does not reach the
hall does not see it."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.cloud.conftest import CloudWorker
from tests.cloud.people import person, unit
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")


async def test_a_superuser_registers_a_hall_sees_its_token_once_and_disables_it(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    region = await unit(engine, "东城区", kind="region")
    other = await unit(engine, "西城区", kind="region")
    root = await person(engine, None, superuser=True)
    context, page = await signed_in(browser, portal, root, page_errors)

    await page.goto(f"{portal.base}/portal/halls")
    await page.get_by_role("link", name="新增大厅").click()
    await expect(page.locator("h1")).to_have_text("新增大厅")

    # a bad id and a missing site name are refused next to their fields
    await page.fill("#f-id", "东城 1")
    await page.fill("#f-name", "东城政务服务中心")
    await page.get_by_role("button", name="注册大厅").click()
    await expect(page.locator("[data-field=id] .error")).to_contain_text("只能用字母")
    await expect(page.locator("[data-field=site_name] .error")).to_have_text("请填写新网点的名称")
    await expect(page.locator("#f-name")).to_have_value("东城政务服务中心")
    await screenshot(page, "portal-hall-admin-new-error")

    await page.fill("#f-id", "dongcheng-1")
    await page.fill("#f-site_name", "东城网点")
    await page.select_option("#f-parent_id", region)
    await page.get_by_role("button", name="注册大厅").click()
    await expect(page.locator("h1")).to_have_text("大厅已注册")
    token = page.get_by_test_id("token")
    await expect(token).to_contain_text("dongcheng-1.")
    await expect(page.get_by_test_id("edge-steps")).to_contain_text("secret_file")
    await screenshot(page, "portal-hall-admin-token")
    shown = await token.inner_text()

    # the token is nowhere once the answer is left: not on the form, the list or the hall
    for path in ("/portal/halls/new", "/portal/halls", "/portal/halls/dongcheng-1/admin"):
        await page.goto(f"{portal.base}{path}")
        assert shown not in await page.content(), path

    await page.goto(f"{portal.base}/portal/halls")
    row = page.locator("tr[data-hall='dongcheng-1']")
    await expect(row).to_contain_text("东城网点")
    await expect(row.get_by_test_id("sync")).to_have_text("从未连接")
    await screenshot(page, "portal-hall-admin-list")

    await row.get_by_role("link", name="维护").click()
    await expect(page.get_by_test_id("no-delete")).to_contain_text("不能删除")
    await page.get_by_role("button", name="停用大厅").click()
    await page.get_by_role("button", name="确定").click()
    await expect(page.locator(".flash.ok")).to_have_text("已停用")
    await expect(page.get_by_test_id("hall-state")).to_have_text("已停用")
    await screenshot(page, "portal-hall-admin-hall")
    await page.goto(f"{portal.base}/portal/halls")
    await expect(row.get_by_test_id("disabled")).to_have_text("已停用")
    await context.close()

    # a user of another region neither lists it nor reaches its page
    stranger = await person(engine, other, {"hall_config.view": "dept_tree",
                                            "hall.read": "dept_tree"})  # fmt: skip
    context, page = await signed_in(browser, portal, stranger, page_errors)
    await page.goto(f"{portal.base}/portal/halls")
    await expect(page.locator(".empty")).to_have_text("您的数据范围内没有大厅")
    await expect(page.get_by_role("link", name="新增大厅")).to_have_count(0)
    response = await page.goto(f"{portal.base}/portal/halls/dongcheng-1/admin")
    assert response is not None and response.status == 404
    await context.close()
