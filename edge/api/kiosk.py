"""The edge API's operations for the kiosk (取号机, §4.4): the paperless ticket's QR code."""

from __future__ import annotations

import io
from typing import Any

import qrcode  # type: ignore[import-untyped]
import qrcode.image.svg  # type: ignore[import-untyped]
from aiohttp import web

from edge.api.common import Operation, engine_of, require
from edge.queue import QueueError

__all__ = ["KIOSK_OPERATIONS", "QR_BASE", "ticket_qr_content", "ticket_qr_svg"]

QR_BASE = web.AppKey("ticket_qr_base", str)
"""The address a ticket's QR code leads to (`node.ticket_qr_base`); unset or "" → no address."""


def ticket_qr_content(ticket_id: str, base: str = "") -> str:
    """What the paperless ticket's QR code carries (§4.4.3): the WeChat binding page of the
    ticket, `<base>/t/<id>` as the printed ticket's; without a base, `smarthall:ticket:<id>`."""
    base = base.rstrip("/")
    return f"{base}/t/{ticket_id}" if base else f"smarthall:ticket:{ticket_id}"


def ticket_qr_svg(content: str) -> bytes:
    """`content` as an SVG QR code: one path, four modules of quiet zone, error level M."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=4,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    code.add_data(content)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()


async def ticket_qr(request: web.Request) -> Any:
    principal = require(request, "kiosk", "staff", "admin")
    ticket = engine_of(request).ticket(request.match_info["ticket"])  # 404 unknown_ticket
    if principal.kind == "kiosk" and ticket["area"] != principal.area:
        raise QueueError("forbidden", "a kiosk shows the tickets of its own calling area")
    content = ticket_qr_content(ticket["id"], request.app.get(QR_BASE, ""))
    return web.Response(
        body=ticket_qr_svg(content),
        content_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=86400"},
    )


KIOSK_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET", "/api/tickets/{ticket}/qr.svg", "ticketQr",
        "The paperless ticket's QR code (无纸化取号, §4.4.3) as SVG: scanned with WeChat",
        ticket_qr,
    ),
)  # fmt: skip
