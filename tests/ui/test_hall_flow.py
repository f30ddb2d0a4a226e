"""A citizen's whole visit through the five screens at once, in headless Chromium against one
real edge node: a ticket taken at the kiosk is called from the caller client, shows on the
window display, the central display and the Pad, is evaluated on the Pad, and the evaluation
is stored; the staff client sees the gate close and open."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.ui.caller_helpers import at_desk, caller_url, log_in, open_caller
from tests.ui.conftest import Hall, open_page, screenshot
from tests.ui.test_pad import open_pad

pytestmark = pytest.mark.xdist_group("browser")


async def screens(hall: Hall, browser: Browser, errors: list[str]) -> dict[str, Page]:
    pages = {
        "central": await open_page(
            browser, f"{hall.url}/screen/central/main?token=display-main", errors
        ),
        "window": await open_page(
            browser, f"{hall.url}/screen/window/w1?token=display-main", errors, height=360
        ),
        "pad": await open_pad(browser, hall, errors),
        "caller": await open_caller(browser, caller_url(hall), errors),
        "kiosk": await open_page(
            browser, f"{hall.url}/screen/kiosk/main?token=kiosk-main", errors, 1080, 1920
        ),
    }
    for name, page in pages.items():
        if name != "caller":  # the caller client connects once staff log in
            await expect(page.locator("body")).to_have_attribute("data-live", "online")
    return pages


async def test_a_visit_from_the_kiosk_to_the_evaluation_on_every_screen(
    hall: Hall, browser: Browser, page_errors: list[str]
) -> None:
    await hall.call("PUT", "/setup", "admin", json=gated_setup(hall))
    pages = await screens(hall, browser, page_errors)
    caller, kiosk, pad = pages["caller"], pages["kiosk"], pages["pad"]

    await log_in(caller, "101")
    await at_desk(caller)
    await expect(pad.locator("body")).to_have_attribute("data-stage", "badge")

    # the kiosk (no printer attached: a paperless ticket, a QR code to scan)
    card = kiosk.locator('.pane-categories .service[data-id="license"]')
    await expect(card.locator(".service-waiting b")).to_have_text("0")
    await card.click()
    await kiosk.locator("#take-paperless").click()
    await expect(kiosk.locator("#result-number")).to_have_text("A001")
    await expect(kiosk.locator("#result-qr")).to_be_visible()
    await expect(pages["central"].locator('tr[data-service="license"] .count')).to_have_text("1")

    # the caller client calls it: every screen shows it
    await caller.locator('.actions [data-action="next"]').click()
    await expect(caller.locator("#current-number")).to_have_text("A001")
    await expect(pages["window"].locator("#ticket")).to_have_text("A001")
    await expect(pages["central"].locator("#current-number")).to_have_text("A001")
    await expect(pages["central"].locator("#current-to")).to_have_text("号到1号窗口")
    await expect(pad.locator("#called-number")).to_have_text("A001")
    await expect(pages["central"].locator('tr[data-service="license"] .count')).to_have_text("0")
    for name, page in pages.items():
        await screenshot(page, f"flow-called-{name}")

    # finish and ask for the evaluation: the Pad asks, the caller waits at the gate
    await caller.locator('.actions [data-action="finish_evaluate"]').click()
    await expect(pad.locator("body")).to_have_attribute("data-stage", "evaluate")
    await expect(caller.locator('.actions [data-action="next"]')).to_be_disabled()
    await expect(caller.locator("body")).to_contain_text("等待群众评价")
    await pad.locator(".key", has_text="非常满意").click()
    await expect(pad.locator("body")).to_have_attribute("data-stage", "thanks")
    await expect(caller.locator('.actions [data-action="next"]')).to_be_enabled()
    ticket = (await hall.call("GET", "/windows/w1/called", "admin"))["tickets"][0]
    stored = await hall.call("GET", f"/tickets/{ticket['id']}", "admin")
    assert stored["ticket"]["number"] == "A001"
    assert stored["ticket"]["evaluation"] == "very_satisfied"
    assert stored["ticket"]["status"] == "finished"
    await expect(pad.locator("body")).to_have_attribute("data-stage", "badge", timeout=4_500)


def gated_setup(hall: Hall) -> dict[str, object]:
    """The test hall, version 2, with one-ticket-one-evaluation (一号一评) on."""
    from tests.ui.conftest import named_hall

    setup = named_hall()
    hall_info = setup.hall.model_copy(update={"evaluation_gate": True})
    return setup.model_copy(update={"version": 2, "hall": hall_info}).model_dump(mode="json")
