"""Fixtures for the screens: a real edge node on loopback and Debian's Chromium under Playwright.

Playwright's own driver runs the browser; no browser is ever downloaded (`executable_path`).
Screenshots go to tests/screenshots/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from edge.clock import ManualClock
from edge.config import ApiClient, ApiConfig, EdgeConfig, MqttConfig, NodeConfig, token_digest
from edge.node import EdgeNode
from sync.hallsetup import HallSetup
from tests.conftest import WORKDAY, free_port, hall_time
from tests.edge.hall import PASSWORD, small_hall

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
WINDOW_NAMES = {"w1": "综合受理窗口", "w2": "税务窗口", "w3": "社保窗口", "w4": "税务专窗"}
TOKENS = {
    name: ApiClient(id=name, kind=kind, area=area, window=window, token_sha256=token_digest(name))  # type: ignore[arg-type]
    for name, kind, area, window in (
        ("display-main", "display", "main", ""),
        ("display-annex", "display", "annex", ""),
        ("kiosk-main", "kiosk", "main", ""),
        ("kiosk-annex", "kiosk", "annex", ""),
        ("pad-w1", "pad", "", "w1"),
        ("pad-w2", "pad", "", "w2"),
        ("pad-w3", "pad", "", "w3"),
        ("caller-w1", "caller", "", "w1"),  # the caller PC beside each window
        ("caller-w2", "caller", "", "w2"),
        ("admin", "admin", "", ""),
    )
}  # each token is its client's name


def named_hall() -> HallSetup:
    """tests/edge/hall.py's small hall, with window names as a hall would give them."""
    setup = small_hall(name="测试政务服务中心")
    windows = [w.model_copy(update={"name": WINDOW_NAMES[w.id]}) for w in setup.windows]
    return setup.model_copy(update={"windows": windows})


@dataclass
class Hall:
    """A running edge node that a test can stop and start again on the same port and data."""

    base: Path
    port: int = field(default_factory=free_port)
    clock: ManualClock = field(default_factory=lambda: ManualClock(hall_time(WORKDAY, 9, 30)))
    node: EdgeNode | None = None
    session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = EdgeConfig(
            node=NodeConfig(data_dir="data"),
            api=ApiConfig(port=self.port),
            mqtt=MqttConfig(enabled=False),
        )
        node = EdgeNode(
            config,
            self.base,
            clock=self.clock,
            extra_clients=list(TOKENS.values()),
            setup=named_hall(),
        )
        await node.start()
        self.node = node

    async def stop(self) -> None:
        if self.node is not None:
            await self.node.stop()
            self.node = None

    async def call(self, method: str, path: str, token: str = "", **kwargs: Any) -> Any:
        """An HTTP call to the node's API; fails the test unless it answered 2xx."""
        if self.session is None:
            self.session = aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, f"{self.url}/api{path}", headers=headers, **kwargs
        ) as resp:
            body = await resp.json()
            assert resp.status < 300, (method, path, resp.status, body)
            return body

    async def login(self, window: str, staff_no: str) -> str:
        body = await self.call(
            "POST", f"/windows/{window}/login", json={"staff_no": staff_no, "password": PASSWORD}
        )
        token: str = body["token"]
        return token


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[Hall]:
    running = Hall(tmp_path)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        if running.session is not None:
            await running.session.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup test (Debian's chromium package)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def page_errors() -> Iterator[list[str]]:
    """Errors the pages raised or logged; a test ends by finding none."""
    errors: list[str] = []
    yield errors
    assert not errors, errors


async def open_page(
    browser: Browser, url: str, errors: list[str], width: int = 1920, height: int = 1080
) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": height})
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: _console(msg.type, msg.text, errors))
    await page.goto(url)
    return page


def _console(kind: str, text: str, errors: list[str]) -> None:
    # a stopped edge is expected in these tests: the browser logs each refused connection
    # and a refusal the page shows (409: the queue said no) is the page's to handle
    expected = (
        "WebSocket connection" in text
        or "ERR_CONNECTION_REFUSED" in text
        or "the server responded with a status of 409" in text
    )
    if kind == "error" and not expected:
        errors.append(f"console: {text}")


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    await page.screenshot(path=str(path), animations="disabled")
    return path
