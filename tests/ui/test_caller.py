"""The staff caller client (智慧政务客户端, §4.5, §5.1) in headless Chromium against a real edge
node: log in by password or by a staff card at the window, call, recall, finish and evaluate
through the one-ticket-one-evaluation gate, transfer, 补证补件, abandon, pause, shortcuts, skins,
lists, the offline state, and 剪刀截屏 to the window's Pad."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image
from playwright.async_api import Browser, Locator, Page, expect

from tests.ui.caller_helpers import (
    DESKTOP,
    SIDE_BAR,
    at_desk,
    caller_url,
    card_reader,
    change_rules,
    form_picture,
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


# ----------------------------------------------------------------------- card login


async def test_a_staff_card_read_at_the_window_logs_its_caller_pc_in_and_it_calls(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_caller(browser, caller_url(hall, "w1", "?token=caller-w1"), page_errors)
    pad_page = await open_caller(browser, caller_url(hall, "w1", "?token=pad-w1"), page_errors)
    await expect(page.locator("#login-view")).to_be_visible()
    async with card_reader(hall, "w1") as read:
        # a Pad's token may watch the window too, but the edge gives it no session
        async with pad_page.expect_response(lambda r: "/session" in r.url) as refused:
            read("C1")
        assert (await refused.value).status == 403
        await at_desk(page)
        await expect(page.locator("#result")).to_have_text("已刷卡登录：张敏")
        await expect(page.locator("#desk-staff-name")).to_have_text("张敏")
        await take(hall)
        await button(page, "next").click()
        await expect(page.locator("#current-number")).to_have_text("A001")
        events = [e["type"] for e in (await hall.call("GET", "/events", "admin"))["events"]]
        assert events.index("window.session") > events.index("window.login")
        await expect(pad_page.locator("#login-view")).to_be_visible()  # it stays put
        assert not await pad_page.evaluate("sessionStorage.getItem('smarthall.caller.session')")

        await button(page, "finish").click()
        await page.click("#btn-logout")
        await expect(page.locator("#login-error")).to_have_text("已退出登录")
        read("C2")  # the next shift's card: the page takes over again
        await at_desk(page)
        await expect(page.locator("#result")).to_have_text("已刷卡登录：李强")
        assert (await window(hall))["staff"]["staff_no"] == "102"

    # without a token the page is the password form it always was
    plain = await open_caller(browser, caller_url(hall, "w2"), page_errors)
    await log_in(plain, "101")
    await at_desk(plain)
    await expect(plain.locator("#desk-window-number")).to_have_text("2号窗口")


# ----------------------------------------------------------------------- 剪刀截屏


def reddish(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel[:3]
    return r > 170 and g < 110 and b < 110


async def drag(page: Page, canvas: Locator, points: list[tuple[float, float]]) -> None:
    """Press, move through `points` (fractions of the canvas), release."""
    box = await canvas.bounding_box()
    assert box is not None
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    await page.mouse.move(*at[0])
    await page.mouse.down()
    for x, y in at[1:]:
        await page.mouse.move(x, y, steps=4)
    await page.mouse.up()


async def pad_picture(hall: Hall, window_id: str = "w1") -> Image.Image | None:
    """The screenshot the window's Pad shows now, read as the Pad reads it (None: nothing)."""
    shot = (await hall.call("GET", f"/windows/{window_id}/pad", "pad-w1"))["screenshot"]
    if shot is None:
        return None
    assert hall.session is not None
    async with hall.session.get(
        f"{hall.url}/api/windows/{window_id}/screenshot/{shot['id']}",
        headers={"Authorization": "Bearer pad-w1"},
    ) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        return Image.open(io.BytesIO(await resp.read())).convert("RGB")


async def test_staff_mark_up_a_snip_show_it_on_the_pad_and_take_it_back(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_caller(browser, caller_url(hall), page_errors)
    await log_in(page, "101")
    await at_desk(page)
    await page.keyboard.press("Control+Shift+S")
    dialog = page.locator("#shot-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#shot-send")).to_be_disabled()
    await screenshot(page, "caller-screenshot-empty-1280x800")

    original = form_picture(800, 500)
    await page.set_input_files(
        "#shot-file", files=[{"name": "snip.png", "mimeType": "image/png", "buffer": original}]
    )
    canvas = page.locator("#shot-canvas")
    await expect(canvas).to_be_visible()
    await drag(page, canvas, [(0.3 + 0.04 * i, 0.5) for i in range(11)])  # pen: y = 250
    await drag(page, canvas, [(0.3, 0.85), (0.7, 0.85)])  # a slip …
    await page.keyboard.press("Control+Z")  # … undone
    await dialog.locator('[data-tool="rect"]').click()
    await drag(page, canvas, [(0.1, 0.2), (0.25, 0.35)])  # a box from (80, 100) to (200, 175)
    await dialog.get_by_text("15 s").click()
    await screenshot(page, "caller-screenshot-1280x800")
    await page.click("#shot-send")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#result")).to_have_text("截图已发送到 Pad，显示 15 秒")
    banner = page.locator("#shot-banner")
    await expect(banner).to_contain_text("Pad 正在展示截图（剩余")
    await screenshot(page, "caller-screenshot-sent-1280x800")

    shown = await pad_picture(hall)
    assert shown is not None and shown.size == (800, 500)
    plain = Image.open(io.BytesIO(original)).convert("RGB")
    stroke = [(x, 250) for x in range(260, 541, 20)]
    assert all(reddish(shown.getpixel(p)) for p in stroke), "the pen stroke is on the picture"
    assert not any(reddish(plain.getpixel(p)) for p in stroke)
    box_edge = [(80, y) for y in range(110, 170, 10)] + [(x, 100) for x in range(90, 200, 20)]
    assert all(reddish(shown.getpixel(p)) for p in box_edge), "the box is on the picture"
    undone = [(x, 425) for x in range(260, 541, 20)]
    assert [shown.getpixel(p) for p in undone] == [plain.getpixel(p) for p in undone]
    assert shown.getpixel((700, 460)) == plain.getpixel((700, 460))

    await page.click("#shot-banner-dismiss")
    await expect(banner).to_be_hidden()
    await expect(page.locator("#result")).to_have_text("截图已从 Pad 收回")
    assert await pad_picture(hall) is None
    events = [e["type"] for e in (await hall.call("GET", "/events", "admin"))["events"]]
    assert events.count("window.screenshot") == 1 and events.count("window.screenshot_cleared") == 1

    # Ctrl+V of a snip at the desk opens the dialog with it; the same picture can go again
    await page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const clipboard = new DataTransfer();
          clipboard.items.add(new File([bytes], "snip.png", { type: "image/png" }));
          document.body.dispatchEvent(
            new ClipboardEvent("paste", { clipboardData: clipboard, bubbles: true }),
          );
        }""",
        base64.b64encode(original).decode(),
    )
    await expect(dialog).to_be_visible()
    await expect(canvas).to_be_visible()
    await expect(page.locator("#shot-send")).to_be_enabled()
    await page.set_viewport_size(SIDE_BAR)
    await screenshot(page, "caller-screenshot-420x800")
    await page.click("#shot-send")
    await expect(page.locator("#result")).to_have_text("截图已发送到 Pad，显示 15 秒")  # as chosen
    again = await pad_picture(hall)
    assert again is not None and again.getpixel((300, 250)) == plain.getpixel((300, 250))
    await screenshot(page, "caller-screenshot-sent-420x800")
