"""Uploads: accepted and refused by their content, stored outside the database under the
content's hash, served only to those in scope with the original name safely encoded."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import aiohttp
import openpyxl
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.cloud.people import person, unit


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, format="PNG")
    return out.getvalue()


def xlsx() -> bytes:
    out = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["姓名"])  # type: ignore[union-attr]
    book.save(out)
    return out.getvalue()


def form(content: bytes, name: str, content_type: str = "application/pdf") -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("file", content, filename=name, content_type=content_type)
    return data


async def test_uploads_are_judged_by_their_content(
    client: TestClient, engine: AsyncEngine, tmp_path: Path
) -> None:
    a = await unit(engine, "部门A")
    b = await unit(engine, "部门B")
    clerk = await person(engine, a, {"upload.create": "dept"})
    image = png()
    response = await client.post(
        "/api/uploads", data=form(image, "../../办事指南.pdf"), headers=clerk.headers
    )
    assert response.status == 201, await response.text()
    made = await response.json()
    assert (made["type"], made["mime"], made["name"]) == ("png", "image/png", "办事指南.pdf")
    digest = hashlib.sha256(image).hexdigest()
    stored = tmp_path / "uploads" / digest[:2] / digest
    assert stored.read_bytes() == image

    sheet = xlsx()
    response = await client.post("/api/uploads", data=form(sheet, "表.xlsx"), headers=clerk.headers)
    assert (await response.json())["type"] == "xlsx"

    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    response = await client.post(
        "/api/uploads", data=form(exe, "photo.jpg", "image/jpeg"), headers=clerk.headers
    )
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_file"
    big = image + b"\x00" * (1024 * 1024)
    response = await client.post("/api/uploads", data=form(big, "big.png"), headers=clerk.headers)
    assert response.status == 413
    kept = sorted(p.name for p in (tmp_path / "uploads").rglob("*") if p.is_file())
    assert kept == sorted([digest, hashlib.sha256(sheet).hexdigest()])  # nothing half-written

    nobody = await person(engine, a, {})
    response = await client.post("/api/uploads", data=form(image, "x.png"), headers=nobody.headers)
    assert response.status == 403

    path = f"/api/uploads/{made['id']}"
    response = await client.get(path, headers=clerk.headers)
    assert response.status == 200 and await response.read() == image
    assert response.headers["Content-Type"] == "image/png"
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E5%8A%9E%E4%BA%8B%E6%8C%87%E5%8D%97.pdf" in disposition
    neighbour = await person(engine, a, {"upload.read": "dept"})
    response = await client.get(path, headers=neighbour.headers)
    assert response.status == 200
    for stranger in (
        await person(engine, b, {"upload.read": "dept"}),
        await person(engine, a, {}),
    ):
        response = await client.get(path, headers=stranger.headers)
        assert response.status == 404
