"""What the kiosk's browser tests share: its address, both screen sizes, a printer, QR modules."""

from __future__ import annotations

import re
from typing import Any

import qrcode  # type: ignore[import-untyped]
from playwright.async_api import Page

from tests.ui.conftest import Hall, screenshot

PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
_MODULE = re.compile(r"M(\d+),(\d+)H")


def kiosk_url(hall: Hall, area: str = "main", token: str = "kiosk-main", **params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return f"{hall.url}/screen/kiosk/{area}?{query}"


async def both_sizes(page: Page, name: str) -> None:
    """Screenshots of what the kiosk shows now, standing (1080×1920) and lying (1920×1080)."""
    size = page.viewport_size
    await page.set_viewport_size(PORTRAIT)
    await screenshot(page, f"kiosk-{name}-1080x1920")
    await page.set_viewport_size(LANDSCAPE)
    await screenshot(page, f"kiosk-{name}-1920x1080")
    if size is not None:
        await page.set_viewport_size(size)


async def attach_printer(hall: Hall, kiosk: str = "kiosk-main") -> None:
    """A ticket printer registered to the kiosk: it prints, so the kiosk offers paper."""
    await hall.call(
        "POST",
        "/devices",
        "admin",
        json={"id": f"printer-{kiosk}", "kind": "printer", "profile": "escpos-cn",
              "attached_to": kiosk},
    )  # fmt: skip


async def tickets_of(hall: Hall, area: str = "main") -> list[dict[str, Any]]:
    """Every ticket issued so far, from the event log."""
    body = await hall.call("GET", "/events?limit=5000", "admin")
    return [
        e["ticket"]
        for e in body["events"]
        if e["type"] == "ticket.issued" and e["ticket"]["area"] == area
    ]


def svg_modules(svg: bytes) -> set[tuple[int, int]]:
    """The dark modules of a QR code drawn by qrcode's SvgPathImage, as (column, row)."""
    return {(int(x), int(y)) for x, y in _MODULE.findall(svg.decode())}


def qr_modules(content: str, border: int = 4) -> set[tuple[int, int]]:
    """The dark modules a QR code of `content` (level M) has, placed as the SVG places them."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(content)
    code.make(fit=True)
    return {(x, y) for y, row in enumerate(code.get_matrix()) for x, dark in enumerate(row) if dark}


def expected_errors(errors: list[str], *fragments: str) -> None:
    """Forget the console lines a test provoked on purpose (a refused request is logged)."""
    errors[:] = [e for e in errors if not any(f in e for f in fragments)]
