"""Cloud fixtures: a real PostgreSQL (the local server, or a private one started here), a
fresh database per test module with the migrations run, and the cloud app on a test server."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cloud.app import create_app
from cloud.config import AdminToken, ApiConfig, CloudConfig, DatabaseConfig, SigningConfig
from cloud.db import migrate
from cloud.devdb import PostgresServer, create_database, drop_database, postgres_server
from cloud.node import CloudNode
from tests.conftest import free_port

ADMIN_TOKEN = "admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="module")
def postgresql_url(postgres: PostgresServer) -> Iterator[str]:
    """A migrated database of the module's own, dropped afterwards."""
    name = create_database(postgres, "smarthall_test")
    url = postgres.url(name)
    migrate(url)
    yield url
    drop_database(postgres, name)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cloud') / 'cloud.sqlite3'}"
    migrate(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each core test runs on PostgreSQL and on the embedded SQLite."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


# the tests' booking signing key: made by the first cloud that starts, shared by all after it
SIGNING_KEY_FILE = Path(tempfile.gettempdir()) / f"smarthall-tests-{os.getuid()}" / "signing.key"


def cloud_config(url: str, **api: Any) -> CloudConfig:
    digest = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    return CloudConfig(
        database=DatabaseConfig(url=url, migrate_on_start=False),
        api=ApiConfig(admins=[AdminToken(id="ops", token_sha256=digest)], **api),
        signing=SigningConfig(private_key_file=str(SIGNING_KEY_FILE)),
    )


@pytest.fixture
async def cloud(database_url: str, aiohttp_client: Callable[..., Awaitable[TestClient]]) -> Any:
    return await aiohttp_client(create_app(cloud_config(database_url)))


async def register(cloud: TestClient, hall: str | None = None) -> tuple[str, dict[str, str]]:
    """A newly registered hall: its id and the headers that authenticate it."""
    hall = hall or f"hall-{secrets.token_hex(4)}"
    response = await cloud.post("/api/halls", json={"id": hall, "name": "测试大厅"}, headers=ADMIN)
    assert response.status == 201, await response.text()
    body = await response.json()
    return hall, {"Authorization": f"Bearer {body['token']}"}


def event(seq: int, type_: str = "ticket.issued", **payload: Any) -> dict[str, Any]:
    """An edge event with a fresh id; a ticket event unless told otherwise."""
    if not payload and type_.startswith("ticket."):
        payload = {
            "ticket": {
                "id": f"t{seq}",
                "business_type": "b1",
                "day": "2025-01-06",
                "window": "w01",
                "staff": "s01",
            }
        }
    return {
        "seq": seq,
        "id": f"e-{secrets.token_hex(8)}",
        "type": type_,
        "at": 1_736_000_000_000 + seq,
        "payload": payload,
    }


def batch(
    hall: str, events: list[dict[str, Any]], *, after: int, epoch: str = "ep1", epoch_start: int = 0
) -> dict[str, Any]:
    return {
        "v": 1,
        "hall": hall,
        "epoch": epoch,
        "epoch_start": epoch_start,
        "after": after,
        "sent_at": 1_736_000_100_000,
        "events": events,
    }


class CloudWorker:
    """A cloud worker on a port of its own that a test can stop and start again, with an
    admin client."""

    def __init__(self, config: CloudConfig) -> None:
        self.port = free_port()
        api = config.api.model_copy(update={"port": self.port})
        self.config = config.model_copy(update={"api": api})
        self.node: CloudNode | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.node = CloudNode(self.config)
        await self.node.start()

    async def stop(self) -> None:
        if self.node is not None:
            await self.node.stop()
            self.node = None

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, self.base + path, headers=ADMIN if headers is None else headers, **kwargs
            ) as response,
        ):
            body = await response.json() if response.status != 204 else None
            return response.status, body

    async def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = await self.call(method, path, **kwargs)
        assert status < 300, body
        return body


def next_working_day() -> dt.date:
    """Today in the hall (by the real clock, which the cloud's booking window follows) or the
    next day that is a working day by both the weekday and the statutory calendar (the cloud
    closes a hall's holidays in the setups it sends): the day a test's hall clock is set to."""
    from sync.calendar import SiteCalendar

    statutory = SiteCalendar()
    day = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    while day.isoweekday() > 5 or not statutory.is_working_day(day):
        day += dt.timedelta(days=1)
    return day
