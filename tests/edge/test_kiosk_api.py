"""The kiosk's paperless ticket QR code over the real API: who may read it, what it carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge.api.app import create_app, openapi_document
from edge.api.kiosk import QR_BASE, ticket_qr_content, ticket_qr_svg
from edge.queue import QueueEngine
from tests.edge.test_api import api_clients, bearer, error_code, login
from tests.ui.kiosk_helpers import qr_modules, svg_modules

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


async def _client(
    engine: QueueEngine, aiohttp_client: ClientFactory, base: str | None = None
) -> TestClient[Any, Any]:
    app = create_app(engine, api_clients())
    if base is not None:
        app[QR_BASE] = base
    return await aiohttp_client(app)


async def _ticket(client: TestClient[Any, Any]) -> dict[str, Any]:
    """A ticket taken at the main area's kiosk, with window 1 open."""
    await login(client, "w1", "101")
    resp = await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )
    assert resp.status == 201, await resp.text()
    ticket: dict[str, Any] = (await resp.json())["ticket"]
    return ticket


async def test_the_qr_code_of_a_ticket_leads_to_its_wechat_page(
    engine: QueueEngine, aiohttp_client: ClientFactory
) -> None:
    client = await _client(engine, aiohttp_client, "https://wx.hall.example/")
    ticket = await _ticket(client)
    resp = await client.get(f"/api/tickets/{ticket['id']}/qr.svg", headers=bearer("kiosk-main"))
    assert resp.status == 200
    assert resp.content_type == "image/svg+xml"
    svg = await resp.read()
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    content = f"https://wx.hall.example/t/{ticket['id']}"
    assert ticket_qr_content(ticket["id"], "https://wx.hall.example/") == content
    assert svg_modules(svg) == qr_modules(content)
    assert svg == ticket_qr_svg(content)


async def test_without_a_configured_address_the_qr_code_names_the_ticket(
    engine: QueueEngine, aiohttp_client: ClientFactory
) -> None:
    client = await _client(engine, aiohttp_client)
    ticket = await _ticket(client)
    resp = await client.get(f"/api/tickets/{ticket['id']}/qr.svg", headers=bearer("kiosk-main"))
    assert svg_modules(await resp.read()) == qr_modules(f"smarthall:ticket:{ticket['id']}")


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("kiosk-main", 200),
        ("admin", 200),
        ("staff", 200),
        ("kiosk-annex", 403),
        ("pad-w1", 403),
        ("display-main", 403),
        ("cloud", 403),
        ("nobody", 401),
    ],
)
async def test_the_kiosk_of_the_area_staff_and_admin_may_read_the_qr_code(
    engine: QueueEngine, aiohttp_client: ClientFactory, who: str, status: int
) -> None:
    client = await _client(engine, aiohttp_client)
    ticket = await _ticket(client)
    if who == "staff":
        headers = await login(client, "w2", "102")
    elif who == "nobody":
        headers = {}
    else:
        headers = bearer(who)
    resp = await client.get(f"/api/tickets/{ticket['id']}/qr.svg", headers=headers)
    assert resp.status == status, await resp.text()
    if status != 200:
        assert await error_code(resp) in ("forbidden", "unauthorized")


async def test_an_unknown_ticket_has_no_qr_code(
    engine: QueueEngine, aiohttp_client: ClientFactory
) -> None:
    client = await _client(engine, aiohttp_client)
    resp = await client.get("/api/tickets/no-such-ticket/qr.svg", headers=bearer("kiosk-main"))
    assert resp.status == 404
    assert await error_code(resp) == "unknown_ticket"


def test_the_qr_code_is_in_the_openapi_document() -> None:
    operation = openapi_document()["paths"]["/api/tickets/{ticket}/qr.svg"]["get"]
    assert operation["operationId"] == "ticketQr"
