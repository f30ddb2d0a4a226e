"""The portal on the embedded SQLite (what `hall demo` runs): a superuser walks every menu
entry, every tab of a configured hall and every form reached from them, and no page answers a
server error or raises in the browser. The browser tests of each area run on PostgreSQL; this
one keeps the statements of every page honest on SQLite too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest
from playwright.async_api import Browser

from cloud.db import open_engine
from cloud.identity.org import create_unit
from tests.cloud.conftest import CloudWorker, sqlite_url
from tests.cloud.people import now_ms, person
from tests.edge.hall import small_hall
from tests.ui.portal.conftest import portal_worker, signed_in

__all__ = ["sqlite_url"]  # the cloud's embedded-database fixture, used here

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
async def portal(sqlite_url: str) -> AsyncIterator[CloudWorker]:
    async with portal_worker(sqlite_url) as worker:
        yield worker


async def test_every_page_a_superuser_reaches_works_on_sqlite(
    browser: Browser, portal: CloudWorker, sqlite_url: str
) -> None:
    hall = "walk-hall"
    await portal.admin("POST", "/api/halls", json={"id": hall, "name": "示范大厅"})
    await portal.admin("PUT", f"/api/halls/{hall}/setup",
                       json=small_hall(id=hall, version=1).model_dump(mode="json"))  # fmt: skip
    await portal.admin("POST", f"/api/halls/{hall}/config/import")
    engine = open_engine(sqlite_url)
    try:
        async with engine.begin() as conn:
            region = await create_unit(conn, kind="region", name="示范区", parent_id=None,
                                       now_ms=now_ms())  # fmt: skip
            await create_unit(conn, kind="site", name="示范网点", parent_id=region,
                              now_ms=now_ms(), hall=hall)  # fmt: skip
        root = await person(engine, region, superuser=True)
    finally:
        await engine.dispose()

    errors: list[str] = []
    context, page = await signed_in(browser, portal, root, errors)
    try:
        seen: set[str] = set()
        to_visit = ["/portal/", f"/portal/halls/{hall}", f"/portal/halls/{hall}/admin"]
        failures: list[str] = []
        while to_visit and len(seen) < 150:
            path = to_visit.pop(0)
            if path in seen:
                continue
            seen.add(path)
            response = await page.goto(portal.base + path)
            if response is None or response.status >= 500:
                failures.append(f"{path}: {response.status if response else 'no answer'}")
                continue
            # the menu, the hall's tabs and the "new"/"edit" links of what a page lists
            for href in await page.locator(
                "nav a[href], .tabs a[href], a.btn[href], td a[href]"
            ).evaluate_all("links => links.map(a => a.getAttribute('href'))"):
                target = urlparse(href)
                if (
                    target.path.startswith("/portal/")
                    and not target.netloc
                    and not target.path.startswith(("/portal/logout", "/portal/static"))
                    and target.path not in seen
                ):
                    to_visit.append(target.path + (f"?{target.query}" if target.query else ""))
        assert failures == []
        assert errors == []
        # the walk reached the areas it is meant to
        for area in ("/portal/users", "/portal/roles", "/portal/org", "/portal/flows",
                     "/portal/calendar", f"/portal/halls/{hall}/windows"):  # fmt: skip
            assert any(p.startswith(area) for p in seen), (area, sorted(seen))
    finally:
        await context.close()
