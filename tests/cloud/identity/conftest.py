"""Identity fixtures: the cloud app on PostgreSQL (or both databases where a test asks) with
the test's auth settings, and an engine on the same database for arranging people."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.app import create_app
from cloud.config import AuthConfig
from cloud.context import ENGINE
from tests.cloud.conftest import cloud_config

MakeCloud = Callable[..., Awaitable[TestClient]]


@pytest.fixture(params=["postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """PostgreSQL unless a test module asks for both databases."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def make_cloud(
    database_url: str, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> MakeCloud:
    """A cloud app with these `[auth]` settings (plain-HTTP cookies)."""

    async def make(**auth: Any) -> TestClient:
        config = cloud_config(database_url)
        config.auth = AuthConfig(secure_cookies=False, **auth)
        return await aiohttp_client(create_app(config))

    return make


@pytest.fixture
async def cloud(make_cloud: MakeCloud) -> TestClient:
    return await make_cloud()


@pytest.fixture
async def engine(cloud: TestClient) -> AsyncIterator[AsyncEngine]:
    """The cloud app's own engine."""
    yield cloud.app[ENGINE]


async def error_of(response: Any) -> tuple[int, str]:
    body = await response.json()
    assert body["error"]["message"], body
    return response.status, body["error"]["code"]
