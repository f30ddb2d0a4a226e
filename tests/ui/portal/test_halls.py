"""A hall's configuration authored in the portal, in Chromium: an administrator whose scope
reaches the hall sets it up piece by piece (bad values refused next to their fields, a piece
still used refused with its reason), orders a window's business types, previews the changes
and publishes the version the edge pulls; a user of another site neither lists the hall nor
reaches its pages."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.hallconfig.tables import hall_staff
from cloud.identity.org import create_unit
from cloud.identity.principal import Scope
from cloud.setups import newest_setup
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import now_ms, person, unit
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")

RIGHTS = ("view", "read", "create", "edit", "delete", "publish")


def grants(scope: Scope) -> dict[str, Scope]:
    return {f"hall_config.{r}": scope for r in RIGHTS}


async def hall_of_site(
    portal: CloudWorker, engine: AsyncEngine, name: str, parent: str | None
) -> tuple[str, str]:
    """A registered hall and the site unit (网点) it belongs to."""
    hall = f"hall-{secrets.token_hex(3)}"
    await portal.admin("POST", "/api/halls", json={"id": hall, "name": name})
    async with engine.begin() as conn:
        site = await create_unit(conn, kind="site", name=name, parent_id=parent,
                                 now_ms=now_ms(), hall=hall)  # fmt: skip
    return hall, site


async def save(page: Page) -> None:
    await page.click("form.form button[type=submit]:has-text('保存')")


async def test_an_administrator_sets_up_a_hall_previews_and_publishes_it(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    region = await unit(engine, "东城区", kind="region")
    hall, site = await hall_of_site(portal, engine, "东城政务服务中心", region)
    other_hall, other_site = await hall_of_site(portal, engine, "西城政务服务中心", None)
    admin = await person(engine, region, grants("dept_tree"))
    context, page = await signed_in(browser, portal, admin, page_errors)
    base = f"{portal.base}/portal/halls/{hall}"

    # the list: the hall of their region, not yet set up
    await page.goto(f"{portal.base}/portal/halls")
    row = page.locator(f"tr[data-hall='{hall}']")
    await expect(row).to_contain_text("尚未发布")
    await expect(row.get_by_test_id("state")).to_have_text("配置未完成")
    await expect(page.locator(f"tr[data-hall='{other_hall}']")).to_have_count(0)
    await row.get_by_role("link", name="配置", exact=True).click()

    # settings: a bad number is refused next to its field, what was typed stays
    await expect(page.locator("h1")).to_have_text("东城政务服务中心")
    await page.fill("#f-name", "东城区政务服务中心")
    await page.fill("#f-unit_name", "东城区行政审批局")
    await page.fill("#f-auto_call_seconds", "半分钟")
    await save(page)
    await expect(page.locator("[data-field=auto_call_seconds] .error")).to_have_text("应为整数")
    await expect(page.locator("#f-unit_name")).to_have_value("东城区行政审批局")
    await screenshot(page, "portal-halls-settings-error")
    await page.fill("#f-auto_call_seconds", "30")
    await save(page)
    await expect(page.locator(".flash.ok")).to_have_text("已保存")
    await expect(page.locator("h1")).to_have_text("东城区政务服务中心")

    # a calling area, a category, two business types (a bad prefix refused first)
    await page.get_by_role("link", name="叫号区域", exact=True).click()
    await page.get_by_role("link", name="新增叫号区域").click()
    await page.fill("#f-id", "main")
    await page.fill("#f-name", "一楼综合受理区")
    await save(page)
    await expect(page.locator(".flash.ok")).to_have_text("已新增")
    await page.get_by_role("link", name="业务分类").click()
    await page.get_by_role("link", name="新增业务大类").click()
    await page.fill("#f-id", "commerce")
    await page.fill("#f-name", "商事登记")
    await page.fill("#f-waiting_warning", "8")
    await save(page)
    category = page.locator("[data-category=commerce]")
    await category.get_by_role("link", name="新增业务类型").click()
    await expect(page.locator("#f-category")).to_have_value("commerce")
    await page.fill("#f-id", "license")
    await page.fill("#f-name", "证照变更")
    await page.fill("#f-prefix", "a1")
    await page.fill("#f-hint", "请携带营业执照原件")
    await page.fill("#f-daily_cap", "80")
    await page.click("[data-field=hours] .add-range")
    await page.locator("[data-field=hours] input[name='hours.start']").fill("09:00")
    await page.locator("[data-field=hours] input[name='hours.end']").fill("11:30")
    await save(page)
    await expect(page.locator("[data-field=prefix] .error")).to_have_text(
        "应为一到两个大写字母，如 A 或 TB"
    )
    await expect(page.locator("[data-field=hours] input[name='hours.end']")).to_have_value("11:30")
    await screenshot(page, "portal-halls-type-error")
    await page.fill("#f-prefix", "A")
    await save(page)
    await category.get_by_role("link", name="新增业务类型").click()
    await page.fill("#f-id", "tax")
    await page.fill("#f-name", "税务登记")
    await page.fill("#f-prefix", "B")
    await page.fill("#f-department", "区税务局")
    await save(page)
    await expect(category.locator("tbody tr")).to_have_count(2)
    await expect(category.locator("tr[data-id=license]")).to_contain_text("09:00–11:30")
    await screenshot(page, "portal-halls-categories")

    # a window serving both, then the second moved up
    await page.get_by_role("link", name="窗口", exact=True).click()
    await page.get_by_role("link", name="新增窗口").click()
    await page.fill("#f-id", "w1")
    await page.select_option("#f-area", "main")
    await page.fill("#f-number", "1")
    await page.fill("#f-name", "综合受理窗口")
    await page.check("[data-field=business_types] input[value=license]")
    await page.check("[data-field=business_types] input[value=tax]")
    await save(page)
    order = page.locator("#order-windows-w1 li .name")
    await expect(order).to_have_text(["证照变更", "税务登记"])
    await page.get_by_role("button", name="上移税务登记").click()
    await expect(order).to_have_text(["税务登记", "证照变更"])
    await page.reload()
    await expect(order).to_have_text(["税务登记", "证照变更"])
    await screenshot(page, "portal-halls-windows")

    # the area is still used by the window: its deletion is refused with the reason
    await page.get_by_role("link", name="叫号区域", exact=True).click()
    await page.get_by_role("button", name="删除一楼综合受理区").click()
    await page.locator("tr[data-id=main] button:has-text('确定')").click()
    await expect(page.locator("#notice")).to_contain_text("叫号区域 main 仍被窗口 w1 使用")
    await expect(page.locator("tr[data-id=main]")).to_have_count(1)
    await screenshot(page, "portal-halls-in-use")

    # a staff member with a password, never shown again
    await page.get_by_role("link", name="工作人员", exact=True).click()
    await page.get_by_role("link", name="新增工作人员").click()
    await page.fill("#f-id", "s-li")
    await page.fill("#f-staff_no", "1001")
    await page.fill("#f-name", "李强")
    await page.fill("#f-password", "Pass-1001")
    await page.fill("#f-card_no", "C1001")
    await page.fill("#f-title", "科员")
    await page.select_option("#f-post_type", "party")
    await page.check("[data-field=business_types] input[value=tax]")
    await save(page)
    await expect(page.locator("tr[data-id=s-li]")).to_contain_text("密码已设置")
    await screenshot(page, "portal-halls-staff")
    await page.locator("tr[data-id=s-li]").get_by_role("link", name="编辑").click()
    await expect(page.locator("#f-password")).to_have_value("")
    await expect(page.locator("[data-field=password]")).to_contain_text("已设置密码")
    assert "Pass-1001" not in await page.content()
    async with engine.connect() as conn:
        stored = await conn.scalar(
            sa.select(hall_staff.c.password_hash).where(hall_staff.c.id == "s-li")
        )
    assert stored is not None and stored.startswith("$argon2")

    # the voice: a call template that does not say the ticket number is refused
    await page.get_by_role("link", name="语音", exact=True).click()
    await page.fill("#f-templates-cmn", "请到{window}号窗口办理")
    await save(page)
    await expect(page.locator("[data-field='templates.cmn'] .error")).to_have_text(
        "须包含 {number}（票号）"
    )
    await screenshot(page, "portal-halls-voice-error")
    await page.fill("#f-templates-cmn", "请{number}号到{window}号窗口{service}")
    await page.fill("#f-repeat", "3")
    await save(page)
    await expect(page.locator(".flash.ok")).to_have_text("已保存")

    # the preview lists the changes; publishing stores version 1 with the chosen order
    await page.get_by_role("link", name="预览与发布").click()
    changes = page.get_by_test_id("changes")
    await expect(changes).to_contain_text("新增 叫号区域：一楼综合受理区")
    await expect(changes).to_contain_text("新增 业务小类：证照变更、税务登记")
    await expect(changes).to_contain_text("新增 工作人员：李强")
    await expect(page.get_by_test_id("windows")).to_contain_text("1. 税务登记　2. 证照变更")
    await screenshot(page, "portal-halls-preview")
    await page.click("#publish")
    await expect(page.locator(".flash.ok")).to_have_text("已发布为第 1 版，大厅将自动获取新配置")
    await expect(page.get_by_test_id("unchanged")).to_be_visible()
    async with engine.connect() as conn:
        newest = await newest_setup(conn, hall)
    assert newest is not None and newest[0] == 1
    setup = newest[1]
    assert [(w["id"], w["business_types"]) for w in setup["windows"]] == [
        ("w1", ["tax", "license"])
    ]
    assert (
        setup["hall"]["name"] == "东城区政务服务中心" and setup["hall"]["auto_call_seconds"] == 30
    )
    assert setup["staff"][0]["password_hash"].startswith("$argon2")
    assert setup["voice"]["repeat"] == 3
    await page.goto(f"{portal.base}/portal/halls")
    await expect(page.locator(f"tr[data-hall='{hall}']")).to_contain_text("第 1 版")
    await expect(page.locator(f"tr[data-hall='{hall}'] [data-testid=state]")).to_have_text(
        "已是最新"
    )
    await screenshot(page, "portal-halls-list")
    await context.close()

    # a user of another site: the hall is not in their list and not at its address
    outsider = await person(engine, other_site, grants("dept"))
    context, page = await signed_in(browser, portal, outsider, page_errors)
    await page.goto(f"{portal.base}/portal/halls")
    await expect(page.locator(f"tr[data-hall='{other_hall}']")).to_have_count(1)
    await expect(page.locator(f"tr[data-hall='{hall}']")).to_have_count(0)
    for address in (base, f"{base}/windows", f"{base}/preview", f"{base}/staff/s-li/edit"):
        response = await page.goto(address)
        assert response is not None and response.status == 404, address
    await expect(page.get_by_test_id("refusal")).to_contain_text("页面不存在")
    await context.close()
    assert site != other_site


async def test_a_viewer_sees_the_configuration_but_every_change_is_refused_on_the_server(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    hall, site = await hall_of_site(portal, engine, "南城政务服务中心", None)
    api = f"/api/halls/{hall}/config"
    await portal.admin("POST", api + "/areas", json={"id": "main", "name": "主厅"})
    await portal.admin("POST", api + "/categories", json={"id": "social", "name": "社保"})
    for type_id, name, prefix in (("pension", "养老保险", "C"), ("medical", "医疗保险", "D")):
        body = {"id": type_id, "category": "social", "name": name, "prefix": prefix}
        await portal.admin("POST", api + "/business-types", json=body)
    window = {"id": "w2", "area": "main", "number": "2", "business_types": ["pension", "medical"]}
    await portal.admin("POST", api + "/windows", json=window)
    viewer = await person(engine, site, {"hall_config.view": "dept", "hall_config.read": "dept"})
    context, page = await signed_in(browser, portal, viewer, page_errors)
    base = f"{portal.base}/portal/halls/{hall}"

    await page.goto(f"{base}/windows")
    await expect(page.locator("#order-windows-w2 li .name")).to_have_text(["养老保险", "医疗保险"])
    await expect(page.get_by_role("link", name="新增窗口")).to_have_count(0)
    await expect(page.get_by_role("button", name="上移医疗保险")).to_have_count(0)
    await expect(page.get_by_role("button", name="删除2号窗口")).to_have_count(0)
    await page.goto(base)
    await expect(page.locator("form.form")).to_contain_text("没有修改的权限")
    await page.goto(f"{base}/preview")
    await expect(page.locator("#publish")).to_have_count(0)
    await expect(page.get_by_test_id("changes")).to_contain_text("新增 窗口：w2")

    # the addresses of the buttons that are not shown are refused all the same
    response = await page.goto(f"{base}/windows/new")
    assert response is not None and response.status == 403
    token = {"csrf_token": viewer.csrf}
    for path, form in (
        ("/windows/w2/order", {**token, "type": "medical", "move": "up"}),
        ("/areas/new", {**token, "id": "annex", "name": "附厅"}),
        ("/windows/w2/delete", token),
        ("/publish", token),
        ("", {**token, "name": "改名"}),
    ):
        answer = await page.request.post(base + path, form=form, max_redirects=0)
        assert answer.status == 403, path
    async with engine.connect() as conn:
        assert await newest_setup(conn, hall) is None
    w2 = await portal.admin("GET", api + "/windows/w2")
    assert w2["business_types"] == ["pension", "medical"]
    await context.close()
