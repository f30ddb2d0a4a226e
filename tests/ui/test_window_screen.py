"""The window display (窗口屏) in headless Chromium against a real edge node: the call shows,
the pause shows, a stopped edge shows 离线 over the last number, and a restart comes back."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.ui.conftest import Hall, open_page, screenshot

pytestmark = pytest.mark.xdist_group("browser")

BAR = {"width": 1920, "height": 360}
FULL_HD = {"width": 1920, "height": 1080}


def display_url(hall: Hall, window: str = "w1", token: str = "display-main") -> str:
    return f"{hall.url}/screen/window/{window}?token={token}"


async def both_sizes(page: Page, name: str) -> None:
    """Screenshots at the monitor's size and the HDMI bar's."""
    await screenshot(page, f"window-{name}-1920x1080")
    await page.set_viewport_size(BAR)
    await screenshot(page, f"window-{name}-1920x360")
    await page.set_viewport_size(FULL_HD)


async def test_the_window_display_follows_its_window_and_survives_the_edge_restarting(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    staff = await hall.login("w1", "101")
    page = await open_page(browser, display_url(hall), page_errors)
    body = page.locator("body")
    await expect(body).to_have_attribute("data-live", "online")
    await expect(page.locator("#window-number")).to_have_text("1号窗口")
    await expect(page.locator("#window-name")).to_have_text("综合受理窗口")
    await expect(page.locator("#notice-title")).to_have_text("欢迎光临")
    await expect(page.locator("#lunar")).to_contain_text("农历")
    await both_sizes(page, "welcome")

    await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": "license"})
    await hall.call("POST", "/windows/w1/call-next", staff)
    await expect(page.locator("#ticket")).to_have_text("A001")
    await expect(page.locator("#call-to")).to_have_text("号到1号窗口办理")
    await both_sizes(page, "call")

    await hall.call("POST", "/windows/w1/pause", staff)
    await expect(page.locator("#notice-title")).to_have_text("暂停服务")
    await expect(page.locator("#ticket")).to_be_hidden()
    await both_sizes(page, "paused")
    await hall.call("POST", "/windows/w1/backstage", staff)
    await expect(page.locator("#notice-title")).to_have_text("后台处理中")
    await screenshot(page, "window-backstage-1920x1080")
    await hall.call("POST", "/windows/w1/resume", staff)
    await expect(page.locator("#ticket")).to_have_text("A001")

    await hall.stop()
    await expect(body).to_have_attribute("data-live", "offline")
    await expect(page.locator("#live-badge")).to_have_text("离线")
    await expect(page.locator("#live-badge")).to_be_visible()
    await expect(page.locator("#ticket")).to_have_text("A001")  # the last number stays
    await both_sizes(page, "offline")

    await hall.start()
    await expect(body).to_have_attribute("data-live", "online", timeout=15_000)
    await expect(page.locator("#live-badge")).to_be_hidden()
    await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": "license"})
    await hall.call("POST", "/windows/w1/call-next", staff)
    await expect(page.locator("#ticket")).to_have_text("A002")


async def test_the_window_display_speaks_english_and_says_when_its_token_is_refused(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_page(browser, display_url(hall) + "&lang=en", page_errors)
    await expect(page.locator("body")).to_have_attribute("data-live", "online")
    await expect(page.locator("#window-number")).to_have_text("Window 1")
    await expect(page.locator("#notice-title")).to_have_text("Window closed")
    refused = await open_page(browser, display_url(hall, token="wrong"), page_errors)
    await expect(refused.locator("body")).to_have_attribute("data-live", "unauthorized")
    await expect(refused.locator("#live-badge")).to_contain_text("未授权")
    other_area = await open_page(browser, display_url(hall, window="w3"), page_errors)
    await expect(other_area.locator("#notice-title")).to_have_text("错误")
    await expect(other_area.locator("#notice-sub")).to_have_text("无权执行此操作")
