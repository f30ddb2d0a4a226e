"""The workflow's and onboarding's HTTP tests run on PostgreSQL (row locks, concurrent
approvals): an engine on the module's database and the cloud app over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.app import create_app
from cloud.db import open_engine
from tests.cloud.conftest import cloud_config


@pytest.fixture
async def db(postgresql_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(postgresql_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def cloud(
    postgresql_url: str, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> TestClient:
    return await aiohttp_client(create_app(cloud_config(postgresql_url)))
