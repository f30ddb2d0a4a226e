"""Who may author a hall's configuration: the `hall_config.*` rights over the hall's site unit.
A user of another site's department does not see the hall at all (404); a user of the site
without the right is refused (403); a region's user with "department and below" reaches it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.app import create_app
from cloud.db import open_engine
from cloud.identity.org import create_unit
from cloud.identity.principal import Scope
from tests.cloud.conftest import ADMIN, cloud_config, register
from tests.cloud.hallconfig.test_authoring import AREAS, author, call
from tests.cloud.people import Person, now_ms, person, unit

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

RIGHTS = ("view", "read", "create", "edit", "delete", "publish", "import")


def grants(scope: Scope, *rights: str) -> dict[str, Scope]:
    return {f"hall_config.{r}": scope for r in rights or RIGHTS}


async def test_only_users_whose_scope_reaches_the_hall_see_or_change_its_configuration(
    postgresql_url: str, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(cloud_config(postgresql_url)))
    hall, _ = await register(client)
    other_hall, _ = await register(client)
    engine = open_engine(postgresql_url, pool_size=1)
    try:
        region = await unit(engine, "东城区", kind="region")
        async with engine.begin() as conn:
            site = await create_unit(conn, kind="site", name="东城大厅", parent_id=region,
                                     now_ms=now_ms(), hall=hall)  # fmt: skip
            elsewhere = await create_unit(conn, kind="site", name="西城大厅", parent_id=None,
                                          now_ms=now_ms(), hall=other_hall)  # fmt: skip
        clerk = await person(engine, site, grants("dept"))
        outsider = await person(engine, elsewhere, grants("dept"))
        viewer = await person(engine, site, grants("dept", "view", "read"))
        nobody = await person(engine, site, {})
        regional = await person(engine, region, grants("dept_tree"))
    finally:
        await engine.dispose()
    await author(client, hall)
    base = f"/api/halls/{hall}/config"
    new_area = {"id": "hall2", "name": "二楼"}

    async def status(who: Person, method: str, path: str, body: Any = None) -> tuple[int, str]:
        code, answer = await call(client, method, base + path, headers=who.headers, json=body)
        return code, (answer or {}).get("error", {}).get("code", "")

    for method, path, body in (
        ("GET", "/areas", None),
        ("GET", "/windows/w1", None),
        ("GET", "/preview", None),
        ("GET", "/settings", None),
        ("POST", "/areas", new_area),
        ("PATCH", "/windows/w1", {"name": "改名"}),
        ("PUT", "/windows/w1/business-types", ["license"]),
        ("DELETE", "/staff/s-wang", None),
        ("POST", "/publish", None),
        ("POST", "/import", None),
    ):
        # another site's user: the hall is not there for them, whatever they hold
        assert await status(outsider, method, path, body) == (404, "unknown_hall"), path
        # the site's user without the right: refused
        assert await status(nobody, method, path, body) == (403, "forbidden_operation"), path
        expected = (403, "forbidden_operation") if method != "GET" else (200, "")
        assert await status(viewer, method, path, body) == expected, path

    # nothing of theirs changed anything
    code, areas = await call(client, "GET", base + "/areas")
    assert [a["id"] for a in areas["items"]] == [a["id"] for a in AREAS]
    code, w1 = await call(client, "GET", base + "/windows/w1")
    assert w1["name"] == "综合窗口" and w1["business_types"] == ["tax", "license"]

    # the site's clerk and the region's user with "department and below" may
    assert await status(clerk, "POST", "/areas", new_area) == (201, "")
    assert await status(regional, "DELETE", "/areas/hall2", None) == (204, "")
    assert await status(clerk, "POST", "/publish", None) == (201, "")
    # the clerk's scope stops at their own site: the other hall is not there for them
    other = f"/api/halls/{other_hall}/config/areas"
    code, answer = await call(client, "GET", other, headers=clerk.headers)
    assert (code, answer["error"]["code"]) == (404, "unknown_hall")
    code, answer = await call(client, "GET", other, headers=ADMIN)
    assert code == 200 and answer["items"] == []
    # a change on the cookie alone (a forged cross-site request) is refused
    code, answer = await call(client, "POST", base + "/areas", headers=clerk.cookie_only,
                              json={"id": "x", "name": "x"})  # fmt: skip
    assert (code, answer["error"]["code"]) == (403, "csrf_failed")
