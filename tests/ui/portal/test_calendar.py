"""The halls' calendars (行事历) in the portal, in Chromium: the statutory holidays and adjusted
working days of 2025 on the year view, a local exception entered with its reason (refused
without one, the Chinese error beside the field), and only the halls within one's scope."""

from __future__ import annotations

import datetime as dt
import re
import secrets

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.calendars import year_view
from cloud.halls import register_hall
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import now_ms, person, unit
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")


def _kind(kind: str, working: str) -> re.Pattern[str]:
    """A day cell's classes: its kind and whether it is a working day (`on`/`off`)."""
    return re.compile(rf"\bd {kind} {working}\b")


async def _hall(engine: AsyncEngine, name: str) -> tuple[str, str]:
    """A registered hall and the site (网点) it belongs to."""
    hall = f"hall-{secrets.token_hex(3)}"
    await register_hall(engine, hall, name, now_ms())
    return hall, await unit(engine, name, kind="site")


async def _link(engine: AsyncEngine, site: str, hall: str) -> None:
    from cloud.identity.tables import org_units

    async with engine.begin() as conn:
        await conn.execute(org_units.update().where(org_units.c.id == site).values(hall=hall))


async def test_the_year_shows_national_day_and_a_local_exception_needs_a_reason(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    hall, site = await _hall(engine, "高新区政务服务中心")
    await _link(engine, site, hall)
    other, other_site = await _hall(engine, "经开区政务服务中心")
    await _link(engine, other_site, other)
    keeper = await person(engine, site, {"calendar.read": "dept", "calendar.edit": "dept"})

    context, page = await signed_in(browser, portal, keeper, page_errors)
    await page.goto(f"{portal.base}/portal/calendar?year=2025")
    chooser = page.get_by_test_id("hall")
    await expect(chooser.locator("option")).to_have_count(1)  # the other hall is not theirs
    await expect(chooser).to_have_value(hall)
    national = page.locator("[data-date='2025-10-01']")
    await expect(national).to_have_class(_kind("holiday", "off"))
    await expect(national).to_have_attribute("title", "2025-10-01 星期三 · 国庆节 · 休息")
    adjusted = page.locator("[data-date='2025-09-28']")
    await expect(adjusted).to_have_class(_kind("adjusted_workday", "on"))
    await expect(adjusted).to_have_attribute("title", "2025-09-28 星期日 · 国庆节调休上班 · 上班")
    await expect(page.locator("[data-month='10'] .notes")).to_contain_text("1–5 日 国庆节")
    await expect(page.locator("[data-month='9'] .notes")).to_contain_text("28 日 国庆节调休上班")
    await expect(page.get_by_test_id("no-statutory")).to_have_count(0)
    await screenshot(page, "portal-calendar-year")

    await page.click("[data-date='2025-11-12']")  # an ordinary Wednesday
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("2025-11-12 星期三 · 上班")
    await expect(dialog.locator("input[value=holiday]")).to_be_checked()
    await dialog.get_by_role("button", name="保存").click()
    await expect(page.get_by_test_id("reason-error")).to_have_text(
        "请填写原因：行事历的每次调整都须说明原因"
    )
    dialog = page.get_by_role("dialog")  # still open on that day
    await expect(dialog).to_contain_text("2025-11-12 星期三 · 上班")
    await screenshot(page, "portal-calendar-reason")
    await page.fill("#f-reason", "大厅设备检修，全天闭厅")
    await page.get_by_role("dialog").get_by_role("button", name="保存").click()
    await expect(page.locator(".flash.ok")).to_contain_text("行事历已更新")
    marked = page.locator("[data-date='2025-11-12']")
    await expect(marked).to_have_class(_kind("local", "off"))
    await expect(marked).to_have_attribute(
        "title", "2025-11-12 星期三 · 大厅设备检修，全天闭厅 · 休息"
    )
    await expect(page.locator("[data-month='11'] .notes")).to_contain_text("（本地休息）")
    await page.locator("[data-month='11']").scroll_into_view_if_needed()
    await screenshot(page, "portal-calendar-exception")
    day = next(
        d for d in (await year_view(engine, hall, 2025))["days"] if d["date"] == "2025-11-12"
    )
    assert day == {"date": "2025-11-12", "working": False, "kind": "local",
                   "name": "大厅设备检修，全天闭厅", "statutory": True}  # fmt: skip

    await page.click("[data-date='2025-11-12']")  # and back, again with a reason
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator("input[value=remove]")).to_be_checked()
    await page.fill("#f-reason", "检修改期")
    await dialog.get_by_role("button", name="保存").click()
    await expect(page.locator("[data-date='2025-11-12']")).to_have_class(_kind("workday", "on"))

    response = await page.goto(f"{portal.base}/portal/calendar?hall={other}")
    assert response is not None and response.status == 403
    beyond = dt.date.today().year + 5
    await page.goto(f"{portal.base}/portal/calendar?hall={hall}&year={beyond}")
    await expect(page.get_by_test_id("no-statutory")).to_contain_text("尚未收录")
    await context.close()


async def test_a_reader_sees_the_year_but_cannot_change_it(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    hall, site = await _hall(engine, "城东分厅")
    await _link(engine, site, hall)
    reader = await person(engine, site, {"calendar.read": "dept"})
    context, page = await signed_in(browser, portal, reader, page_errors)
    await page.goto(f"{portal.base}/portal/calendar?year=2025")
    await expect(page.locator("[data-date='2025-10-01']")).to_be_disabled()
    await expect(page.get_by_role("dialog")).to_have_count(0)
    # the server refuses the change itself, whatever the page shows
    token = await page.evaluate(
        "JSON.parse(document.body.getAttribute('hx-headers:inherited'))['X-CSRF-Token']"
    )
    answer = await page.request.post(
        f"{portal.base}/portal/calendar/{hall}/2025-11-12",
        form={"csrf_token": token, "action": "holiday", "reason": "试图闭厅"},
    )
    assert answer.status == 403
    await context.close()
