"""The workflow over HTTP on PostgreSQL: flows designed through the API, two approvers acting
at once on an `any` step advance it once, strangers get 404, forged requests are refused."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.cloud.conftest import ADMIN
from tests.cloud.people import person, unit
from tests.cloud.workflow.helpers import role, user


async def call(
    cloud: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    body: Any = None,
) -> Any:
    response = await cloud.request(method, path, json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json() if status != 204 else None


async def test_flows_are_designed_versioned_and_validated_through_the_api(
    cloud: TestClient, db: AsyncEngine
) -> None:
    boss = await person(db, await unit(db, "办公室"))
    flow = {
        "code": "leave-api",
        "name": "请休假",
        "business_key": "leave_api",
        "steps": [{"name": "审批", "approvers": [user(boss)]}],
    }
    made = await call(cloud, "POST", "/api/workflow/flows", ADMIN, 201, flow)
    assert made["version"] == 1
    await call(cloud, "POST", "/api/workflow/flows", ADMIN, 409, flow)
    flow["steps"][0]["mode"] = "all"
    edited = await call(cloud, "PUT", "/api/workflow/flows/leave-api", ADMIN, 200, flow)
    assert edited["version"] == 2 and edited["steps"][0]["mode"] == "all"
    first = await call(cloud, "GET", "/api/workflow/flows/leave-api?version=1", ADMIN, 200)
    assert first["steps"][0]["mode"] == "any"
    bad = dict(flow, steps=[{"name": "审批", "approvers": [{"type": "user", "user": "x"}]}])
    refused = await call(cloud, "PUT", "/api/workflow/flows/leave-api", ADMIN, 422, bad)
    assert (
        refused["error"]["code"] == "invalid_flow" and "用户不存在" in refused["error"]["message"]
    )
    nobody = await person(db, None)
    await call(cloud, "GET", "/api/workflow/flows", nobody.headers, 403)
    await call(cloud, "DELETE", "/api/workflow/flows/leave-api", ADMIN, 204)
    applicant = await person(db, None)
    refused = await call(
        cloud,
        "POST",
        "/api/workflow/instances",
        applicant.headers,
        422,
        {"business_key": "leave_api", "form": {}},
    )
    assert refused["error"]["code"] == "no_flow"


async def test_two_approvers_at_once_advance_an_any_step_once(
    cloud: TestClient, db: AsyncEngine
) -> None:
    dept = await unit(db, "办公室")
    applicant, a, b, last = [await person(db, dept) for _ in range(4)]
    members = await role(db, a, b)
    flow = {
        "code": "race",
        "name": "或签",
        "business_key": "race",
        "steps": [
            {"name": "或签", "approvers": [{"type": "role", "role": members}]},
            {"name": "终审", "approvers": [user(last)]},
        ],
    }
    await call(cloud, "POST", "/api/workflow/flows", ADMIN, 201, flow)
    for _ in range(3):
        view = await call(
            cloud,
            "POST",
            "/api/workflow/instances",
            applicant.headers,
            201,
            {"business_key": "race", "form": {"n": 1}},
        )
        tasks = {t["user_id"]: t["task_id"] for t in view["current_approvers"]}
        answers = await asyncio.gather(
            *(
                cloud.post(
                    f"/api/workflow/tasks/{tasks[p.id]}/act",
                    headers=p.headers,
                    json={"decision": "approve", "comment": "同意"},
                )
                for p in (a, b)
            )
        )
        assert sorted(r.status for r in answers) == [200, 409]
        seen = await call(
            cloud, "GET", f"/api/workflow/instances/{view['id']}", applicant.headers, 200
        )
        assert seen["current_step"] == "终审"
        assert [t["user_id"] for t in seen["current_approvers"]] == [last.id]
        assert [h["action"] for h in seen["history"]] == ["start", "approve"]


async def test_only_the_parties_see_an_instance_and_only_assignees_act(
    cloud: TestClient, db: AsyncEngine
) -> None:
    dept = await unit(db, "办公室")
    applicant, boss, stranger = [await person(db, dept) for _ in range(3)]
    flow = {
        "code": "seen",
        "name": "审批",
        "business_key": "seen",
        "steps": [{"name": "审批", "approvers": [user(boss)]}],
    }
    await call(cloud, "POST", "/api/workflow/flows", ADMIN, 201, flow)
    view = await call(
        cloud,
        "POST",
        "/api/workflow/instances",
        applicant.headers,
        201,
        {"business_key": "seen", "form": {}},
    )
    task = view["current_approvers"][0]["task_id"]
    path = f"/api/workflow/instances/{view['id']}"
    approve = {"decision": "approve", "comment": "同意"}
    await call(cloud, "GET", path, stranger.headers, 404)
    await call(cloud, "POST", f"{path}/withdraw", stranger.headers, 404, {})
    await call(cloud, "POST", f"/api/workflow/tasks/{task}/act", stranger.headers, 404, approve)
    await call(cloud, "POST", f"/api/workflow/tasks/{task}/act", applicant.headers, 403, approve)
    # a forged cross-site request (no CSRF token) is refused before anything happens
    await call(cloud, "POST", f"/api/workflow/tasks/{task}/act", boss.cookie_only, 403, approve)
    todo = await call(cloud, "GET", "/api/workflow/todo", boss.headers, 200)
    assert [i["task_id"] for i in todo["items"]] == [task]
    await call(cloud, "POST", f"{path}/urge", applicant.headers, 200, {"comment": "请尽快"})
    todo = await call(cloud, "GET", "/api/workflow/todo", boss.headers, 200)
    assert todo["items"][0]["urged"] and todo["items"][0]["urge_note"] == "请尽快"
    done = await call(cloud, "POST", f"/api/workflow/tasks/{task}/act", boss.headers, 200, approve)
    assert done["status"] == "approved"
    for who in (applicant, boss):
        listed = await call(cloud, "GET", "/api/workflow/done?page=1&size=5", who.headers, 200)
        assert [i["id"] for i in listed["items"]] == [view["id"]]
    await call(cloud, "GET", "/api/workflow/done?page=0", boss.headers, 400)
    await call(cloud, "GET", "/api/workflow/todo", {}, 401)
