"""The kiosk (取号机) in headless Chromium against a real edge node: a citizen taps a business
type and gets a number, printed or as a WeChat QR code; double taps make one ticket; pinyin
initials find a type; a capped or closed type is not offered; a booking checks in by phone; and a
stopped edge shows 离线 and stops tickets."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from edge.api.kiosk import ticket_qr_content
from tests.conftest import WORKDAY, hall_time
from tests.edge.hall import booking
from tests.ui.conftest import Hall, open_page
from tests.ui.kiosk_helpers import (
    LANDSCAPE,
    PORTRAIT,
    attach_printer,
    both_sizes,
    expected_errors,
    kiosk_url,
    qr_modules,
    svg_modules,
    tickets_of,
)

pytestmark = pytest.mark.xdist_group("browser")


async def open_kiosk(
    browser: Browser, hall: Hall, errors: list[str], size: dict[str, int] = PORTRAIT, **params: str
) -> Page:
    page = await open_page(browser, kiosk_url(hall, **params), errors, **size)
    await expect(page.locator("body")).to_have_attribute("data-live", "online")
    return page


async def test_a_citizen_taps_a_type_and_takes_a_printed_ticket(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    await attach_printer(hall)
    await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": "license"})
    page = await open_kiosk(browser, hall, page_errors)
    license_card = page.locator('.pane-categories .service[data-id="license"]')
    await expect(license_card.locator(".service-name")).to_have_text("证照变更")
    await expect(license_card.locator(".service-waiting b")).to_have_text("1")
    await expect(page.locator("#area-name")).to_have_text("主厅")
    # pension and card are served in the annex only: this kiosk does not offer them
    await expect(page.locator('.service[data-id="pension"]')).to_have_count(0)
    await both_sizes(page, "home")

    await license_card.click()
    await expect(page.locator("#confirm")).to_be_visible()
    await expect(page.locator("#confirm-name")).to_have_text("证照变更")
    await expect(page.locator("#confirm-waiting")).to_have_text("1")
    await expect(page.locator("#take-print")).to_be_visible()
    await page.locator("#green").click()
    await expect(page.locator("#green")).to_have_attribute("aria-pressed", "true")
    await page.locator("#sms").click()
    for digit in "13800138000":
        await page.locator(f'#phone-keys [data-key="{digit}"]').click()
    await expect(page.locator("#phone-value")).to_have_text("13800138000")
    await both_sizes(page, "confirm")

    await page.locator("#take-print").dblclick()  # an impatient double tap
    await expect(page.locator("#result")).to_be_visible()
    await expect(page.locator("#result-number")).to_have_text("A002")
    await expect(page.locator("#result-name")).to_have_text("证照变更")
    await expect(page.locator("#result-ahead")).to_have_text("前面还有 1 人等候")
    await expect(page.locator("#result-tag")).to_have_text("绿色通道 · 优先办理")
    await expect(page.locator(".take-away.printed")).to_contain_text("请取走下方打印的排队票据")
    await expect(page.locator(".take-away.paperless")).to_be_hidden()
    await both_sizes(page, "result")

    issued = await tickets_of(hall)
    assert [t["number"] for t in issued] == ["A001", "A002"]  # the double tap made one ticket
    assert issued[1]["kind"] == "green" and issued[1]["phone_tail"] == "8000"
    # the relay brings the new waiting count to the home screen
    await page.locator("#result-done").click()
    await expect(page.locator("#result")).to_be_hidden()
    await expect(license_card.locator(".service-waiting b")).to_have_text("2")
    await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": "license"})
    await expect(license_card.locator(".service-waiting b")).to_have_text("3")


async def test_without_paper_the_ticket_is_a_qr_code_that_leads_to_the_ticket(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    page = await open_kiosk(browser, hall, page_errors, size=LANDSCAPE)
    await page.locator('.pane-categories .service[data-id="license"]').click()
    # no printer attached to this kiosk: it offers the paperless ticket only
    await expect(page.locator("#printer-note")).to_be_visible()
    await expect(page.locator("#take-print")).to_be_hidden()
    await both_sizes(page, "confirm-paperless")
    await page.locator("#take-paperless").click()
    await expect(page.locator("#result-number")).to_have_text("A001")
    await expect(page.locator(".take-away.paperless")).to_contain_text("微信")
    qr = page.locator("#result-qr")
    await expect(qr).to_have_attribute("src", re.compile(r"^blob:"))
    shown = await qr.evaluate("img => img.complete && img.naturalWidth > 0")
    assert shown, "the QR image loaded"
    await both_sizes(page, "paperless")

    (ticket,) = await tickets_of(hall)
    assert await page.locator("#result").get_attribute("data-ticket") == ticket["id"]
    svg = await page.evaluate(
        """async (id) => {
            const token = new URLSearchParams(location.search).get("token");
            const r = await fetch(`/api/tickets/${id}/qr.svg`,
                                  {headers: {Authorization: `Bearer ${token}`}});
            return await r.text();
        }""",
        ticket["id"],
    )
    assert svg_modules(svg.encode()) == qr_modules(ticket_qr_content(ticket["id"]))

    await page.locator("#result-done").click()
    await expect(page.locator("#result")).to_be_hidden()


async def test_the_result_goes_back_home_by_itself_after_the_countdown(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    page = await open_kiosk(browser, hall, page_errors, idle="2")
    await page.locator('.pane-categories .service[data-id="license"]').click()
    await expect(page.locator("#idle")).to_contain_text("秒后返回首页")
    await page.locator("#take-paperless").click()
    await expect(page.locator("#result-countdown")).to_contain_text("（")
    await expect(page.locator("#result")).to_be_hidden(timeout=5000)
    await expect(page.locator("body")).to_have_attribute("data-tab", "categories")


async def test_pinyin_initials_on_the_screen_keyboard_find_a_type(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    page = await open_kiosk(browser, hall, page_errors)
    await page.locator('.tab[data-tab="search"]').click()
    for key in "SW":
        await page.locator(f'#search-keys [data-key="{key}"]').click()
    await expect(page.locator("#search-text")).to_have_text("SW")
    results = page.locator("#search-list .service")
    await expect(results).to_have_count(1)
    await expect(results.locator(".service-name")).to_have_text("税务")
    await both_sizes(page, "search")
    await page.locator('#search-keys [data-key="clear"]').click()
    for key in "ZZ":
        await page.locator(f'#search-keys [data-key="{key}"]').click()
    await expect(results.locator(".service-name")).to_have_text(["证照变更"])
    await page.locator('#search-keys [data-key="delete"]').click()
    await page.locator('#search-keys [data-key="Q"]').click()
    await expect(page.locator("#search-list .empty")).to_contain_text("没有找到")
    # the type found is taken from the results as from home
    await page.locator('#search-keys [data-key="clear"]').click()
    await page.locator('#search-keys [data-key="S"]').click()
    await page.locator('#search-list .service[data-id="tax"]').click()
    await expect(page.locator("#confirm-name")).to_have_text("税务")


async def test_a_type_that_closes_while_the_citizen_chooses_says_why(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    tax_staff = await hall.login("w4", "102")  # window 4 serves tax only
    for _ in range(2):
        await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": "tax"})
    page = await open_kiosk(browser, hall, page_errors)
    # no window serves license: the kiosk does not offer it at all (§4.1.2 case 1)
    license_card = page.locator('.pane-categories .service[data-id="license"]')
    tax = page.locator('.pane-categories .service[data-id="tax"]')
    await expect(tax.locator(".service-waiting b")).to_have_text("2")
    await expect(license_card).to_have_count(0)
    await tax.click()
    await expect(page.locator("#confirm-name")).to_have_text("税务")
    # someone else takes the day's last tax number (daily cap 3) meanwhile
    await hall.call("POST", "/tickets", "kiosk-main", json={"business_type": "tax"})
    await page.evaluate("document.getElementById('take-paperless').click()")
    await expect(page.locator("#notice")).to_be_visible()
    await expect(page.locator("#notice-text")).to_have_text("该业务今日受理数量已满")
    await expect(page.locator("#notice-sub")).to_have_text("业务列表已更新，请重新选择")
    await both_sizes(page, "notice")
    await page.locator("#notice-ok").click()
    await expect(tax).to_have_count(0)  # case 2: the day's cap is reached
    assert len(await tickets_of(hall)) == 3
    expected_errors(page_errors, "status of 409")

    # a 废号 frees a place under the cap; past 11:00 tax is outside its own hours (case 3)
    first = (await tickets_of(hall))[0]
    await hall.call("POST", f"/tickets/{first['id']}/void", "admin")
    await expect(tax).to_have_attribute("data-available", "true")
    hall.clock.set(hall_time(WORKDAY, 11, 30))
    await page.reload()
    await expect(page.locator("body")).to_have_attribute("data-live", "online")
    await expect(tax).to_have_count(0)
    await expect(page.locator(".pane-categories .empty")).to_have_text("暂无可办理的业务")

    # the help desk's view (?closed=show) shows every type, greyed, with the reason
    desk = await open_kiosk(browser, hall, page_errors, closed="show")
    desk_tax = desk.locator('.pane-categories .service[data-id="tax"]')
    await expect(desk_tax).to_be_disabled()
    await expect(desk_tax.locator(".service-reason")).to_have_text("不在受理时间")
    await expect(
        desk.locator('.pane-categories .service[data-id="license"] .service-reason')
    ).to_have_text("暂无窗口受理")
    await both_sizes(desk, "closed")

    # the last window closes: nothing is offered, and the kiosk says why
    await hall.call("POST", "/windows/w4/logout", tax_staff)
    await expect(page.locator(".pane-categories .empty-why")).to_have_text("暂无窗口受理")


async def test_a_booking_checks_in_by_phone_number_on_the_keypad(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    await hall.call(
        "POST",
        "/bookings",
        "admin",
        json={"bookings": [booking("482913", "license", WORKDAY, "10:00", "10:30",
                                   phone="13912345678", name="陈静")]},
    )  # fmt: skip
    page = await open_kiosk(browser, hall, page_errors)
    await page.locator('.tab[data-tab="checkin"]').click()
    await expect(page.locator('.mode[data-mode="phone"]')).to_have_attribute("aria-pressed", "true")
    submit = page.locator("#checkin-submit")
    for digit in "1391234567":
        await page.locator(f'#checkin-keys [data-key="{digit}"]').click()
    await expect(submit).to_be_disabled()  # ten digits are not a phone number
    await page.locator('#checkin-keys [data-key="8"]').click()
    await expect(page.locator("#checkin-value")).to_have_text("13912345678")
    await both_sizes(page, "checkin")
    await submit.click()
    await expect(page.locator("#result-title")).to_have_text("预约签到成功")
    await expect(page.locator("#result-number")).to_have_text("A001")
    await expect(page.locator("#result-tag")).to_have_text("预约号 · 到预约时段优先办理")
    (ticket,) = await tickets_of(hall)
    assert ticket["source"] == "booking" and ticket["booking_id"] == "bk-482913"

    # a second check-in of the same booking is refused with the queue's own words
    await page.locator("#result-done").click()
    await page.locator('.tab[data-tab="checkin"]').click()
    await page.locator('.mode[data-mode="code"]').click()
    for digit in "482913":
        await page.locator(f'#checkin-keys [data-key="{digit}"]').click()
    await submit.click()
    await expect(page.locator("#checkin-error")).to_have_text("该预约已取号")
    expected_errors(page_errors, "status of 409")


async def test_a_booking_qr_scanned_at_this_kiosk_shows_its_ticket_here_only(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    bookings = [
        booking(code, "license", WORKDAY, "10:00", "10:30", phone=f"1391234{code[-4:]}")
        for code in ("550001", "550002")
    ]
    await hall.call("POST", "/bookings", "admin", json={"bookings": bookings})
    here = await open_kiosk(browser, hall, page_errors)
    other = await open_kiosk(browser, hall, page_errors, token="kiosk-annex", area="annex")
    assert hall.node is not None and hall.node.engine is not None
    # what edge/devices/scanning.py does with a booking QR from the scanner beside kiosk-main
    hall.node.engine.check_in_booking(area="main", actor="kiosk:kiosk-main", code="550001")
    await expect(here.locator("#result-title")).to_have_text("预约签到成功")
    await expect(here.locator("#result-number")).to_have_text("A001")
    # a check-in at another kiosk of the area is that kiosk's to show
    hall.node.engine.check_in_booking(area="main", actor="kiosk:kiosk-2", code="550002")
    await expect(here.locator("#result-number")).to_have_text("A001")
    await expect(other.locator("#result")).to_be_hidden()


async def test_the_id_number_keypad_has_the_x_key(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    page = await open_kiosk(browser, hall, page_errors)
    await page.locator('.tab[data-tab="checkin"]').click()
    await page.locator('.mode[data-mode="id_number"]').click()
    for key in "11010519491231002X":
        await page.locator(f'#checkin-keys [data-key="{key}"]').click()
    await expect(page.locator("#checkin-value")).to_have_text("11010519491231002X")
    await expect(page.locator("#checkin-submit")).to_be_enabled()


async def test_a_stopped_edge_shows_offline_and_stops_tickets(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    page = await open_kiosk(browser, hall, page_errors)
    license_card = page.locator('.pane-categories .service[data-id="license"]')
    await expect(license_card).to_be_enabled()
    await hall.stop()
    await expect(page.locator("body")).to_have_attribute("data-live", "offline")
    await expect(page.locator("#offline-banner")).to_be_visible()
    await expect(page.locator("#offline-banner")).to_contain_text("离线")
    await expect(license_card).to_be_disabled()  # the last list stays, without tickets
    await expect(license_card.locator(".service-name")).to_have_text("证照变更")
    await both_sizes(page, "offline")
    await hall.start()
    await expect(page.locator("body")).to_have_attribute("data-live", "online", timeout=15_000)
    await expect(page.locator("#offline-banner")).to_be_hidden()
    await expect(license_card).to_be_enabled()


async def test_the_kiosk_speaks_english(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.login("w1", "101")
    page = await open_kiosk(browser, hall, page_errors, lang="en")
    await expect(page.locator('.tab[data-tab="checkin"]')).to_contain_text("Booking check-in")
    await expect(
        page.locator('.pane-categories .service[data-id="license"] .service-waiting small')
    ).to_have_text("waiting")


async def test_citizens_browse_by_department(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    from tests.ui.conftest import named_hall

    setup = named_hall()
    departments = {"license": "市场监督管理局", "tax": "税务局"}
    types = [
        t.model_copy(update={"department": departments.get(t.id, "")}) for t in setup.business_types
    ]
    new = setup.model_copy(update={"version": 2, "business_types": types})
    await hall.call("PUT", "/setup", "admin", json=new.model_dump(mode="json"))
    await hall.login("w1", "101")
    page = await open_kiosk(browser, hall, page_errors)
    await expect(page.locator("body")).to_have_attribute("data-departments", "some")
    await page.locator('.tab[data-tab="departments"]').click()
    chips = page.locator("#department-chips button")
    await expect(chips).to_have_text(["市场监督管理局", "税务局"])
    await expect(page.locator("#department-list .service")).to_have_count(1)
    await expect(page.locator('#department-list .service[data-id="license"]')).to_be_visible()
    await chips.nth(1).click()
    await expect(page.locator('#department-list .service[data-id="tax"]')).to_be_visible()
    await expect(page.locator('#department-list .service[data-id="license"]')).to_have_count(0)
    await both_sizes(page, "departments")
