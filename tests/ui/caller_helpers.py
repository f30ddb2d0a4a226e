"""What the caller client's browser tests share: opening the page, logging in through the form
or by a staff card at the window's reader, taking tickets at the kiosk, changing the hall's rules
through the real setup API, and pictures to send to the Pad."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

from PIL import Image, ImageDraw
from playwright.async_api import Browser, Page, ViewportSize, expect

from edge.devices.cardlogin import CardLogin
from tests.edge.hall import PASSWORD
from tests.ui.conftest import Hall, named_hall

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
SIDE_BAR: ViewportSize = {"width": 420, "height": 800}


def caller_url(hall: Hall, window: str = "w1", query: str = "") -> str:
    return f"{hall.url}/screen/caller/{window}{query}"


async def open_caller(
    browser: Browser, url: str, errors: list[str], width: int = 1280, height: int = 800
) -> Page:
    """The caller page; like conftest's open_page, but a refused request (a wrong password, a
    refused call) is part of these tests, so Chromium's "Failed to load resource: 4xx" line is
    not an error here."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: _console(msg.type, msg.text, errors))
    await page.goto(url)
    return page


def _console(kind: str, text: str, errors: list[str]) -> None:
    refused = "the server responded with a status of 4" in text
    offline = "WebSocket connection" in text or "ERR_CONNECTION_REFUSED" in text
    if kind == "error" and not (refused or offline):
        errors.append(f"console: {text}")


async def log_in(page: Page, staff_no: str, password: str = PASSWORD, window: str = "") -> None:
    """Fill the login form and send it (the result is for the test to check)."""
    await expect(page.locator("#login-view")).to_be_visible()
    if window:
        await page.select_option("#login-window", window)
    await page.fill("#login-staff", staff_no)
    await page.fill("#login-password", password)
    await page.click("#login-submit")


async def at_desk(page: Page) -> None:
    """Logged in, and the live connection is up."""
    await expect(page.locator("#desk-view")).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-live", "online")


async def take(hall: Hall, business_type: str = "license", **more: Any) -> dict[str, Any]:
    body = await hall.call(
        "POST", "/tickets", "kiosk-main", json={"business_type": business_type, **more}
    )
    ticket: dict[str, Any] = body["ticket"]
    return ticket


async def change_rules(hall: Hall, **rules: Any) -> None:
    """A new configuration version with other hall rules (一号一评, auto-call), applied through
    the edge's setup API as the cloud would."""
    setup = named_hall()
    info = setup.hall.model_copy(update=rules)
    changed = setup.model_copy(update={"version": setup.version + 1, "hall": info})
    await hall.call("PUT", "/setup", "admin", json=changed.model_dump(mode="json"))


async def window(hall: Hall, window_id: str = "w1") -> dict[str, Any]:
    """The window's state as the edge has it (read with the admin token)."""
    status: dict[str, Any] = await hall.call("GET", f"/windows/{window_id}", "admin")
    return status


async def waiting(hall: Hall, window_id: str = "w1") -> list[str]:
    """The numbers waiting for the window, in calling order."""
    body = await hall.call("GET", f"/windows/{window_id}/waiting", "admin")
    return [t["number"] for t in body["tickets"]]


# ----------------------------------------------------------------------- card login


@contextlib.asynccontextmanager
async def card_reader(hall: Hall, window: str) -> AsyncIterator[Callable[[str], None]]:
    """A staff card reader registered at `window`, and the node's card login behind it; yields
    `read(card)`. The test node runs without MQTT, so a read card is committed as the device
    bus commits what a reader sends (`device.event`, type `card.read`); the rest is the node's
    own path: CardLogin logs the card's staff member in at the reader's window."""
    assert hall.node is not None and hall.node.engine is not None
    assert hall.node.registry is not None
    engine, registry = hall.node.engine, hall.node.registry
    device = f"reader-{window}"
    registry.register(engine.clock.now_ms(), device_id=device, kind="card_reader", window=window)
    login = asyncio.create_task(CardLogin(engine, registry).run())

    def read(card: str) -> None:
        now = engine.clock.now_ms()
        with engine.store.transaction(now) as tx:
            event = {"device": {"id": device}, "type": "card.read", "ts": now}
            tx.event("device.event", {**event, "data": {"card": card}})

    try:
        yield read
    finally:
        login.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await login


# ----------------------------------------------------------------------- 剪刀截屏


def form_picture(width: int = 800, height: int = 500) -> bytes:
    """A PNG like a snip of a form on the staff PC: white, grey lines, one blue box."""
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    for y in range(60, height - 40, 40):
        draw.line([(40, y), (width - 40, y)], fill=(200, 200, 200), width=2)
    draw.rectangle([(60, 20), (300, 44)], fill=(31, 95, 200))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()
