"""The screens' files served by the edge: pages, our scripts, and the npm packages we list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge.api.app import create_app
from edge.api.static import UI_ROOT, setup_static, vendor_packages
from edge.queue import QueueEngine

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(engine: QueueEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    app = create_app(engine, [])
    setup_static(app)
    setup_static(app)  # a second call changes nothing
    return await aiohttp_client(app)


async def test_the_window_display_page_and_its_scripts_are_served(
    client: TestClient[Any, Any],
) -> None:
    page = await client.get("/screen/window/w1")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.headers["Cache-Control"] == "no-cache"
    html = await page.text()
    for src in ("/ui/static/js/window-screen.js", "/ui/vendor/lunar-javascript/lunar.js"):
        assert src in html
        resp = await client.get(src)
        assert resp.status == 200, src
        assert "javascript" in resp.content_type


def test_the_vendor_packages_are_those_package_json_lists() -> None:
    assert "lunar-javascript" in vendor_packages()
    assert (UI_ROOT / "node_modules" / "lunar-javascript").is_dir(), "run scripts/setup test"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/vendor/lunar-javascript/../../package.json",
        "/ui/vendor/lunar-javascript/%2e%2e/%2e%2e/package.json",
        "/ui/vendor/lunar-javascript/",
        "/ui/vendor/lunar-javascript",
        "/ui/vendor/not-listed/index.js",
        "/ui/vendor/.package-lock.json",
        "/ui/static/../package.json",
        "/ui/static/%2e%2e/package.json",
        "/ui/static/js/",
    ],
)
async def test_nothing_outside_the_listed_packages_is_served(
    client: TestClient[Any, Any], path: str
) -> None:
    resp = await client.get(path)
    assert resp.status in (403, 404), (path, resp.status)
