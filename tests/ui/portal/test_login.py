"""Signing in to the admin portal in Chromium: the captcha drawn by the cloud, a wrong
password answered in Chinese, a page asked for before signing in reached after it, signing
out, and an expired session sent back to the sign-in page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.tables import sessions
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import PASSWORD, person, solve_captcha, unit
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import VIEWPORT, signed_in, watch

pytestmark = pytest.mark.xdist_group("browser")


async def test_a_user_signs_in_with_the_captcha_and_reaches_the_page_they_asked_for(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    office = await unit(engine, "政务服务管理办公室")
    someone = await person(engine, office, {"audit.read": "all"})
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = await context.new_page()
    watch(page, page_errors)

    # an unauthenticated page sends to the sign-in page, which remembers where to go after
    await page.goto(f"{portal.base}/portal/account/password")
    await expect(page).to_have_url(re.compile(r"/portal/login\?next=%2Fportal%2Faccount"))
    captcha = page.locator("input[name=captcha_id]")
    await expect(captcha).not_to_have_value("")
    await expect(page.locator("#captcha-image")).to_have_attribute("src", re.compile("^data:"))
    await screenshot(page, "portal-login")

    # a wrong password: the Chinese refusal, and a new captcha (each is used once)
    first_id = await captcha.input_value()
    await page.fill("input[name=username]", someone.username)
    await page.fill("input[name=password]", "not-the-password-1")
    await page.fill("input[name=captcha_answer]", await solve_captcha(engine, first_id))
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
    await expect(captcha).not_to_have_value(first_id)
    await screenshot(page, "portal-login-wrong")

    # a wrong captcha is named as such
    second_id = await captcha.input_value()
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=captcha_answer]", "99999")
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_contain_text("验证码")

    # the right one: on to the page asked for, with the user's name in the header
    await expect(captcha).not_to_have_value(second_id)
    await page.fill("input[name=password]", PASSWORD)
    await page.fill(
        "input[name=captcha_answer]", await solve_captcha(engine, await captcha.input_value())
    )
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{portal.base}/portal/account/password")
    await expect(page.get_by_test_id("user")).to_have_text(
        f"测试{someone.username} · 政务服务管理办公室"
    )
    await expect(page.locator("h1")).to_have_text("修改密码")

    # signing out ends the session: the page asks for a sign-in again
    await page.click("text=退出")
    await expect(page).to_have_url(re.compile(r"/portal/login\?msg=signed_out"))
    await expect(page.locator(".flash.warn")).to_have_text("已退出登录")
    await page.goto(f"{portal.base}/portal/")
    await expect(page).to_have_url(re.compile(r"/portal/login\?next=%2Fportal%2F$"))
    await context.close()


async def test_an_expired_session_sends_the_user_back_to_sign_in(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    someone = await person(engine, await unit(engine, "行政审批局"))
    context, page = await signed_in(browser, portal, someone, page_errors)
    await page.goto(f"{portal.base}/portal/")
    await expect(page.locator("h1")).to_have_text("工作台")
    await screenshot(page, "portal-home")
    async with engine.begin() as conn:
        await conn.execute(sessions.update().values(expires_at=1).where(
            sessions.c.user_id == someone.id))  # fmt: skip
    await page.goto(f"{portal.base}/portal/account/password")
    await expect(page).to_have_url(re.compile(r"/portal/login\?next=.*&expired=1"))
    await expect(page.locator(".flash.warn")).to_have_text("登录已过期，请重新登录")
    await context.close()
