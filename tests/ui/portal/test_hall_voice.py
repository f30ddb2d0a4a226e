"""A calling area's own voice and the import of the published setup, in Chromium: an
administrator sets one area's speed (bad values refused next to their fields), sees it among
the preview's changes and in the published setup, clears it back to the hall's; an edited
piece is put back to the published one by importing that version, after a confirmation that
says unpublished edits are overwritten; a user without `hall_config.import` gets no button
and is refused on the server."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.setups import newest_setup
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import person
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in
from tests.ui.portal.test_halls import RIGHTS, hall_of_site, save

pytestmark = pytest.mark.xdist_group("browser")


async def configured_hall(portal: CloudWorker, engine: AsyncEngine) -> tuple[str, str]:
    """A hall with two calling areas, a business type and a window, published as version 1."""
    hall, site = await hall_of_site(portal, engine, "北城政务服务中心", None)
    api = f"/api/halls/{hall}/config"
    for area_id, name in (("main", "一楼综合受理区"), ("annex", "二楼社保专区")):
        await portal.admin("POST", api + "/areas", json={"id": area_id, "name": name})
    await portal.admin("POST", api + "/categories", json={"id": "social", "name": "社保"})
    pension = {"id": "pension", "category": "social", "name": "养老保险", "prefix": "C"}
    await portal.admin("POST", api + "/business-types", json=pension)
    window = {"id": "w1", "area": "main", "number": "1", "business_types": ["pension"]}
    await portal.admin("POST", api + "/windows", json=window)
    await portal.admin("POST", api + "/publish")
    return hall, site


async def test_an_area_gets_its_own_voice_speed_published_and_cleared(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    hall, site = await configured_hall(portal, engine)
    admin = await person(engine, site, {f"hall_config.{r}": "dept" for r in (*RIGHTS, "import")})
    context, page = await signed_in(browser, portal, admin, page_errors)
    base = f"{portal.base}/portal/halls/{hall}"

    # both areas follow the hall's voice
    await page.goto(f"{base}/voice")
    main = page.locator("tr[data-area=main]")
    await expect(main).to_contain_text("沿用大厅")
    await expect(main.locator("[data-setting=speed]")).to_have_text("正常")
    await main.get_by_role("link", name="设置一楼综合受理区的语音").click()

    # bad values are refused next to their fields, what was chosen stays
    await expect(page.locator("[data-field=speed] .follows")).to_have_text("大厅设置：正常")
    await page.select_option("#f-speed", "fast")
    await page.fill("#f-repeat", "9")
    await page.fill("#f-templates-cmn", "请到{window}号窗口")
    await save(page)
    await expect(page.locator("[data-field=repeat] .error")).to_have_text("不能大于 5")
    await expect(page.locator("[data-field='templates.cmn'] .error")).to_have_text(
        "须包含 {number}（票号）"
    )
    await expect(page.locator("#f-speed")).to_have_value("fast")
    await screenshot(page, "portal-hall-voice-area-error")
    await page.fill("#f-repeat", "")
    await page.fill("#f-templates-cmn", "")
    await save(page)

    # the area's speed is its own, the rest still the hall's; the other area untouched
    await expect(page.locator(".flash.ok")).to_have_text("已保存")
    await expect(main.locator("[data-setting=speed] .own")).to_have_text("较快")
    await expect(main.locator("[data-setting=repeat] .follows")).to_have_text("2 遍")
    await expect(main).to_contain_text("单独设置")
    await expect(page.locator("tr[data-area=annex] [data-setting=speed] .follows")).to_have_text(
        "正常"
    )
    await screenshot(page, "portal-hall-voice-areas")
    voice = await portal.admin("GET", f"/api/halls/{hall}/config/voice")
    assert voice["areas"] == [
        {
            "area": "main",
            "languages": None,
            "speed": "fast",
            "repeat": None,
            "silent": None,
            "templates": {},
        }
    ]

    # the preview names the area among the voice's changes; publishing sends it to the hall
    await page.get_by_role("link", name="预览与发布").click()
    await expect(page.locator("[data-testid=changes] [data-section=voice]")).to_have_text(
        "修改 语音设置：区域语音（一楼综合受理区）"
    )
    await screenshot(page, "portal-hall-voice-preview")
    await page.click("#publish")
    await expect(page.locator(".flash.ok")).to_have_text("已发布为第 2 版，大厅将自动获取新配置")
    async with engine.connect() as conn:
        newest = await newest_setup(conn, hall)
    assert newest is not None and newest[0] == 2
    assert [(a["area"], a["speed"]) for a in newest[1]["voice"]["areas"]] == [("main", "fast")]

    # cleared, after a confirmation: the area follows the hall's voice again
    await page.get_by_role("link", name="语音", exact=True).click()
    await main.get_by_role("button", name="恢复沿用", exact=True).click()
    await expect(main.locator(".confirm .question")).to_have_text("清除该区域的单独设置？")
    await main.get_by_role("button", name="确定恢复沿用").click()
    await expect(page.locator(".flash.ok")).to_have_text("一楼综合受理区已恢复为沿用大厅的语音设置")
    await expect(main).to_contain_text("沿用大厅")
    await expect(main.locator("[data-setting=speed] .follows")).to_have_text("正常")
    assert (await portal.admin("GET", f"/api/halls/{hall}/config/voice"))["areas"] == []
    await context.close()


async def test_importing_the_published_version_puts_back_an_edited_piece(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    hall, site = await configured_hall(portal, engine)
    admin = await person(engine, site, {f"hall_config.{r}": "dept" for r in (*RIGHTS, "import")})
    context, page = await signed_in(browser, portal, admin, page_errors)
    base = f"{portal.base}/portal/halls/{hall}"

    # an unpublished edit: the area renamed in the portal
    await page.goto(f"{base}/areas/main/edit")
    await page.fill("#f-name", "临时受理区")
    await save(page)
    await page.get_by_role("link", name="预览与发布").click()
    await expect(page.get_by_test_id("changes")).to_contain_text("修改 叫号区域：临时受理区")

    # import asks first, saying what it overwrites; cancelling changes nothing
    panel = page.get_by_test_id("import")
    await panel.get_by_role("button", name="从已发布版本导入", exact=True).click()
    question = panel.locator(".confirm .question")
    await expect(question).to_have_text("将用第 1 版覆盖所有尚未发布的修改，且不能撤销。确定？")
    await screenshot(page, "portal-hall-import-confirm")
    await panel.get_by_role("button", name="取消").click()
    await expect(question).to_be_hidden()
    area = await portal.admin("GET", f"/api/halls/{hall}/config/areas/main")
    assert area["name"] == "临时受理区"

    await panel.get_by_role("button", name="从已发布版本导入", exact=True).click()
    await panel.get_by_role("button", name="确定从已发布版本导入").click()
    await expect(page.locator(".flash.ok")).to_have_text("已从第 1 版导入，未发布的修改已被覆盖")
    await expect(page.get_by_test_id("unchanged")).to_be_visible()
    await screenshot(page, "portal-hall-imported")
    area = await portal.admin("GET", f"/api/halls/{hall}/config/areas/main")
    assert area["name"] == "一楼综合受理区"
    async with engine.connect() as conn:
        newest = await newest_setup(conn, hall)
    assert newest is not None and newest[0] == 1  # importing publishes nothing
    await context.close()

    # without hall_config.import: no button, and the address refuses all the same
    publisher = await person(engine, site, {f"hall_config.{r}": "dept" for r in RIGHTS})
    context, page = await signed_in(browser, portal, publisher, page_errors)
    await page.goto(f"{base}/areas/main/edit")
    await page.fill("#f-name", "又改了名")
    await save(page)
    await page.goto(f"{base}/preview")
    await expect(page.locator("#publish")).to_be_visible()
    await expect(page.get_by_test_id("import")).to_have_count(0)
    answer = await page.request.post(
        f"{base}/import", form={"csrf_token": publisher.csrf}, max_redirects=0
    )
    assert answer.status == 403
    area = await portal.admin("GET", f"/api/halls/{hall}/config/areas/main")
    assert area["name"] == "又改了名"
    await context.close()
