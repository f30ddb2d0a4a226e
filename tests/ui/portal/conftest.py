"""Fixtures for the admin portal in a browser: a real cloud worker on loopback over a real
PostgreSQL (a database of the module's own), its engine for making test people, and browser
contexts signed in as one of them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.db import open_engine
from cloud.identity.principal import SESSION_COOKIE
from tests.cloud.conftest import CloudWorker, cloud_config, postgres, postgresql_url
from tests.cloud.people import Person

__all__ = ["postgres", "postgresql_url"]  # the cloud's database fixtures, used here too

VIEWPORT: ViewportSize = {"width": 1366, "height": 768}  # the office screen the portal is made for


@contextlib.asynccontextmanager
async def portal_worker(url: str) -> AsyncIterator[CloudWorker]:
    """A cloud worker over the database at `url` serving the portal over plain HTTP on
    loopback, no background rounds."""
    config = cloud_config(url)
    config = config.model_copy(
        update={
            "auth": config.auth.model_copy(update={"secure_cookies": False}),
            "bookings": config.bookings.model_copy(update={"no_show_interval_seconds": 0}),
        }
    )
    worker = CloudWorker(config)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


@pytest.fixture
async def portal(postgresql_url: str) -> AsyncIterator[CloudWorker]:
    """A cloud worker serving the portal over plain HTTP on loopback."""
    async with portal_worker(postgresql_url) as worker:
        yield worker


@pytest.fixture
async def engine(postgresql_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(postgresql_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def signed_in(
    browser: Browser, portal: CloudWorker, person: Person, errors: list[str]
) -> tuple[BrowserContext, Page]:
    """A browser context of its own carrying `person`'s session cookie (a sign-in through the
    page is tested once, in test_login.py), and a page in it."""
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    context.set_default_timeout(10_000)
    await context.add_cookies(
        [{"name": SESSION_COOKIE, "value": person.token, "url": portal.base, "httpOnly": True}]
    )
    page = await context.new_page()
    watch(page, errors)
    return context, page


def watch(page: Page, errors: list[str]) -> None:
    """Collect what the page raises or logs as an error (a refusal the test provokes is
    expected: 4xx answers the page shows)."""
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: _console(msg.type, msg.text, errors))


def _console(kind: str, text: str, errors: list[str]) -> None:
    if kind == "error" and "the server responded with a status of 4" not in text:
        errors.append(f"console: {text}")
