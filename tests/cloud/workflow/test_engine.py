"""The workflow engine's paths on PostgreSQL and on SQLite: approving through steps, rejecting
back to the applicant or the previous step, withdrawing, delegating and reassigning, `all` and
`any` steps, the department head found up the tree, versions, visibility, lists, urging,
supervising and the audit rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.db import audit_log, open_engine
from cloud.errors import ApiError
from cloud.workflow import engine as wf
from cloud.workflow import flows, lists
from tests.cloud.people import Person, now_ms, person, unit
from tests.cloud.workflow.helpers import DESIGNER, flow, head, principal, role, user


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(database_url)
    yield engine
    await engine.dispose()


async def start(db: AsyncEngine, who: Person, key: str, **form: Any) -> dict[str, Any]:
    return await wf.start(
        db, await principal(db, who), business_key=key, form=form or {"days": 2}, now_ms=now_ms()
    )


async def decide(
    db: AsyncEngine,
    who: Person,
    view: dict[str, Any],
    decision: wf.Decision = "approve",
    comment: str | None = "同意",
) -> dict[str, Any]:
    """`who` acts on their pending task of the instance `view`."""
    me = await principal(db, who)
    mine = (await lists.instance_view(db, me, view["id"], now_ms=now_ms()))["my_tasks"]
    assert len(mine) == 1, mine
    return await wf.act(db, me, mine[0], decision=decision, comment=comment, now_ms=now_ms())


def approvers(view: dict[str, Any]) -> set[str]:
    return {a["user_id"] for a in view["current_approvers"]}


async def test_an_instance_is_approved_through_two_steps(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, first, second = [await person(db, dept) for _ in range(3)]
    key = await flow(
        db,
        {"name": "科长审批", "approvers": [user(first)]},
        {"name": "主任审批", "approvers": [user(second)]},
    )
    view = await start(db, applicant, key)
    assert (view["status"], view["current_step"], approvers(view)) == (
        "running",
        "科长审批",
        {first.id},
    )
    view = await decide(db, first, view, comment="请主任审批")
    assert (view["current_step"], approvers(view)) == ("主任审批", {second.id})
    view = await decide(db, second, view)
    assert view["status"] == "approved" and view["current_approvers"] == []
    actions = [(h["action"], h["actor_id"], h["comment"]) for h in view["history"]]
    assert actions == [
        ("start", applicant.id, None),
        ("approve", first.id, "请主任审批"),
        ("approve", second.id, "同意"),
    ]


async def test_a_rejection_returns_it_to_the_applicant_who_edits_and_resubmits(
    db: AsyncEngine,
) -> None:
    dept = await unit(db, "办公室")
    applicant, boss = await person(db, dept), await person(db, dept)
    key = await flow(db, {"name": "审批", "approvers": [user(boss)]})
    view = await start(db, applicant, key)
    with pytest.raises(ApiError) as refused:  # a rejection says why
        await decide(db, boss, view, "reject", comment=None)
    assert refused.value.code == "comment_required"
    view = await decide(db, boss, view, "reject", comment="天数不对")
    assert view["status"] == "returned" and view["current_approvers"] == []
    me = await principal(db, applicant)
    seen = await lists.instance_view(db, me, view["id"], now_ms=now_ms())
    assert seen["can_resubmit"] and seen["can_withdraw"]
    with pytest.raises(ApiError) as refused:  # only the applicant resubmits
        await wf.resubmit(db, await principal(db, boss), view["id"], form={}, now_ms=now_ms())
    assert refused.value.code == "not_applicant"
    view = await wf.resubmit(db, me, view["id"], form={"days": 1}, now_ms=now_ms())
    assert (view["status"], view["form"], approvers(view)) == ("running", {"days": 1}, {boss.id})
    view = await decide(db, boss, view)
    assert view["status"] == "approved"


async def test_a_rejection_can_go_back_to_the_previous_step_or_end_it(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, first, second = [await person(db, dept) for _ in range(3)]
    key = await flow(
        db,
        {"name": "一审", "approvers": [user(first)], "on_reject": "end"},
        {"name": "二审", "approvers": [user(second)], "on_reject": "previous"},
    )
    view = await decide(db, first, await start(db, applicant, key))
    view = await decide(db, second, view, "reject", comment="一审再看看")
    assert (view["status"], view["current_step"], approvers(view)) == (
        "running",
        "一审",
        {first.id},
    )
    view = await decide(db, first, view, "reject", comment="不予通过")
    assert view["status"] == "rejected" and view["finished_at"] is not None


async def test_the_applicant_withdraws_a_running_instance(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, boss = await person(db, dept), await person(db, dept)
    key = await flow(db, {"name": "审批", "approvers": [user(boss)]})
    view = await start(db, applicant, key)
    with pytest.raises(ApiError) as refused:
        await wf.withdraw(db, await principal(db, boss), view["id"], comment=None, now_ms=now_ms())
    assert refused.value.code == "not_applicant"
    me = await principal(db, applicant)
    view = await wf.withdraw(db, me, view["id"], comment="不办了", now_ms=now_ms())
    assert view["status"] == "withdrawn" and view["current_approvers"] == []
    boss_p = await principal(db, boss)
    assert (await lists.todo(db, boss_p, lists.Page()))["total"] == 0
    with pytest.raises(ApiError) as refused:
        await wf.withdraw(db, me, view["id"], comment=None, now_ms=now_ms())
    assert refused.value.code == "instance_finished"


async def test_an_assignee_delegates_and_a_manager_reassigns(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, boss, deputy, other = [await person(db, dept) for _ in range(4)]
    manager = await person(db, dept, {"workflow.manage": "dept"})
    outsider = await person(db, await unit(db, "别的部门"), {"workflow.manage": "dept"})
    key = await flow(db, {"name": "审批", "approvers": [user(boss)]})
    view = await start(db, applicant, key)
    task = view["current_approvers"][0]["task_id"]
    with pytest.raises(ApiError) as refused:  # a stranger, even a manager elsewhere
        await wf.delegate(
            db, await principal(db, outsider), task, to_user=other.id, comment=None, now_ms=now_ms()
        )
    assert refused.value.code == "unknown_task"
    view = await wf.delegate(
        db,
        await principal(db, boss),
        task,
        to_user=deputy.id,
        comment="出差，请代批",
        now_ms=now_ms(),
    )
    assert approvers(view) == {deputy.id}
    task = view["current_approvers"][0]["task_id"]
    view = await wf.delegate(
        db, await principal(db, manager), task, to_user=other.id, comment="改派", now_ms=now_ms()
    )
    assert approvers(view) == {other.id}
    assert [h["action"] for h in view["history"]] == ["start", "delegate", "reassign"]
    with pytest.raises(ApiError) as refused:  # the deputy's task went with the reassignment
        await wf.act(
            db, await principal(db, deputy), task, decision="approve", comment=None, now_ms=now_ms()
        )
    assert refused.value.code == "task_closed"
    view = await decide(db, other, view)
    assert view["status"] == "approved"


async def test_an_all_step_needs_every_assignee_and_one_rejection_rejects(
    db: AsyncEngine,
) -> None:
    dept = await unit(db, "办公室")
    applicant, a, b, c = [await person(db, dept) for _ in range(4)]
    members = await role(db, a, b, c)
    key = await flow(
        db,
        {
            "name": "会签",
            "approvers": [{"type": "role", "role": members}],
            "mode": "all",
            "on_reject": "end",
        },
    )
    view = await start(db, applicant, key)
    assert approvers(view) == {a.id, b.id, c.id}
    view = await decide(db, a, view)
    view = await decide(db, b, view)
    assert view["status"] == "running" and approvers(view) == {c.id}
    view = await decide(db, c, view)
    assert view["status"] == "approved"

    view = await decide(db, a, await start(db, applicant, key))
    view = await decide(db, b, view, "reject", comment="不同意")
    assert view["status"] == "rejected" and view["current_approvers"] == []


async def test_an_any_step_completes_with_one_approval(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, a, b = [await person(db, dept) for _ in range(3)]
    key = await flow(db, {"name": "或签", "approvers": [user(a), user(b)]})
    view = await start(db, applicant, key)
    view = await decide(db, b, view)
    assert view["status"] == "approved"
    task_of_a = [
        t
        for t in (await lists.todo(db, await principal(db, a), lists.Page()))["items"]
        if t["id"] == view["id"]
    ]
    assert task_of_a == []


async def test_the_department_head_is_found_up_the_tree(db: AsyncEngine) -> None:
    region = await unit(db, "区", kind="region")
    dept = await unit(db, "局", parent=region)
    section = await unit(db, "科", parent=dept)
    applicant = await person(db, section)
    chief, director = await person(db, dept), await person(db, region)
    key = await flow(db, {"name": "负责人审批", "approvers": [{"type": "department_head"}]})
    with pytest.raises(ApiError) as refused:  # no head anywhere above
        await start(db, applicant, key)
    assert refused.value.code == "no_approver"
    await head(db, region, director)
    assert approvers(await start(db, applicant, key)) == {director.id}
    await head(db, dept, chief)
    assert approvers(await start(db, applicant, key)) == {chief.id}
    # a role within the applicant's department
    clerk, elsewhere = await person(db, section), await person(db, dept)
    members = await role(db, clerk, elsewhere)
    key = await flow(
        db, {"name": "科内", "approvers": [{"type": "department_role", "role": members}]}
    )
    assert approvers(await start(db, applicant, key)) == {clerk.id}


async def test_a_new_version_leaves_running_instances_on_theirs(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, old_boss, new_boss = [await person(db, dept) for _ in range(3)]
    key = await flow(db, {"name": "审批", "approvers": [user(old_boss)]})
    running = await start(db, applicant, key)
    edited = flows.FlowDefinition.model_validate(
        {
            "code": key,
            "name": "测试流程",
            "business_key": key,
            "steps": [
                {"name": "一审", "approvers": [user(new_boss)]},
                {"name": "二审", "approvers": [user(new_boss)]},
            ],
        }
    )
    answer = await flows.update_flow(db, DESIGNER, edited, now_ms=now_ms())
    assert answer["version"] == 2 and [v["version"] for v in answer["versions"]] == [1, 2]
    view = await decide(db, old_boss, running)
    assert view["status"] == "approved" and view["flow"]["version"] == 1
    fresh = await start(db, applicant, key)
    assert fresh["flow"]["version"] == 2 and approvers(fresh) == {new_boss.id}


async def test_definitions_naming_unknown_people_are_refused(db: AsyncEngine) -> None:
    for approver in (
        {"type": "user", "user": "nobody"},
        {"type": "role", "role": "nobody"},
        {"type": "unit_head", "unit": "nowhere"},
    ):
        definition = flows.FlowDefinition.model_validate(
            {
                "code": "bad",
                "name": "坏流程",
                "business_key": "bad",
                "steps": [{"name": "审批", "approvers": [approver]}],
            }
        )
        with pytest.raises(ApiError) as refused:
            await flows.create_flow(db, DESIGNER, definition, now_ms=now_ms())
        assert refused.value.code == "invalid_flow" and refused.value.status == 422
    someone = await principal(db, await person(db, None))
    with pytest.raises(ApiError) as refused:  # designing needs workflow.design
        await flows.flow_list(db, someone)
    assert refused.value.code == "forbidden_operation"


async def test_strangers_do_not_see_an_instance_and_others_cannot_act(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, boss = await person(db, dept), await person(db, dept)
    stranger = await principal(db, await person(db, dept))
    key = await flow(db, {"name": "审批", "approvers": [user(boss)]})
    view = await start(db, applicant, key)
    task = view["current_approvers"][0]["task_id"]
    for call in (
        lists.instance_view(db, stranger, view["id"], now_ms=now_ms()),
        wf.act(db, stranger, task, decision="approve", comment=None, now_ms=now_ms()),
        wf.urge(db, stranger, view["id"], comment=None, now_ms=now_ms()),
        wf.withdraw(db, stranger, view["id"], comment=None, now_ms=now_ms()),
    ):
        with pytest.raises(ApiError) as refused:
            await call
        assert refused.value.status == 404
    me = await principal(db, applicant)  # the applicant sees it but has no task to act on
    with pytest.raises(ApiError) as refused:
        await wf.act(db, me, task, decision="approve", comment=None, now_ms=now_ms())
    assert refused.value.code == "not_assignee"


async def test_the_work_table_lists_for_each_party(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, first, second = [await person(db, dept) for _ in range(3)]
    key = await flow(
        db,
        {"name": "一审", "approvers": [user(first)]},
        {"name": "二审", "approvers": [user(second)]},
    )
    one, two = await start(db, applicant, key), await start(db, applicant, key)
    me, p1, p2 = [await principal(db, p) for p in (applicant, first, second)]

    async def ids(list_: Any, who: Any) -> list[str]:
        return [i["id"] for i in (await list_(db, who, lists.Page()))["items"]]

    assert await ids(lists.todo, p1) == [one["id"], two["id"]]
    assert set(await ids(lists.involved, me)) == {one["id"], two["id"]}
    await decide(db, first, one)
    assert await ids(lists.todo, p1) == [two["id"]]
    assert await ids(lists.involved, p1) == [one["id"]]
    assert await ids(lists.todo, p2) == [one["id"]]
    await decide(db, second, one)
    for who in (me, p1, p2):
        assert await ids(lists.done, who) == [one["id"]]
    assert await ids(lists.involved, me) == [two["id"]]
    assert await ids(lists.involved, p2) == []
    page = await lists.todo(db, p1, lists.Page(1, 1))
    assert (page["total"], len(page["items"])) == (1, 1)
    item = (await lists.involved(db, me, lists.Page()))["items"][0]
    assert item["current_step"] == "一审" and item["current_approvers"][0]["user_id"] == first.id


async def test_an_urged_task_comes_first_on_the_to_do(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, boss = await person(db, dept), await person(db, dept)
    key = await flow(db, {"name": "审批", "approvers": [user(boss)]})
    older, newer = await start(db, applicant, key), await start(db, applicant, key)
    me = await principal(db, applicant)
    view = await wf.urge(db, me, newer["id"], comment="请尽快审批", now_ms=now_ms())
    assert view["current_approvers"][0]["urge_count"] == 1
    items = (await lists.todo(db, await principal(db, boss), lists.Page()))["items"]
    assert [i["id"] for i in items] == [newer["id"], older["id"]]
    assert (items[0]["urged"], items[0]["urge_note"], items[1]["urged"]) == (
        True,
        "请尽快审批",
        False,
    )
    with pytest.raises(ApiError) as refused:  # the approver does not urge themselves
        await wf.urge(db, await principal(db, boss), older["id"], comment=None, now_ms=now_ms())
    assert refused.value.code == "forbidden_operation"


async def test_supervisors_see_what_waits_in_their_scope(db: AsyncEngine) -> None:
    region = await unit(db, "区", kind="region")
    dept = await unit(db, "局", parent=region)
    other = await unit(db, "别局", parent=region)
    boss = await person(db, region)
    ours, theirs = await person(db, dept), await person(db, other)
    key = await flow(db, {"name": "审批", "approvers": [user(boss)]})
    mine = await start(db, ours, key)
    await start(db, theirs, key)
    supervisor = await principal(db, await person(db, dept, {"workflow.supervise": "dept"}))
    page = await lists.supervise(db, supervisor, lists.Page(), now_ms=now_ms() + 5_000)
    assert [i["id"] for i in page["items"]] == [mine["id"]]
    assert page["items"][0]["waited_ms"] >= 5_000
    view = await wf.urge(db, supervisor, mine["id"], comment="督办", now_ms=now_ms())
    assert view["current_approvers"][0]["urge_count"] == 1
    wide = await principal(db, await person(db, region, {"workflow.supervise": "dept_tree"}))
    assert (await lists.supervise(db, wide, lists.Page(), now_ms=now_ms()))["total"] >= 2
    nobody = await principal(db, ours)
    with pytest.raises(ApiError):
        await lists.supervise(db, nobody, lists.Page(), now_ms=now_ms())


async def test_every_action_and_flow_edit_is_in_the_audit_log(db: AsyncEngine) -> None:
    dept = await unit(db, "办公室")
    applicant, boss = await person(db, dept), await person(db, dept)
    key = await flow(db, {"name": "审批", "approvers": [user(boss)]})
    view = await decide(db, boss, await start(db, applicant, key), comment="好")
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.resource_id.in_([view["id"], key]))
                .order_by(audit_log.c.id)
            )
        ).all()
    assert [(r.resource, r.action, r.actor) for r in rows] == [
        ("workflow_flow", "create", "admin:ops"),
        ("workflow_instance", "create", f"user:{applicant.username}"),
        ("workflow_instance", "update", f"user:{boss.username}"),
    ]
    assert rows[2].new["action"] == "approve" and rows[2].new["comment"] == "好"
    assert (rows[2].old["status"], rows[2].new["status"]) == ("running", "approved")
