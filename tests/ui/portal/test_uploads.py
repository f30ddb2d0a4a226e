"""Files in the portal, in Chromium: a staff entry filed with its 1-inch photo and the scanned,
signed commitment (a PDF); a refused file is named next to its input; once the head approves,
the archive's edit page shows the photo as a thumbnail and the PDF as a link that downloads the
very bytes uploaded."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.async_api import Browser, FilePayload, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.workflow import engine as workflow
from tests.cloud.conftest import CloudWorker
from tests.cloud.people import now_ms, person, unit
from tests.cloud.workflow.helpers import head, principal
from tests.ui.conftest import screenshot
from tests.ui.portal.conftest import signed_in

pytestmark = pytest.mark.xdist_group("browser")

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 300


def photo() -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (90, 126), (40, 110, 200))
    image.paste((250, 240, 230), (25, 20, 65, 75))  # a face, more or less
    image.save(out, format="PNG")
    return out.getvalue()


async def test_a_staff_entry_files_its_photo_and_signed_pdf_in_the_archive(
    browser: Browser, portal: CloudWorker, engine: AsyncEngine, page_errors: list[str]
) -> None:
    site = await unit(engine, "市民中心", kind="site")
    archive = {
        f"{resource}.{right}": "dept_tree"
        for resource, rights in (
            ("onboarding_staff", ("view", "read", "edit")),
            ("stationed_department", ("view", "read")),
        )
        for right in rights
    }
    applicant = await person(engine, site, {"onboarding.apply": "dept", **archive})
    chief = await person(engine, site)
    await head(engine, site, chief)
    me, boss = await principal(engine, applicant), await principal(engine, chief)
    form = {"name": "市场监督管理局", "short_name": "市监局", "site_id": site}
    started = await workflow.start(
        engine, me, business_key="onboarding.department_entry", form=form, now_ms=now_ms()
    )
    await workflow.act(
        engine, boss, started["current_approvers"][0]["task_id"],
        decision="approve", comment="同意", now_ms=now_ms(),
    )  # fmt: skip

    mine, page = await signed_in(browser, portal, applicant, page_errors)
    await page.goto(f"{portal.base}/portal/onboarding/staff-entry")
    await page.select_option("#f-unit_id", label="市场监督管理局")
    await page.fill("#f-name", "林小雨")
    await page.select_option("#f-gender", "女")
    await page.fill("#f-username", "linxiaoyu")
    await page.fill("#f-work_number", "SJ-008")
    image = photo()
    await page.set_input_files(
        "#f-photo", FilePayload(name="一寸照.jpg", mimeType="image/jpeg", buffer=EXE)
    )
    await page.set_input_files(
        "#f-attachments",
        FilePayload(name="告知书和承诺书.pdf", mimeType="application/pdf", buffer=PDF),
    )
    await page.click("button:has-text('提交审批')")
    await expect(page.locator("[data-field=photo] .error")).to_contain_text("不支持该文件类型")
    await expect(page.locator("#f-name")).to_have_value("林小雨")
    await page.set_input_files(
        "#f-photo", FilePayload(name="一寸照.png", mimeType="image/png", buffer=image)
    )
    await page.set_input_files(
        "#f-attachments",
        FilePayload(name="告知书和承诺书.pdf", mimeType="application/pdf", buffer=PDF),
    )
    await screenshot(page, "portal-staff-entry-files")
    await page.click("button:has-text('提交审批')")
    await expect(page.get_by_test_id("status")).to_have_text("审批中")
    instance = page.url.split("/portal/work/i/")[1].split("?")[0]

    theirs, chief_page = await signed_in(browser, portal, chief, page_errors)
    await chief_page.goto(f"{portal.base}/portal/work/i/{instance}")
    await chief_page.click("button[value=approve]")
    await expect(chief_page.get_by_test_id("status")).to_have_text("已通过")
    await theirs.close()

    await page.goto(f"{portal.base}/portal/onboarding/staff")
    row = page.locator("#rows tbody tr", has_text="林小雨")
    thumb = row.locator("img")
    await expect(thumb).to_be_visible()
    assert await thumb.evaluate("i => i.naturalWidth") == 90
    await screenshot(page, "portal-staff-archive-photo")
    await row.locator("a:has-text('编辑')").click()
    current = page.get_by_test_id("current-photo")
    await expect(current.locator("img")).to_be_visible()
    assert await current.locator("img").evaluate("i => i.naturalHeight") == 126
    link = page.get_by_test_id("attached").locator("a", has_text="告知书和承诺书.pdf")
    await expect(link).to_be_visible()
    await screenshot(page, "portal-staff-archive-files")
    async with page.expect_download() as waiting:
        await link.click(modifiers=["Alt"])
    download = await waiting.value
    assert download.suggested_filename == "告知书和承诺书.pdf"
    saved = await download.path()
    assert saved.read_bytes() == PDF
    await mine.close()
