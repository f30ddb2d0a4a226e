"""What people see of the flows: the work table's lists (工作台: 待办件 / 参与件 / 已办件,
§7.1.6, §8.1), an instance with its status, current approvers and history (§21.4.1), and the
supervisors' view of what has waited how long (督办).

An instance is visible to its applicant, to everyone who was ever assigned a task of it or
acted on it, and to holders of `workflow.supervise` or `workflow.manage` whose data scope
reaches the applicant's department; to everyone else it does not exist (404)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.errors import ApiError, register_errors
from cloud.identity.principal import Principal, authorize, in_scope, scope_clause
from cloud.identity.tables import users
from cloud.workflow.business import BUSINESSES, Instance
from cloud.workflow.flows import MANAGE, SUPERVISE, load_steps
from cloud.workflow.tables import history, instances, tasks

__all__ = [
    "ACTED",
    "FINISHED",
    "ONGOING",
    "STATUS_LABELS",
    "Page",
    "as_instance",
    "describe",
    "done",
    "instance_view",
    "involved",
    "supervise",
    "todo",
    "visible",
]

register_errors({"unknown_instance": (404, "流程实例不存在")})

STATUS_LABELS = {
    "running": "审批中",
    "approved": "已通过",
    "rejected": "已驳回",
    "returned": "已退回申请人",
    "withdrawn": "已撤回",
}
ONGOING = ("running", "returned")
FINISHED = ("approved", "rejected", "withdrawn")
# the history actions that make someone a participant of an instance
ACTED = ("start", "resubmit", "approve", "reject", "delegate", "reassign", "withdraw")


@dataclass(frozen=True)
class Page:
    """Which page of a list: 1-based `number`, `size` rows (1–100)."""

    number: int = 1
    size: int = 20

    def __post_init__(self) -> None:
        if self.number < 1 or not 1 <= self.size <= 100:
            raise ApiError("invalid_request", "页码从 1 开始，每页 1–100 条")


async def instance_view(
    engine: AsyncEngine, principal: Principal, instance_id: str, *, now_ms: int
) -> dict[str, Any]:
    """One instance as `principal` may see it; 404 when they may not."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(sa.select(instances).where(instances.c.id == instance_id))
        ).first()
        if row is None or not await visible(conn, principal, row):
            raise ApiError("unknown_instance", instance_id)
        return await describe(conn, row, principal, now_ms=now_ms)


async def todo(engine: AsyncEngine, principal: Principal, page: Page) -> dict[str, Any]:
    """My pending tasks, the urged ones first (most recently urged first), then oldest first."""
    where = sa.and_(tasks.c.assignee_id == principal.id, tasks.c.status == "pending")
    statement = (
        sa.select(
            tasks.c.id.label("task_id"),
            tasks.c.step_name,
            tasks.c.created_at.label("assigned_at"),
            tasks.c.urged_at,
            tasks.c.urge_count,
            tasks.c.urge_note,
            tasks.c.delegated_from,
            instances,
        )
        .join(instances, instances.c.id == tasks.c.instance_id)
        .where(where)
        .order_by(
            tasks.c.urged_at.is_(None), tasks.c.urged_at.desc(), tasks.c.created_at, tasks.c.id
        )
    )
    async with engine.connect() as conn:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(tasks).where(where))
        rows = (await conn.execute(_paged(statement, page))).all()
        current = await _current_approvers(conn, [r.id for r in rows])
    items = [
        _summary(r, current)
        | {
            "task_id": r.task_id,
            "task_step_name": r.step_name,
            "assigned_at": r.assigned_at,
            "urged": r.urged_at is not None,
            "urged_at": r.urged_at,
            "urge_count": r.urge_count,
            "urge_note": r.urge_note,
            "delegated_from": r.delegated_from,
        }
        for r in rows
    ]
    return _page(items, total, page)


async def involved(engine: AsyncEngine, principal: Principal, page: Page) -> dict[str, Any]:
    """Instances I started or acted on that are still under way (running or returned)."""
    return await _participated(engine, principal, page, ONGOING)


