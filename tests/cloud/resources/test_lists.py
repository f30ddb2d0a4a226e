"""Lists of a declared resource: combined filters, paging, sorting, refused filters, and the
Excel export of exactly the filtered rows under Chinese headers."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.permissions import RIGHTS
from cloud.identity.principal import Scope
from tests.cloud.conftest import ADMIN
from tests.cloud.people import person, unit
from tests.cloud.resources.conftest import sheet_rows

ALL_DEPT: dict[str, Scope] = {f"position.{r}": "dept" for r in RIGHTS}


async def positions(client: TestClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    response = await client.get(f"/api/r/position?{query}", headers=headers)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def test_filters_combine_and_pages_and_sorting_hold(
    client: TestClient, engine: AsyncEngine
) -> None:
    hall = await unit(engine, "政务服务中心")
    clerk = await person(engine, hall, ALL_DEPT)
    for floor in range(1, 6):
        for side in ("东区", "西区"):
            response = await client.post(
                "/api/r/position",
                json={"name": f"{floor}楼{side}", "floor": floor},
                headers=clerk.headers,
            )
            assert response.status == 201
    h = clerk.headers
    answer = await positions(client, h, "name=东区&floor__from=2&floor__to=4&sort=-floor")
    assert [r["name"] for r in answer["rows"]] == ["4楼东区", "3楼东区", "2楼东区"]
    assert answer["total"] == 3
    answer = await positions(client, h, "page_size=4&page=3&sort=floor,name")
    assert answer["total"] == 10 and [r["name"] for r in answer["rows"]] == ["5楼东区", "5楼西区"]
    answer = await positions(client, h, "name=%25&floor=")  # a % is a character, not a wildcard
    assert answer["total"] == 0
    first = await positions(client, h, "sort=name&page_size=5")
    second = await positions(client, h, "sort=name&page_size=5&page=2")
    names = [r["name"] for r in first["rows"] + second["rows"]]
    assert names == sorted(names) and len(set(names)) == 10

    for query in (
        "colour=red",
        "floor=three",
        "floor__from=x",
        "name__from=a",
        "description=入口",
        "sort=secret",
        "page=0",
        "page_size=201",
        "page=abc",
    ):
        response = await client.get(f"/api/r/position?{query}", headers=h)
        assert response.status == 400, query
        assert (await response.json())["error"]["code"] == "invalid_filter"


async def test_the_export_holds_exactly_the_filtered_rows(
    client: TestClient, engine: AsyncEngine
) -> None:
    hall = await unit(engine, "政务服务中心")
    clerk = await person(engine, hall, ALL_DEPT)
    for floor in range(1, 4):
        await client.post(
            "/api/r/position",
            json={"name": f"{floor}楼", "floor": floor, "description": f"说明{floor}"},
            headers=clerk.headers,
        )
    await client.post("/api/r/position", json={"name": "别处", "floor": 2}, headers=ADMIN)
    query = "floor__from=2&sort=-floor&page_size=1"
    listed = await positions(client, clerk.headers, query)
    response = await client.get(f"/api/r/position/export.xlsx?{query}", headers=clerk.headers)
    assert response.status == 200
    assert "filename*=UTF-8''%E4%BD%8D%E7%BD%AE.xlsx" in response.headers["Content-Disposition"]
    rows = sheet_rows(await response.read())
    assert rows == [["位置名称", "楼层", "说明"], ["3楼", 3, "说明3"], ["2楼", 2, "说明2"]]
    assert listed["total"] == 2
    response = await client.get("/api/r/position/export.xlsx?floor=x", headers=clerk.headers)
    assert response.status == 400


async def test_the_schema_describes_the_form(client: TestClient, engine: AsyncEngine) -> None:
    hall = await unit(engine, "政务服务中心")
    viewer = await person(engine, hall, {"dictionary_item.view": "all"})
    response = await client.get("/api/r/dictionary_item/schema", headers=viewer.headers)
    assert response.status == 200
    schema = await response.json()
    assert schema["label"] == "字典数据" and schema["rights"] == ["view"]
    assert schema["scoped"] is False
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["category"]["ref"] == {"resource": "dictionary_category", "label": "字典分类"}
    assert fields["code"]["required"] is True and fields["code"]["max_length"] == 64
    assert schema["menu"] == {"parent": "system", "title": "字典数据"}
