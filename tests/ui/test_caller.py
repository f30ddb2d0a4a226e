"""The staff caller client (智慧政务客户端, §4.5, §5.1) in headless Chromium against a real edge
node: log in, call, recall, finish and evaluate through the one-ticket-one-evaluation gate,
transfer, 补证补件, abandon, pause, shortcuts, skins, lists, and the offline state."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.ui.caller_helpers import (
    DESKTOP,
    SIDE_BAR,
    at_desk,
    caller_url,
    change_rules,
    log_in,
    open_caller,
    take,
    waiting,
    window,
)
from tests.ui.conftest import Hall, screenshot

pytestmark = pytest.mark.xdist_group("browser")


def button(page: Page, action: str) -> Locator:
    return page.locator(f'.actions [data-action="{action}"]')


async def test_staff_log_in_with_a_wrong_then_the_right_password_and_a_double_click_calls_one(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_caller(browser, caller_url(hall), page_errors)
    await expect(page.locator("#login-window")).to_have_value("w1")
    await screenshot(page, "caller-login-1280x800")
    await log_in(page, "101", "wrong-password")
    await expect(page.locator("#login-error")).to_have_text("工号或密码错误")
    await log_in(page, "101")
    await at_desk(page)
    await expect(page.locator("#desk-window-number")).to_have_text("1号窗口")
    await expect(page.locator("#desk-staff-name")).to_have_text("张敏")
    await expect(button(page, "recall")).to_be_disabled()

    await take(hall)
    await take(hall)
    await expect(page.locator("#count-waiting")).to_have_text("2")
    await button(page, "next").dblclick()
    await expect(page.locator("#current-number")).to_have_text("A001")
    await expect(page.locator("#result")).to_have_text("已呼叫 A001")
    await expect(page.locator("#count-waiting")).to_have_text("1")
    assert await waiting(hall) == ["A002"]  # the second click called nobody
    await button(page, "next").click()  # a third, just after the answer: the same request
    await expect(page.locator("#result")).to_have_text("已呼叫 A001")
    assert await waiting(hall) == ["A002"]

    await button(page, "recall").click()
    await expect(page.locator("#result")).to_have_text("已重呼 A001")
    await expect(page.locator("#current-meta")).to_contain_text("第2次呼叫")
    await screenshot(page, "caller-serving-1280x800")
    await page.set_viewport_size(SIDE_BAR)
    await screenshot(page, "caller-serving-420x800")


async def test_finish_and_evaluate_closes_the_gate_until_the_citizen_evaluates_on_the_pad(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await change_rules(hall, evaluation_gate=True, evaluation_gate_seconds=60)
    page = await open_caller(browser, caller_url(hall), page_errors)
    await log_in(page, "101")
    await at_desk(page)
    await expect(button(page, "finish")).to_be_hidden()  # with 一号一评 every finish asks
    first = await take(hall)
    await take(hall)
    await page.keyboard.press("F1")
    await expect(page.locator("#current-number")).to_have_text("A001")
    await expect(button(page, "next")).to_be_disabled()  # finish first

    await button(page, "finish_evaluate").click()
    await expect(page.locator("#result")).to_have_text("A001 已办结，已请求评价")
    gate = page.locator("#gate")
    await expect(gate).to_be_visible()
    await expect(gate).to_contain_text("等待群众评价（剩余")
    await expect(gate).to_contain_text("秒）")
    await expect(button(page, "next")).to_be_disabled()
    await page.keyboard.press("F1")  # the shortcut respects the gate too
    assert await waiting(hall) == ["A002"]
    await screenshot(page, "caller-gate-1280x800")

    await hall.call(
        "POST", f"/tickets/{first['id']}/evaluation", "pad-w1", json={"level": "satisfied"}
    )
    await expect(gate).to_be_hidden()
    await expect(button(page, "next")).to_be_enabled()
    await page.click("#tab-called")
    await expect(page.locator('#list .item[data-number="A001"]')).to_contain_text("满意")
    await button(page, "next").click()
    await expect(page.locator("#current-number")).to_have_text("A002")


async def test_transfer_supplement_abandon_and_the_window_states(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_caller(browser, caller_url(hall), page_errors)
    await log_in(page, "101")
    await at_desk(page)
    await take(hall)
    await take(hall)
    await take(hall)
    await button(page, "next").click()
    await expect(page.locator("#current-number")).to_have_text("A001")

    await button(page, "transfer").click()
    dialog = page.locator("#transfer-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".choice")).to_have_count(1)  # the main area's other type
    await dialog.get_by_text("税务").click()
    await dialog.locator("#transfer-priority").check()
    await screenshot(page, "caller-transfer-1280x800")
    await dialog.locator("#transfer-confirm").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#result")).to_have_text("A001 已转移至 税务")
    status = await window(hall)
    assert status["current"] is None
    tickets = (await hall.call("GET", "/windows/w1/waiting", "admin"))["tickets"]
    moved = next(t for t in tickets if t["number"] == "A001")
    assert (moved["business_type"], moved["priority"]) == ("tax", True)
    await expect(page.locator('#list .item[data-number="A001"]')).to_contain_text("税务")

    await button(page, "next").click()
    await expect(page.locator("#current-number")).to_have_text("A002")
    await button(page, "supplement").click()
    code = page.locator("#supplement-code")
    await expect(code).to_have_text(re.compile(r"^\w{4,}$"))
    await screenshot(page, "caller-supplement-1280x800")
    await page.click("#supplement-ok")
    await expect(page.locator("#supplement-dialog")).to_be_hidden()
    await expect(page.locator("#current-number")).to_be_hidden()
    await expect(page.locator("#current-type")).to_have_text("暂无办理中的票号，按“下一位”呼叫")

    await button(page, "next").click()
    await expect(page.locator("#current-number")).to_have_text("A003")
    await page.keyboard.press("F8")
    await expect(page.locator("#abandon-dialog")).to_be_visible()
    await page.click("#abandon-confirm")
    await expect(page.locator("#result")).to_have_text("A003 已弃号")
    await page.click("#tab-called")
    called = page.locator("#list .item")
    await expect(called).to_have_count(3)
    await expect(page.locator('#list .item[data-number="A003"]')).to_contain_text("已弃号")
    await expect(page.locator('#list .item[data-number="A002"]')).to_contain_text("补证补件")
    await page.fill("#search", "A002")
    await expect(called).to_have_count(1)

    await button(page, "pause").click()
    await expect(page.locator("#window-status")).to_have_text("暂停服务")
    await expect(page.locator("#state-notice")).to_contain_text("窗口暂停服务中")
    await expect(button(page, "pause")).to_contain_text("恢复服务")
    assert (await window(hall))["status"] == "paused"
    await screenshot(page, "caller-paused-1280x800")
    await page.locator("#search").blur()
    await page.keyboard.press("F4")
    await expect(page.locator("#window-status")).to_have_text("服务中")
    await button(page, "backstage").click()
    await expect(page.locator("#window-status")).to_have_text("后台处理中")
    await expect(page.locator("#state-notice")).to_contain_text("后台处理中")
    await button(page, "backstage").click()
    await expect(page.locator("#window-status")).to_have_text("服务中")
    await button(page, "one_meter").click()
    await expect(page.locator("#result")).to_have_text("已提示一米线外等候")
    await page.keyboard.press("Space")  # calls the next ticket, not the focused 一米线 again
    await expect(page.locator("#current-number")).to_have_text("A001")
    await expect(page.locator("#result")).to_have_text("已呼叫 A001")


async def test_login_refusals_are_said_in_chinese_and_a_reload_keeps_the_session(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w2", "102")
    page = await open_caller(browser, caller_url(hall, "w2"), page_errors)
    await expect(page.locator("#login-window")).to_have_value("w2")
    await expect(page.locator("#login-window option:checked")).to_contain_text("（已登录）")
    await log_in(page, "101")
    await expect(page.locator("#login-error")).to_have_text("2号窗口：该窗口已有工作人员登录")
    await log_in(page, "102", window="w1")
    await expect(page.locator("#login-error")).to_have_text(
        "该工作人员已在2号窗口登录，请先在该窗口退出"
    )
    for _ in range(5):
        await log_in(page, "103", "guess", window="w1")
        await expect(page.locator("#login-error")).to_have_text("工号或密码错误")
        await expect(page.locator("#login-submit")).to_be_enabled()
    await log_in(page, "103", window="w1")
    await expect(page.locator("#login-error")).to_have_text("登录失败次数过多,请15分钟后再试")

    await log_in(page, "101", window="w1")
    await at_desk(page)
    assert page.url.endswith("/screen/caller/w1")  # the address follows the chosen window
    await page.reload()
    await at_desk(page)
    await expect(page.locator("#desk-staff-name")).to_have_text("张敏")
    await take(hall)
    await expect(page.locator("#count-waiting")).to_have_text("1")  # live after the reload

    await page.click("#search")
    await page.keyboard.press("F1")  # typing: no shortcut
    await page.keyboard.press("Space")
    await page.wait_for_timeout(200)
    assert (await window(hall))["current"] is None
    await page.locator("#search").fill("")
    await page.locator("#search").blur()
    await page.keyboard.press("Space")
    await expect(page.locator("#current-number")).to_have_text("A001")
    await page.keyboard.press("F2")
    await expect(page.locator("#result")).to_have_text("已重呼 A001")

    await page.click("#btn-logout")
    await expect(page.locator("#result")).to_have_text("请先结束当前业务")
    await button(page, "finish").click()
    await page.click("#btn-logout")
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#login-error")).to_have_text("已退出登录")
    assert (await window(hall))["status"] == "closed"
    await page.reload()
    await expect(page.locator("#login-view")).to_be_visible()


async def test_offline_keeps_the_last_ticket_and_disables_the_buttons_until_the_edge_is_back(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_caller(browser, caller_url(hall), page_errors)
    await log_in(page, "101")
    await at_desk(page)
    await take(hall)
    await button(page, "next").click()
    await expect(page.locator("#current-number")).to_have_text("A001")

    await hall.stop()
    await expect(page.locator("body")).to_have_attribute("data-live", "offline")
    await expect(page.locator("#live-badge")).to_have_text("离线")
    await expect(page.locator("#current-number")).to_have_text("A001")
    for action in ("next", "recall", "finish_evaluate", "pause"):
        await expect(button(page, action)).to_be_disabled()
    await screenshot(page, "caller-offline-1280x800")

    await hall.start()
    await expect(page.locator("body")).to_have_attribute("data-live", "online", timeout=15_000)
    await expect(button(page, "recall")).to_be_enabled()
    await button(page, "recall").click()
    await expect(page.locator("#result")).to_have_text("已重呼 A001")

    # the session ends elsewhere (another tab logs out): the client goes back to the login
    session = await page.evaluate("JSON.parse(sessionStorage.getItem('smarthall.caller.session'))")
    await hall.call("POST", "/windows/w1/finish", session["token"])
    await hall.call("POST", "/windows/w1/logout", session["token"])
    await expect(page.locator("#login-view")).to_be_visible()
    await expect(page.locator("#login-error")).to_have_text("登录已失效，请重新登录")


async def test_skins_are_remembered_and_the_auto_call_counts_down_in_a_side_bar(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await change_rules(hall, auto_call_seconds=45)
    page = await open_caller(browser, caller_url(hall), page_errors, **SIDE_BAR)
    await log_in(page, "101")
    await at_desk(page)
    banner = page.locator("#auto-call")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("秒后自动呼叫下一位")
    await take(hall)
    await take(hall)
    for skin in ("green", "red", "dark", "blue"):
        await page.locator("#desk-view .skin-select").select_option(skin)
        await expect(page.locator("body")).to_have_attribute("data-skin", skin)
        await screenshot(page, f"caller-skin-{skin}-420x800")
    await page.locator("#desk-view .skin-select").select_option("dark")
    await page.reload()
    await at_desk(page)
    await expect(page.locator("body")).to_have_attribute("data-skin", "dark")
    await page.set_viewport_size(DESKTOP)
    hall.clock.advance(45)  # the node's tick calls the idle window by itself
    await expect(page.locator("#current-number")).to_have_text("A001")
    await expect(page.locator("#result")).to_have_text("已自动呼叫 A001")
    await expect(banner).to_be_hidden()
    await screenshot(page, "caller-skin-dark-1280x800")