async def done(engine: AsyncEngine, principal: Principal, page: Page) -> dict[str, Any]:
    """Finished instances (approved, rejected, withdrawn) I started or acted on."""
    return await _participated(engine, principal, page, FINISHED)


async def supervise(
    engine: AsyncEngine, principal: Principal, page: Page, *, now_ms: int
) -> dict[str, Any]:
    """Running instances within my `workflow.supervise` scope, longest waiting first, with how
    long each has waited at its current step and its pending tasks."""
    authorize(principal, SUPERVISE)
    where = sa.and_(
        instances.c.status == "running",
        scope_clause(
            principal,
            SUPERVISE,
            department=instances.c.department_id,
            owner=instances.c.applicant_id,
        ),
    )
    statement = (
        sa.select(instances).where(where).order_by(instances.c.step_started_at, instances.c.id)
    )
    async with engine.connect() as conn:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(instances).where(where))
        rows = (await conn.execute(_paged(statement, page))).all()
        current = await _current_approvers(conn, [r.id for r in rows])
    items = [
        _summary(r, current)
        | {
            "waited_ms": now_ms - r.step_started_at,
            # the pending tasks, for a manager's 改派 (reassign) and the urge counts
            "tasks": [
                {k: a[k] for k in ("task_id", "user_id", "name", "urge_count")}
                for a in current.get(r.id, [])
            ],
        }
        for r in rows
    ]
    return _page(items, total, page)


async def visible(conn: AsyncConnection, principal: Principal, row: sa.Row[Any]) -> bool:
    """Whether `principal` may see the instance `row`."""
    if principal.id == row.applicant_id:
        return True
    where = {"department": row.department_id, "owner": row.applicant_id}
    for permission in (SUPERVISE, MANAGE):
        if await in_scope(conn, principal, permission, **where):
            return True
    assigned = await conn.scalar(
        sa.select(sa.literal(1))
        .where(tasks.c.instance_id == row.id, tasks.c.assignee_id == principal.id)
        .limit(1)
    )
    if assigned is not None:
        return True
    acted = await conn.scalar(
        sa.select(sa.literal(1))
        .where(history.c.instance_id == row.id, history.c.actor_id == principal.id)
        .limit(1)
    )
    return acted is not None


async def describe(
    conn: AsyncConnection, row: sa.Row[Any], viewer: Principal, *, now_ms: int
) -> dict[str, Any]:
    """The instance `row` for `viewer` (who may see it): status, steps, current approvers,
    what the viewer may do, the history — and, for the applicant of a finished one, what its
    business reveals once."""
    steps = await load_steps(conn, row.flow_code, row.flow_version)
    pending = (
        await conn.execute(
            sa.select(tasks, users.c.name.label("assignee_name"))
            .join(users, users.c.id == tasks.c.assignee_id, isouter=True)
            .where(tasks.c.instance_id == row.id, tasks.c.status == "pending")
            .order_by(tasks.c.created_at, tasks.c.id)
        )
    ).all()
    events = await conn.execute(
        sa.select(history).where(history.c.instance_id == row.id).order_by(history.c.id)
    )
    applicant = viewer.id == row.applicant_id
    supervisor = await in_scope(
        conn, viewer, SUPERVISE, department=row.department_id, owner=row.applicant_id
    )
    manager = await in_scope(
        conn, viewer, MANAGE, department=row.department_id, owner=row.applicant_id
    )
    view: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "business_key": row.business_key,
        "record_id": row.record_id,
        "status": row.status,
        "status_label": STATUS_LABELS[row.status],
        "flow": {"code": row.flow_code, "version": row.flow_version},
        "steps": [{"name": s.name, "mode": s.mode} for s in steps],
        "step": row.step,
        "current_step": steps[row.step].name if row.status == "running" else None,
        "applicant": {"id": row.applicant_id, "name": row.applicant_name},
        "department_id": row.department_id,
        "form": row.form,
        "result": row.result or {},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "finished_at": row.finished_at,
        "waited_ms": now_ms - row.step_started_at if row.status == "running" else None,
        "current_approvers": [
            {
                "task_id": t.id,
                "user_id": t.assignee_id,
                "name": t.assignee_name,
                "since": t.created_at,
                "urged_at": t.urged_at,
                "urge_count": t.urge_count,
            }
            for t in pending
        ],
        "my_tasks": [t.id for t in pending if t.assignee_id == viewer.id],
        "can_withdraw": applicant and row.status in ONGOING,
        "can_resubmit": applicant and row.status == "returned",
        "can_urge": (applicant or supervisor) and row.status == "running",
        "can_reassign": manager and row.status == "running",
        "history": [
            {
                "at": e.at,
                "actor_id": e.actor_id,
                "actor_name": e.actor_name,
                "action": e.action,
                "step": e.step,
                "step_name": e.step_name,
                "comment": e.comment,
                "detail": e.detail,
            }
            for e in events
        ],
    }
    business = BUSINESSES.get(row.business_key)
    if applicant and business is not None and business.reveal is not None:
        shown = await business.reveal(conn, as_instance(row))
        if shown:
            view["revealed"] = dict(shown)
    return view


