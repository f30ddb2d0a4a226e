"""Every declared resource, generated from the registry: a user of department A cannot list,
get, export, change or delete department B's records through any endpoint, sees A's, reaches
A's child unit only with `dept_tree`; a missing right is 403; a global resource is checked for
its rights only. A resource declared later is covered by being declared."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

import cloud.resources.catalog  # noqa: F401  (the declarations)
from cloud.identity.permissions import RIGHTS
from cloud.identity.principal import Scope
from cloud.resources.declare import RESOURCES, Resource
from cloud.resources.service import get_row
from tests.cloud.people import Person, person, unit
from tests.cloud.resources.conftest import ROOT, make_row, sheet_rows, vary

SCOPED = sorted(name for name, r in RESOURCES.items() if r.scoped)
GLOBAL = sorted(name for name, r in RESOURCES.items() if not r.scoped)


@pytest.fixture
def database_url(postgresql_url: str) -> str:
    return postgresql_url


def grants(resource: Resource, scope: Scope, *, without: str | None = None) -> dict[str, Scope]:
    """Every right of the resource but `without`, and the view of what its refs name."""
    held: dict[str, Scope] = {resource.permission(r): scope for r in RIGHTS if r != without}
    for field in resource.fields:
        if field.kind == "ref" and field.ref is not None:
            held[f"{field.ref}.view"] = scope
    return held


async def listed(client: TestClient, who: Person, resource: Resource) -> set[str]:
    response = await client.get(f"/api/r/{resource.name}?page_size=200", headers=who.headers)
    assert response.status == 200, await response.text()
    return {row["id"] for row in (await response.json())["rows"]}


async def exported(client: TestClient, who: Person, resource: Resource) -> str:
    response = await client.get(f"/api/r/{resource.name}/export.xlsx", headers=who.headers)
    assert response.status == 200, await response.text()
    rows = sheet_rows(await response.read())
    assert rows[0] == [f.label for f in resource.list_columns]
    return "\n".join(" ".join(str(v) for v in row) for row in rows[1:])


def a_change(resource: Resource, n: int) -> dict[str, Any]:
    """A body that changes a writable text field (none: an empty change)."""
    for field in resource.fields:
        if field.writable and field.kind in ("text", "textarea") and field.example is not None:
            return {field.name: vary(field, n)}
    return {}


@pytest.mark.parametrize("name", SCOPED)
async def test_a_department_reaches_only_its_own_records(
    name: str, client: TestClient, engine: AsyncEngine
) -> None:
    resource = RESOURCES[name]
    a = await unit(engine, "部门A")
    a1 = await unit(engine, "部门A1", parent=a)
    b = await unit(engine, "部门B")
    row_a, n_a = await make_row(engine, resource, a)
    row_a1, n_a1 = await make_row(engine, resource, a1)
    row_b, n_b = await make_row(engine, resource, b)
    user = await person(engine, a, grants(resource, "dept"))
    path = f"/api/r/{name}"

    seen = await listed(client, user, resource)
    assert row_a in seen
    assert row_b not in seen and row_a1 not in seen
    sheet = await exported(client, user, resource)
    if any(f.kind in ("text", "textarea") for f in resource.list_columns):
        assert f"#{n_a}" in sheet
        assert f"#{n_b}" not in sheet and f"#{n_a1}" not in sheet

    for other in (row_b, row_a1):
        for method in ("GET", "DELETE"):
            response = await client.request(method, f"{path}/{other}", headers=user.headers)
            assert response.status == 404, (method, await response.text())
        response = await client.patch(
            f"{path}/{other}", json=a_change(resource, n_b), headers=user.headers
        )
        assert response.status == 404
    async with engine.connect() as conn:
        untouched = await get_row(conn, ROOT, resource, row_b)
    assert untouched["id"] == row_b

    response = await client.get(f"{path}/{row_a}", headers=user.headers)
    assert response.status == 200
    response = await client.patch(
        f"{path}/{row_a}", json=a_change(resource, n_a + 10_000), headers=user.headers
    )
    assert response.status == 200, await response.text()

    # creating: into the user's own department by default, never into another's
    body = {
        f.name: vary(f, n_a + 20_000)
        for f in resource.fields
        if f.writable and f.example is not None
    }
    for field in resource.fields:
        if field.kind == "ref" and field.ref is not None:
            body[field.name], _ = await make_row(engine, RESOURCES[field.ref], a)
    assert resource.department is not None
    response = await client.post(path, json={**body, resource.department: b}, headers=user.headers)
    assert response.status == 403, await response.text()
    response = await client.post(path, json=body, headers=user.headers)
    assert response.status == 201, await response.text()
    assert (await response.json())[resource.department] == a

    tree = await person(engine, a, grants(resource, "dept_tree"))
    seen = await listed(client, tree, resource)
    assert {row_a, row_a1} <= seen and row_b not in seen
    response = await client.get(f"{path}/{row_a1}", headers=tree.headers)
    assert response.status == 200

    response = await client.delete(f"{path}/{row_a}", headers=user.headers)
    assert response.status == 204


@pytest.mark.parametrize("name", sorted(RESOURCES))
async def test_a_missing_right_is_refused(
    name: str, client: TestClient, engine: AsyncEngine
) -> None:
    resource = RESOURCES[name]
    a = await unit(engine, "部门A")
    row, n = await make_row(engine, resource, a)
    path = f"/api/r/{name}"
    calls: dict[str, list[tuple[str, str, Any]]] = {
        "view": [("GET", path, None)],
        "read": [("GET", f"{path}/{row}", None), ("GET", f"{path}/export.xlsx", None)],
        "edit": [("PATCH", f"{path}/{row}", a_change(resource, n))],
        "delete": [("DELETE", f"{path}/{row}", None)],
        "create": [("POST", path, {})],
    }
    for right in RIGHTS:
        lacking = await person(engine, a, grants(resource, "dept", without=right))
        for method, url, body in calls[right]:
            response = await client.request(method, url, json=body, headers=lacking.headers)
            assert response.status == 403, (right, method, url, await response.text())
    nobody = await person(engine, a, {})
    response = await client.get(f"{path}/schema", headers=nobody.headers)
    assert response.status == 403
    async with engine.connect() as conn:
        assert (await get_row(conn, ROOT, resource, row))["id"] == row


@pytest.mark.parametrize("name", GLOBAL)
async def test_a_global_resource_is_reached_whole_by_any_holder(
    name: str, client: TestClient, engine: AsyncEngine
) -> None:
    resource = RESOURCES[name]
    a = await unit(engine, "部门A")
    b = await unit(engine, "部门B")
    row, _ = await make_row(engine, resource, None)
    for department in (a, b):
        user = await person(engine, department, grants(resource, "dept"))
        assert row in await listed(client, user, resource)
        response = await client.get(f"/api/r/{name}/{row}", headers=user.headers)
        assert response.status == 200
