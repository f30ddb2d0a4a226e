"""Every route of the cloud answers garbage with a 4xx, never a 500: unauthenticated, and as
the bootstrap superuser with bodies that are not JSON, not an object, empty, or full of fields
nobody declared, and with ids that do not exist; on PostgreSQL and on the embedded SQLite
(where it found a list page built on a LATERAL join, which SQLite does not have). The routes
are the app's own, so a route added later is covered without touching this test."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from cloud.app import create_app
from tests.cloud.conftest import ADMIN, cloud_config, register
from tests.edge.hall import small_hall

GARBAGE: list[tuple[bytes, str]] = [
    (b"not json at all", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b"{}", "application/json"),
    (b'{"zzz": {"deep": [null, 1e999]}, "name": 12}', "application/json"),
    (b"\xff\xfe\x00", "application/octet-stream"),
    (b"name=%FF&csrf_token=x&zzz=1", "application/x-www-form-urlencoded"),
]

# the sync endpoints take a hall's credentials, not a user's: their garbage is tested in
# test_sync_api.py and test_auth_and_errors.py
_SKIPPED = ("/sync/",)


def _routes(app: web.Application) -> list[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method in ("HEAD", "*") or path.startswith(_SKIPPED):
            continue
        found.add((route.method, path))
    return sorted(found)


def _filled(path: str, hall: str) -> str:
    """The route's address with its variables filled: the real hall where it names one, an
    id nobody has elsewhere."""
    path = re.sub(r"\{hall(:[^}]*)?\}", hall, path)
    return re.sub(r"\{[^}]+\}", "nobody-has-this-id", path)


@pytest.mark.slow
async def test_no_route_answers_garbage_with_a_server_error(
    database_url: str, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    app = create_app(cloud_config(database_url))
    client: TestClient = await aiohttp_client(app)
    hall, _ = await register(client)
    # a configured hall, so that its pages have something to show
    setup = small_hall(id=hall, version=1).model_dump(mode="json")
    assert (await client.put(f"/api/halls/{hall}/setup", json=setup, headers=ADMIN)).status == 201
    imported = await client.post(f"/api/halls/{hall}/config/import", headers=ADMIN)
    assert imported.status == 200, await imported.text()
    failures = []
    for method, pattern in _routes(app):
        path = _filled(pattern, hall)
        response = await client.request(method, path, allow_redirects=False)
        if response.status >= 500:
            failures.append((method, path, "no credentials", response.status))
        if method in ("GET", "OPTIONS"):
            response = await client.request(method, path, headers=ADMIN, allow_redirects=False)
            if response.status >= 500:
                failures.append((method, path, "admin", response.status))
            continue
        for body, content_type in GARBAGE:
            headers = {**ADMIN, "Content-Type": content_type}
            response = await client.request(
                method, path, data=body, headers=headers, allow_redirects=False
            )
            if response.status >= 500:
                failures.append((method, path, body[:20].decode(errors="replace"), response.status))
    assert failures == []