def as_instance(row: sa.Row[Any]) -> Instance:
    return Instance(
        id=row.id,
        business_key=row.business_key,
        record_id=row.record_id,
        applicant_id=row.applicant_id,
        department_id=row.department_id,
        form=row.form,
        result=row.result or {},
        status=row.status,
    )


# ---------------------------------------------------------------------------- helpers


async def _participated(
    engine: AsyncEngine, principal: Principal, page: Page, statuses: Sequence[str]
) -> dict[str, Any]:
    acted = sa.select(history.c.instance_id).where(
        history.c.actor_id == principal.id, history.c.action.in_(ACTED)
    )
    where = sa.and_(
        instances.c.status.in_(statuses),
        sa.or_(instances.c.applicant_id == principal.id, instances.c.id.in_(acted)),
    )
    statement = (
        sa.select(instances).where(where).order_by(instances.c.updated_at.desc(), instances.c.id)
    )
    async with engine.connect() as conn:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(instances).where(where))
        rows = (await conn.execute(_paged(statement, page))).all()
        current = await _current_approvers(conn, [r.id for r in rows])
    return _page([_summary(r, current) for r in rows], total, page)


async def _current_approvers(
    conn: AsyncConnection, instance_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The pending tasks' step and assignees of each instance, in one query."""
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in instance_ids}
    if not instance_ids:
        return found
    rows = await conn.execute(
        sa.select(
            tasks.c.instance_id,
            tasks.c.id,
            tasks.c.step_name,
            tasks.c.assignee_id,
            tasks.c.urge_count,
            users.c.name,
        )
        .join(users, users.c.id == tasks.c.assignee_id, isouter=True)
        .where(tasks.c.instance_id.in_(instance_ids), tasks.c.status == "pending")
        .order_by(tasks.c.created_at, tasks.c.id)
    )
    for r in rows:
        found[r.instance_id].append(
            {
                "task_id": r.id,
                "user_id": r.assignee_id,
                "name": r.name,
                "step": r.step_name,
                "urge_count": r.urge_count,
            }
        )
    return found


def _summary(row: Any, current: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    approvers = current.get(row.id, [])
    return {
        "id": row.id,
        "title": row.title,
        "business_key": row.business_key,
        "status": row.status,
        "status_label": STATUS_LABELS[row.status],
        "applicant": {"id": row.applicant_id, "name": row.applicant_name},
        "department_id": row.department_id,
        "current_step": approvers[0]["step"] if approvers else None,
        "current_approvers": [{"user_id": a["user_id"], "name": a["name"]} for a in approvers],
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "finished_at": row.finished_at,
    }


def _paged(statement: sa.Select[Any], page: Page) -> sa.Select[Any]:
    return statement.limit(page.size).offset((page.number - 1) * page.size)


def _page(items: list[dict[str, Any]], total: int | None, page: Page) -> dict[str, Any]:
    return {"items": items, "total": int(total or 0), "page": page.number, "size": page.size}
