"""Fixtures of the resource tests: the cloud app with a private uploads folder, an engine on
the same database, and helpers that make records from the declarations' examples."""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.app import create_app
from cloud.audit import Origin
from cloud.config import UploadsConfig
from cloud.db import open_engine
from cloud.identity.principal import Principal
from cloud.resources.declare import RESOURCES, Field, Resource
from cloud.resources.service import create_row
from tests.cloud.conftest import cloud_config

# the bootstrap superuser, for making test records through the service itself
ROOT = Principal(id="admin:tests", username="tests", name="tests", superuser=True)
ORIGIN = Origin(actor="admin:tests", reason="测试数据")
_serial = itertools.count(1)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(
    database_url: str,
    tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> TestClient:
    config = cloud_config(database_url).model_copy(
        update={"uploads": UploadsConfig(dir=str(tmp_path / "uploads"), max_mb=1)}
    )
    return await aiohttp_client(create_app(config))


def vary(field: Field, n: int) -> Any:
    """The field's example made distinct for record `n`: text carries the marker `#n`."""
    example = field.example
    if field.kind in ("text", "textarea") and isinstance(example, str):
        marker = f"#{n}"
        return example[: (field.max_length or 10_000) - len(marker)] + marker
    if field.kind == "int" and isinstance(example, int) and field.unique:
        return example + n
    return example


async def make_row(
    engine: AsyncEngine, resource: Resource, department: str | None
) -> tuple[str, int]:
    """A new record of `resource` in `department` from its examples (and the records its refs
    need, in the same department); its id and marker number."""
    n = next(_serial)
    body: dict[str, Any] = {}
    for field in resource.fields:
        if not field.writable:
            continue
        if field.kind == "ref":
            assert field.ref is not None
            body[field.name], _ = await make_row(engine, RESOURCES[field.ref], department)
        elif field.kind == "choice" and field.dictionary is not None:
            await ensure_dictionary_item(engine, field.dictionary, str(field.example))
            body[field.name] = field.example
        elif field.example is not None:
            body[field.name] = vary(field, n)
    if resource.scoped and resource.department is not None:
        body[resource.department] = department
    async with engine.begin() as conn:
        row = await create_row(conn, ROOT, resource, body, ORIGIN)
    return str(row["id"]), n


async def ensure_dictionary_item(engine: AsyncEngine, category: str, code: str) -> None:
    from cloud.resources.catalog import DICTIONARY_CATEGORY, DICTIONARY_ITEM, dictionary_categories

    async with engine.begin() as conn:
        found = await conn.scalar(
            sa.select(dictionary_categories.c.id).where(dictionary_categories.c.code == category)
        )
        if found is None:
            made = await create_row(
                conn, ROOT, DICTIONARY_CATEGORY, {"code": category, "name": category}, ORIGIN
            )
            found = made["id"]
        body = {"category": found, "code": code, "label": f"{code}的名称"}
        try:
            async with conn.begin_nested():
                await create_row(conn, ROOT, DICTIONARY_ITEM, body, ORIGIN)
        except Exception:  # already there
            pass


def sheet_rows(content: bytes) -> list[list[Any]]:
    """The first sheet of an .xlsx as rows of values."""
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    return rows
