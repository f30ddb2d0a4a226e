"""The central display (综合屏, §4.2.2) in headless Chromium against a real edge node: the
number being called stands out, the latest calls follow in order with their windows, every
business type shows who waits and who is next, at 1080p and 4K, and offline keeps the data."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.ui.conftest import Hall, open_page, screenshot

pytestmark = pytest.mark.xdist_group("browser")


def central_url(hall: Hall, area: str = "main", token: str = "display-main") -> str:
    return f"{hall.url}/screen/central/{area}?token={token}"


async def numbers(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in await page.locator(selector).all_inner_texts()]


async def test_calls_and_queues_show_live_and_stay_when_the_edge_is_away(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    staff = {w: await hall.login(w, n) for w, n in (("w1", "101"), ("w2", "102"), ("w4", "104"))}
    for business_type in ("license", "license", "license", "tax", "tax"):
        await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": business_type})
    page = await open_page(browser, central_url(hall), page_errors)
    await expect(page.locator("body")).to_have_attribute("data-live", "online")
    await expect(page.locator("#hall-name")).to_have_text("测试政务服务中心")
    await expect(page.locator("#area-name")).to_have_text("主厅")
    await expect(page.locator("#current-idle")).to_be_visible()
    license_row = page.locator('tr[data-service="license"]')
    await expect(license_row.locator(".count")).to_have_text("3")
    await expect(license_row.locator(".next")).to_have_text("A001")
    await screenshot(page, "central-waiting-1920x1080")

    await hall.call("POST", "/windows/w1/call-next", staff["w1"])
    await expect(page.locator("#current-number")).to_have_text("A001")
    await expect(page.locator("#current-to")).to_have_text("号到1号窗口")
    await expect(license_row.locator(".count")).to_have_text("2")
    await expect(license_row.locator(".next")).to_have_text("A002")
    for window in ("w2", "w4"):
        hall.clock.advance(20)
        await hall.call("POST", f"/windows/{window}/call-next", staff[window])
    await expect(page.locator("#current-number")).to_have_text("B002")
    await expect(page.locator("#current")).to_have_attribute("data-state", "new")
    # the latest calls follow, newest first, each with its window
    assert await numbers(page, "#latest td.number") == ["B001", "A001"]
    assert await numbers(page, "#latest td.to") == ["2号窗口", "1号窗口"]
    await expect(page.locator('tr[data-service="tax"] .count')).to_have_text("0")
    await screenshot(page, "central-calling-1920x1080")

    # readable from 10 m: the called number is at least a sixth of the screen's height
    size = await page.locator("#current-number").evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)"
    )
    assert size >= 1080 / 6.5
    await page.set_viewport_size({"width": 3840, "height": 2160})
    size_4k = await page.locator("#current-number").evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)"
    )
    assert size_4k == pytest.approx(size * 2, rel=0.02)
    await screenshot(page, "central-calling-3840x2160")
    await page.set_viewport_size({"width": 1920, "height": 1080})

    # a recall brings the ticket back to the top, highlighted again
    hall.clock.advance(20)
    await hall.call("POST", "/windows/w1/recall", staff["w1"])
    await expect(page.locator("#current-number")).to_have_text("A001")
    assert (await numbers(page, "#latest td.number"))[0] == "B002"

    await hall.stop()
    await expect(page.locator("#live-badge")).to_have_text("离线")
    await expect(page.locator("#current-number")).to_have_text("A001")
    await expect(license_row.locator(".count")).to_have_text("2")
    await screenshot(page, "central-offline-1920x1080")
    await hall.start()
    await expect(page.locator("body")).to_have_attribute("data-live", "online", timeout=15_000)
    await hall.call("POST", "/windows/w1/finish", staff["w1"], json={})
    staff_again = await hall.login("w3", "103")
    await hall.call("POST", "/tickets", "kiosk-annex", json={"business_type": "pension"})
    await hall.call("POST", "/windows/w3/call-next", staff_again)
    # another area's call is not this screen's
    hall.clock.advance(20)
    await hall.call("POST", "/windows/w1/call-next", staff["w1"])
    await expect(page.locator("#current-number")).to_have_text("A002")


async def test_each_area_has_its_own_screen_and_a_display_sees_only_its_own(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_page(
        browser, central_url(hall, "annex", "display-annex") + "&lang=en", page_errors
    )
    await expect(page.locator("body")).to_have_attribute("data-live", "online")
    await expect(page.locator("#area-name")).to_have_text("附厅")
    await expect(page.locator("#current-idle")).to_have_text("Please watch for your number")
    services = await page.locator("#services tr").evaluate_all(
        "rows => rows.map(r => r.dataset.service)"
    )
    assert services == ["pension", "card"]
    refused = await open_page(browser, central_url(hall, "main", "display-annex"), page_errors)
    await expect(refused.locator("#current-idle")).not_to_have_text("请留意叫号信息")
