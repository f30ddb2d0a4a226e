"""The window Pad (评价器) in headless Chromium against a real edge node: the work badge, the
called number, pause and one-meter notices, the 4-key evaluation stored once even when the
Pad's network drops mid-submit, the timeout back to the badge, and the staff's screenshot."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.async_api import Browser, ConsoleMessage, Page, Route, ViewportSize, expect

from tests.ui.conftest import Hall, named_hall, screenshot

pytestmark = pytest.mark.xdist_group("browser")

PAD: ViewportSize = {"width": 1280, "height": 800}
# what a Pad's own network troubles make Chromium log; the tests cause them on purpose
_EXPECTED_CONSOLE = ("WebSocket connection", "ERR_CONNECTION_REFUSED", "ERR_INTERNET_DISCONNECTED",
                     "ERR_FAILED", "evaluation refused")  # fmt: skip


async def open_pad(browser: Browser, hall: Hall, errors: list[str], window: str = "w1") -> Page:
    page = await browser.new_page(viewport=PAD)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

    def console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and not any(e in msg.text for e in _EXPECTED_CONSOLE):
            errors.append(f"console: {msg.text}")

    page.on("console", console)
    await page.goto(f"{hall.url}/screen/pad/{window}?token=pad-{window}")
    await expect(page.locator("body")).to_have_attribute("data-live", "online")
    return page


async def configure(hall: Hall, version: int, **changes: Any) -> None:
    """A new hall setup: staff 101 with a full badge, plus `changes` to the hall's settings."""
    setup = named_hall()
    staff = [
        s.model_copy(update={"title": "一级科员", "department": "市场监督管理局",
                             "post_type": "party", "stars": 5}) if s.staff_no == "101" else s
        for s in setup.staff
    ]  # fmt: skip
    staff = [s.model_copy(update=changes.pop("staff_101", {})) if s.staff_no == "101" else s
             for s in staff]  # fmt: skip
    changed = setup.model_copy(
        update={"version": version, "staff": staff, "hall": setup.hall.model_copy(update=changes)}
    )
    await hall.call("PUT", "/setup", "admin", data=json.dumps(changed.model_dump(mode="json")))


def portrait() -> bytes:
    """A plain badge portrait: a figure on a blue studio background."""
    image = Image.new("RGB", (300, 400), (74, 120, 176))
    draw = ImageDraw.Draw(image)
    draw.ellipse((95, 70, 205, 195), fill=(236, 200, 170))
    draw.pieslice((40, 210, 260, 520), 180, 360, fill=(40, 48, 70))
    draw.polygon([(130, 215), (170, 215), (150, 280)], fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def png(width: int = 900, height: int = 560) -> bytes:
    """A screenshot as staff would send it: a form with a red ring drawn around a field."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row in range(6):
        y = 60 + row * 75
        draw.rectangle((60, y, 840, y + 48), outline=(170, 170, 170), width=2)
        draw.rectangle((70, y + 14, 260, y + 34), fill=(200, 200, 200))
    draw.ellipse((40, 200, 870, 290), outline=(220, 30, 30), width=6)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def call_one(hall: Hall, staff: str) -> str:
    body = await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": "license"})
    await hall.call("POST", "/windows/w1/call-next", staff)
    ticket: str = body["ticket"]["id"]
    return ticket


async def evaluated(hall: Hall, ticket: str) -> Any:
    return (await hall.call("GET", f"/tickets/{ticket}", "admin"))["ticket"]["evaluation"]


async def evaluation_events(hall: Hall, ticket: str) -> list[dict[str, Any]]:
    events = (await hall.call("GET", "/events?limit=5000", "admin"))["events"]
    return [e for e in events if e["type"] == "ticket.evaluated" and e["ticket"]["id"] == ticket]


async def test_the_pad_shows_the_badge_the_called_number_and_the_windows_notices(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_pad(browser, hall, page_errors)
    body = page.locator("body")
    await expect(body).to_have_attribute("data-stage", "closed")
    await expect(page.locator(".stage-closed h1")).to_have_text("窗口暂未开放")
    await expect(page.locator("#window-number")).to_have_text("1号窗口")
    await screenshot(page, "pad-closed-1280x800")

    await configure(hall, 2)
    await hall.call("PUT", "/staff/s1/photo", "admin", data=portrait())
    staff = await hall.login("w1", "101")
    await expect(body).to_have_attribute("data-stage", "badge")
    await expect(page.locator("#staff-name")).to_have_text("张敏")
    await expect(page.locator("#staff-no")).to_have_text("101")
    await expect(page.locator("#staff-title")).to_have_text("一级科员")
    await expect(page.locator("#staff-department")).to_have_text("市场监督管理局")
    await expect(page.locator("#post")).to_have_text("党员岗")
    await expect(page.locator("#stars")).to_have_attribute("data-stars", "5")
    await expect(page.locator("#photo")).to_have_attribute("data-photo", "yes")
    await screenshot(page, "pad-badge-party-1280x800")
    for version, post, text in ((3, "leifeng", "雷锋岗"), (4, "ordinary", "普通岗")):
        await configure(hall, version, staff_101={"post_type": post, "stars": 3})
        await expect(page.locator("#post")).to_have_text(text)
        await expect(body).to_have_attribute("data-post", post)
        await expect(page.locator("#stars")).to_have_attribute("data-stars", "3")
        await screenshot(page, f"pad-badge-{post}-1280x800")

    await call_one(hall, staff)
    await expect(body).to_have_attribute("data-stage", "called")
    await expect(page.locator("#called-number")).to_have_text("A001")
    await expect(page.locator(".stage-called")).to_have_text(
        re.compile(r"\s*请\s*A001\s*号办理\s*")
    )
    await screenshot(page, "pad-called-1280x800")

    async with page.expect_response(lambda r: "/prompts/paused.wav" in r.url) as prompt:
        await hall.call("POST", "/windows/w1/pause", staff)
    response = await prompt.value
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    await expect(body).to_have_attribute("data-stage", "paused")
    await expect(page.locator(".stage-paused h1")).to_have_text("暂停服务")
    # played, or ":blocked" where Chromium runs without --autoplay-policy=no-user-gesture-required
    await expect(body).to_have_attribute("data-sound", re.compile("^paused"))
    await screenshot(page, "pad-paused-1280x800")
    await hall.call("POST", "/windows/w1/backstage", staff)
    await expect(page.locator(".stage-backstage h1")).to_have_text("后台处理中")
    await screenshot(page, "pad-backstage-1280x800")
    await hall.call("POST", "/windows/w1/resume", staff)
    await expect(body).to_have_attribute("data-stage", "badge")  # the call was cleared by pausing


async def test_the_one_meter_prompt_shows_for_a_few_seconds_and_ends_the_called_number(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    staff = await hall.login("w1", "101")
    page = await open_pad(browser, hall, page_errors)
    body = page.locator("body")
    await call_one(hall, staff)
    await expect(body).to_have_attribute("data-stage", "called")
    async with page.expect_response(lambda r: "/prompts/one_meter_line.wav" in r.url) as prompt:
        await hall.call("POST", "/windows/w1/one-meter-line", staff)
    assert (await prompt.value).headers["content-type"] == "audio/wav"
    await expect(body).to_have_attribute("data-stage", "one-meter")
    await expect(page.locator(".stage-one-meter h1")).to_have_text("请在一米线外等候")
    await screenshot(page, "pad-one-meter-1280x800")
    await expect(body).to_have_attribute("data-stage", "badge", timeout=10_000)


async def test_the_citizen_taps_satisfied_sees_thanks_and_the_badge_after_3_seconds(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await configure(hall, 2)
    staff = await hall.login("w1", "101")
    page = await open_pad(browser, hall, page_errors)
    body = page.locator("body")
    ticket = await call_one(hall, staff)
    await expect(page.locator("#called-number")).to_have_text("A001")
    await hall.call("POST", "/windows/w1/finish", staff, json={"request_evaluation": True})
    await expect(body).to_have_attribute("data-stage", "evaluate")
    keys = page.locator(".key")
    await expect(keys).to_have_text(["非常满意", "满意", "基本满意", "不满意"])
    await expect(page.locator("#evaluate-sub")).to_contain_text("A001")
    await screenshot(page, "pad-evaluate-1280x800")

    await page.locator(".key", has_text="满意").nth(1).click()
    await expect(body).to_have_attribute("data-stage", "thanks")
    await expect(page.locator(".stage-thanks h1")).to_have_text("感谢您的评价")
    await screenshot(page, "pad-thanks-1280x800")
    await expect(body).to_have_attribute("data-pending", "0")
    assert await evaluated(hall, ticket) == "satisfied"
    await expect(body).to_have_attribute("data-stage", "badge", timeout=4_500)
    assert len(await evaluation_events(hall, ticket)) == 1


async def test_the_evaluation_is_stored_once_when_the_network_drops_mid_submit(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    staff = await hall.login("w1", "101")
    page = await open_pad(browser, hall, page_errors)
    body = page.locator("body")
    ticket = await call_one(hall, staff)
    await hall.call("POST", "/windows/w1/finish", staff, json={"request_evaluation": True})
    await expect(body).to_have_attribute("data-stage", "evaluate")

    reached: list[str] = []

    async def lost_answer(route: Route) -> None:
        # the evaluation reaches the edge, then the Pad's network drops before the answer
        await route.fetch()
        reached.append(route.request.headers["idempotency-key"])
        await page.context.set_offline(True)
        await route.abort("internetdisconnected")

    await page.route("**/evaluation", lost_answer)
    await page.locator(".key", has_text="非常满意").click()
    await expect(body).to_have_attribute("data-stage", "thanks")
    await expect(body).to_have_attribute("data-pending", "1")
    assert reached, "the first attempt reached the edge"
    assert await evaluated(hall, ticket) == "very_satisfied", "and was stored there"
    await expect(body).to_have_attribute("data-stage", "badge", timeout=4_500)
    await expect(body).to_have_attribute("data-pending", "1")  # the Pad does not know yet

    await page.unroute("**/evaluation")
    async with page.expect_response("**/evaluation", timeout=10_000) as resend:
        await page.context.set_offline(False)
    answer = await resend.value
    assert answer.status == 200 and answer.request.headers["idempotency-key"] == reached[0]
    await expect(body).to_have_attribute("data-pending", "0")
    assert len(await evaluation_events(hall, ticket)) == 1, "stored once"

    await hall.stop()  # the edge is unreachable: 离线 over the last badge
    await expect(body).to_have_attribute("data-live", "offline", timeout=10_000)
    await expect(page.locator("#live-badge")).to_have_text("离线")
    await expect(page.locator("#staff-name")).to_have_text("张敏")
    await screenshot(page, "pad-offline-1280x800")
    await hall.start()
    await expect(body).to_have_attribute("data-live", "online", timeout=15_000)


async def test_nobody_evaluates_and_the_pad_returns_to_the_badge_after_the_halls_wait(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    # long enough that a busy machine still sees the keys before they go
    await configure(hall, 2, evaluation_gate_seconds=4)
    staff = await hall.login("w1", "101")
    page = await open_pad(browser, hall, page_errors)
    body = page.locator("body")
    ticket = await call_one(hall, staff)
    await hall.call("POST", "/windows/w1/finish", staff, json={"request_evaluation": True})
    await expect(body).to_have_attribute("data-stage", "evaluate")
    await expect(body).to_have_attribute("data-stage", "badge", timeout=8_000)
    assert await evaluated(hall, ticket) is None
    await page.wait_for_timeout(300)
    await expect(body).to_have_attribute("data-stage", "badge")  # not asked again


async def test_the_staffs_screenshot_shows_on_top_until_dismissed_or_timed_out(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await configure(hall, 2)
    staff = await hall.login("w1", "101")
    page = await open_pad(browser, hall, page_errors)
    body = page.locator("body")
    await expect(body).to_have_attribute("data-stage", "badge")
    shot = (await hall.call("POST", "/windows/w1/screenshot", staff, data=png()))["screenshot"]
    await expect(body).to_have_attribute("data-screenshot", "on")
    await expect(page.locator("#screenshot")).to_have_attribute("data-id", shot["id"])
    await expect(page.locator("#screenshot-img")).to_be_visible()
    await page.wait_for_function("document.getElementById('screenshot-img').naturalWidth > 0")
    await screenshot(page, "pad-screenshot-1280x800")
    await hall.call("DELETE", "/windows/w1/screenshot", staff)
    await expect(body).to_have_attribute("data-screenshot", "off")

    await hall.call("POST", "/windows/w1/screenshot?seconds=1", staff, data=png(400, 300))
    await expect(body).to_have_attribute("data-screenshot", "on")
    await expect(body).to_have_attribute("data-screenshot", "off", timeout=4_000)
