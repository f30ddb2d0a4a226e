"""Running flows: submitting a form, approving and rejecting tasks, withdrawing, resubmitting,
delegating and reassigning, urging (催办).

Every action is one transaction: the instance's row is locked first (`SELECT … FOR UPDATE` on
PostgreSQL; SQLite's writers are serialised by BEGIN IMMEDIATE), so two approvers acting at
once on an `any` step cannot both advance it — the second finds its task closed (409). The
business hooks, the history row and the audit row are written in that same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from ulid import ULID

from cloud.audit import POLICIES, AuditPolicy, Origin, record
from cloud.db import insert_ignoring_conflicts
from cloud.errors import ApiError, register_errors
from cloud.identity.principal import Principal, authorize, in_scope
from cloud.identity.tables import (
    org_closure,
    org_units,
    role_group_roles,
    roles,
    user_role_groups,
    user_roles,
    users,
)
from cloud.workflow.business import BUSINESSES, Business, Hook, HookContext, Submission
from cloud.workflow.flows import (
    MANAGE,
    SUPERVISE,
    Approver,
    Step,
    load_steps,
)
from cloud.workflow.lists import STATUS_LABELS, as_instance, describe, visible
from cloud.workflow.tables import flow_versions, flows, history, instances, tasks

__all__ = [
    "Decision",
    "act",
    "delegate",
    "resolve_approvers",
    "resubmit",
    "start",
    "urge",
    "withdraw",
]

INSTANCE_RESOURCE = "workflow_instance"
POLICIES[INSTANCE_RESOURCE] = AuditPolicy(INSTANCE_RESOURCE, "流程审批")

register_errors(
    {
        "no_flow": (422, "该业务没有可用的审批流程"),
        "no_approver": (422, "找不到审批人，无法提交"),
        "unknown_task": (404, "待办不存在"),
        "not_assignee": (403, "只有该待办的审批人才能处理"),
        "task_closed": (409, "该待办已处理或已结束"),
        "not_applicant": (403, "只有申请人才能执行该操作"),
        "instance_finished": (409, "流程已结束或不在可执行该操作的状态"),
        "invalid_delegate": (422, "不能转交给该用户"),
        "comment_required": (422, "驳回必须填写审批意见"),
    }
)

Decision = Literal["approve", "reject"]
_COMMENT_LENGTH = 2000


async def start(
    engine: AsyncEngine,
    principal: Principal,
    *,
    business_key: str,
    form: Mapping[str, Any],
    now_ms: int,
    record_id: str | None = None,
    title: str | None = None,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """Submit `form` for `business_key`'s flow: a new running instance at its first step,
    tasks for that step's approvers. 422 when there is no flow or no approver for a step."""
    business = BUSINESSES.get(business_key)
    if business is not None and business.start_permission is not None:
        authorize(principal, business.start_permission)
    async with engine.begin() as conn:
        head = await _flow_for(conn, business_key, business, now_ms)
        submission = await _validated(conn, principal, business, form, record_id, title)
        steps = await load_steps(conn, head.code, head.version)
        instance_id = str(ULID())
        await conn.execute(
            instances.insert().values(
                id=instance_id,
                flow_code=head.code,
                flow_version=head.version,
                business_key=business_key,
                record_id=submission.record_id,
                title=submission.title[:200],
                applicant_id=principal.id,
                applicant_name=principal.name,
                department_id=principal.department_id,
                form=submission.form,
                status="running",
                step=0,
                step_started_at=now_ms,
                created_at=now_ms,
                updated_at=now_ms,
            )
        )
        await _history(conn, instance_id, principal, "start", now_ms, step=0, steps=steps)
        await _enter_step(conn, instance_id, principal.department_id, steps, 0, now_ms)
        row = await _locked(conn, instance_id)
        await _audit(conn, principal, origin, row, "create", "start", None, now_ms, old=None)
        return await describe(conn, row, principal, now_ms=now_ms)


async def act(
    engine: AsyncEngine,
    principal: Principal,
    task_id: str,
    *,
    decision: Decision,
    comment: str | None,
    now_ms: int,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """Approve or reject a pending task of mine, with my opinion (审批意见). An approval
    completes an `any` step, or an `all` step once every assignee has approved; the last step's
    completion approves the instance and runs the business's hook. A rejection follows the
    step's `on_reject`: back to the applicant, back to the previous step, or the end."""
    comment = _comment(comment)
    if decision == "reject" and not comment:
        raise ApiError("comment_required")
    async with engine.begin() as conn:
        row, _ = await _task_for_action(conn, principal, task_id)
        steps = await load_steps(conn, row.flow_code, row.flow_version)
        step = steps[row.step]
        await conn.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(
                status="approved" if decision == "approve" else "rejected",
                comment=comment,
                acted_at=now_ms,
            )
        )
        await _history(
            conn, row.id, principal, decision, now_ms, step=row.step, steps=steps, comment=comment
        )
        if decision == "approve":
            remaining = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(tasks)
                .where(tasks.c.instance_id == row.id, tasks.c.status == "pending")
            )
            if step.mode == "any" or not remaining:
                await _close_pending(conn, row.id, now_ms)
                if row.step + 1 < len(steps):
                    await _enter_step(conn, row.id, row.department_id, steps, row.step + 1, now_ms)
                else:
                    await _finish(conn, row, "approved", principal, origin, now_ms)
        else:
            await _close_pending(conn, row.id, now_ms)
            if step.on_reject == "previous" and row.step > 0:
                await _enter_step(conn, row.id, row.department_id, steps, row.step - 1, now_ms)
            elif step.on_reject == "end":
                await _finish(conn, row, "rejected", principal, origin, now_ms)
            else:
                await _set(conn, row.id, now_ms, status="returned")
        new = await _locked(conn, row.id)
        await _audit(conn, principal, origin, new, "update", decision, comment, now_ms, old=row)
        return await describe(conn, new, principal, now_ms=now_ms)


async def withdraw(
    engine: AsyncEngine,
    principal: Principal,
    instance_id: str,
    *,
    comment: str | None,
    now_ms: int,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """The applicant takes back an instance still under way (running or returned)."""
    comment = _comment(comment)
    async with engine.begin() as conn:
        row = await _applicants(conn, principal, instance_id, ("running", "returned"))
        await _close_pending(conn, row.id, now_ms)
        await _history(conn, row.id, principal, "withdraw", now_ms, comment=comment)
        await _finish(conn, row, "withdrawn", principal, origin, now_ms)
        new = await _locked(conn, row.id)
        await _audit(conn, principal, origin, new, "update", "withdraw", comment, now_ms, old=row)
        return await describe(conn, new, principal, now_ms=now_ms)


async def resubmit(
    engine: AsyncEngine,
    principal: Principal,
    instance_id: str,
    *,
    form: Mapping[str, Any],
    now_ms: int,
    comment: str | None = None,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """The applicant sends a returned instance again, with the form edited; it starts over at
    the first step of the version it began with."""
    comment = _comment(comment)
    async with engine.begin() as conn:
        row = await _applicants(conn, principal, instance_id, ("returned",))
        business = BUSINESSES.get(row.business_key)
        submission = await _validated(conn, principal, business, form, row.record_id, row.title)
        steps = await load_steps(conn, row.flow_code, row.flow_version)
        await _set(
            conn,
            row.id,
            now_ms,
            form=submission.form,
            record_id=submission.record_id,
            title=submission.title[:200],
        )
        await _history(
            conn, row.id, principal, "resubmit", now_ms, step=0, steps=steps, comment=comment
        )
        await _enter_step(conn, row.id, row.department_id, steps, 0, now_ms)
        new = await _locked(conn, row.id)
        await _audit(conn, principal, origin, new, "update", "resubmit", comment, now_ms, old=row)
        return await describe(conn, new, principal, now_ms=now_ms)


async def delegate(
    engine: AsyncEngine,
    principal: Principal,
    task_id: str,
    *,
    to_user: str,
    comment: str | None,
    now_ms: int,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """Hand a pending task to another user: its assignee delegates (转交); a holder of
    `workflow.manage` whose scope reaches the instance reassigns any (改派, §21.4.2)."""
    comment = _comment(comment)
    async with engine.begin() as conn:
        row, task = await _task_for_action(conn, principal, task_id, managing=True)
        action = "delegate" if task.assignee_id == principal.id else "reassign"
        target = await conn.scalar(sa.select(users.c.status).where(users.c.id == to_user))
        if target != "active":
            raise ApiError("invalid_delegate", f"用户不存在或已停用：{to_user}")
        already = await conn.scalar(
            sa.select(tasks.c.id).where(
                tasks.c.instance_id == row.id,
                tasks.c.assignee_id == to_user,
                tasks.c.status == "pending",
            )
        )
        if already is not None:
            raise ApiError("invalid_delegate", "该用户已是本环节的审批人")
        await conn.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(status="delegated", comment=comment, acted_at=now_ms)
        )
        await conn.execute(
            tasks.insert().values(
                id=str(ULID()),
                instance_id=row.id,
                step=task.step,
                step_name=task.step_name,
                assignee_id=to_user,
                status="pending",
                delegated_from=task.assignee_id,
                created_at=now_ms,
                urged_at=task.urged_at,
                urge_count=task.urge_count,
                urge_note=task.urge_note,
            )
        )
        await _history(
            conn,
            row.id,
            principal,
            action,
            now_ms,
            step=task.step,
            step_name=task.step_name,
            comment=comment,
            detail={"from": task.assignee_id, "to": to_user},
        )
        await _set(conn, row.id, now_ms)
        new = await _locked(conn, row.id)
        await _audit(
            conn,
            principal,
            origin,
            new,
            "update",
            action,
            comment,
            now_ms,
            old=row,
            extra={"from": task.assignee_id, "to": to_user},
        )
        return await describe(conn, new, principal, now_ms=now_ms)


async def urge(
    engine: AsyncEngine,
    principal: Principal,
    instance_id: str,
    *,
    comment: str | None,
    now_ms: int,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """Remind the current approvers (催办): the applicant, or a supervisor in scope. The
    reminder shows on their to-do, which lists urged tasks first."""
    comment = _comment(comment)
    async with engine.begin() as conn:
        row = await _locked(conn, instance_id)
        if row is None or not await visible(conn, principal, row):
            raise ApiError("unknown_instance", instance_id)
        supervisor = await in_scope(
            conn, principal, SUPERVISE, department=row.department_id, owner=row.applicant_id
        )
        if principal.id != row.applicant_id and not supervisor:
            raise ApiError("forbidden_operation", "只有申请人或督办人可以催办")
        if row.status != "running":
            raise ApiError("instance_finished", STATUS_LABELS[row.status])
        await conn.execute(
            tasks.update()
            .where(tasks.c.instance_id == row.id, tasks.c.status == "pending")
            .values(urged_at=now_ms, urge_count=tasks.c.urge_count + 1, urge_note=comment)
        )
        await _history(
            conn,
            row.id,
            principal,
            "urge",
            now_ms,
            step=row.step,
            steps=await load_steps(conn, row.flow_code, row.flow_version),
            comment=comment,
        )
        await _audit(conn, principal, origin, row, "update", "urge", comment, now_ms, old=row)
        return await describe(conn, row, principal, now_ms=now_ms)


async def resolve_approvers(
    conn: AsyncConnection, step: Step, department_id: str | None
) -> list[str]:
    """The active users who approve `step` for an applicant of `department_id`, in order,
    without repeats."""
    found: list[str] = []
    for approver in step.approvers:
        for user_id in await _approver_users(conn, approver, department_id):
            if user_id not in found:
                found.append(user_id)
    return found


# ---------------------------------------------------------------------------- helpers


async def _flow_for(
    conn: AsyncConnection, key: str, business: Business | None, now_ms: int
) -> sa.Row[Any]:
    """The flow serving `key`; its business's default flow, made now, when there is none."""
    head = (await conn.execute(sa.select(flows).where(flows.c.business_key == key))).first()
    if head is None and business is not None and business.default_steps:
        # two first submissions at once: one inserts, the other finds it
        inserted = await conn.execute(
            insert_ignoring_conflicts(conn, flows).values(
                code=key,
                name=business.label,
                business_key=key,
                version=1,
                created_at=now_ms,
                updated_at=now_ms,
            )
        )
        if inserted.rowcount:
            await conn.execute(
                flow_versions.insert().values(
                    code=key,
                    version=1,
                    name=business.label,
                    business_key=key,
                    steps=[
                        s.model_dump(mode="json", exclude_none=True) for s in business.default_steps
                    ],
                    created_at=now_ms,
                    created_by="system",
                )
            )
        head = (await conn.execute(sa.select(flows).where(flows.c.business_key == key))).first()
    if head is None:
        raise ApiError("no_flow", key)
    if head.disabled:
        raise ApiError("no_flow", f"{key}（流程 {head.code} 已停用）")
    return head


async def _validated(
    conn: AsyncConnection,
    principal: Principal,
    business: Business | None,
    form: Mapping[str, Any],
    record_id: str | None,
    title: str | None,
) -> Submission:
    if business is not None and business.validate is not None:
        submission = await business.validate(conn, principal, form)
        return Submission(
            form=submission.form,
            record_id=submission.record_id or record_id,
            title=title or submission.title,
        )
    label = business.label if business is not None else "审批"
    return Submission(dict(form), record_id, title or f"{principal.name}的{label}")


async def _enter_step(
    conn: AsyncConnection,
    instance_id: str,
    department_id: str | None,
    steps: Sequence[Step],
    index: int,
    now_ms: int,
) -> None:
    step = steps[index]
    assignees = await resolve_approvers(conn, step, department_id)
    if not assignees:
        raise ApiError("no_approver", f"第 {index + 1} 个环节「{step.name}」没有可用的审批人")
    await conn.execute(
        tasks.insert(),
        [
            {
                "id": str(ULID()),
                "instance_id": instance_id,
                "step": index,
                "step_name": step.name,
                "assignee_id": user_id,
                "status": "pending",
                "created_at": now_ms,
            }
            for user_id in assignees
        ],
    )
    await _set(conn, instance_id, now_ms, status="running", step=index, step_started_at=now_ms)


async def _finish(
    conn: AsyncConnection,
    row: sa.Row[Any],
    status: Literal["approved", "rejected", "withdrawn"],
    actor: Principal,
    origin: Origin | None,
    now_ms: int,
) -> None:
    """End the instance with `status`, running its business's hook in this transaction."""
    await _set(conn, row.id, now_ms, status=status, finished_at=now_ms)
    business = BUSINESSES.get(row.business_key)
    hook: Hook | None = None
    if business is not None:
        hook = {
            "approved": business.on_approved,
            "rejected": business.on_rejected,
            "withdrawn": business.on_withdrawn,
        }[status]
    if hook is None:
        return
    current = await _locked(conn, row.id)
    context = HookContext(
        conn, as_instance(current), actor, origin or Origin(actor=actor.actor), now_ms
    )
    outcome = await hook(context)
    if outcome:
        result = dict(current.result or {}) | dict(outcome)
        values: dict[str, Any] = {"result": result}
        if isinstance(outcome.get("record_id"), str):
            values["record_id"] = outcome["record_id"]
        await conn.execute(instances.update().where(instances.c.id == row.id).values(**values))


async def _task_for_action(
    conn: AsyncConnection, principal: Principal, task_id: str, *, managing: bool = False
) -> tuple[sa.Row[Any], sa.Row[Any]]:
    """The locked instance and the task `principal` means to act on: 404 when they may not
    see it, 403 when it is not theirs (unless `managing` and they manage the instance), 409
    when it is no longer pending."""
    instance_id = await conn.scalar(sa.select(tasks.c.instance_id).where(tasks.c.id == task_id))
    row = await _locked(conn, instance_id) if instance_id is not None else None
    if row is None or not await visible(conn, principal, row):
        raise ApiError("unknown_task", task_id)
    task = (await conn.execute(sa.select(tasks).where(tasks.c.id == task_id))).one()
    if task.assignee_id != principal.id:
        manager = managing and await in_scope(
            conn, principal, MANAGE, department=row.department_id, owner=row.applicant_id
        )
        if not manager:
            raise ApiError("not_assignee")
    if task.status != "pending" or row.status != "running":
        raise ApiError("task_closed")
    return row, task


async def _applicants(
    conn: AsyncConnection, principal: Principal, instance_id: str, statuses: Sequence[str]
) -> sa.Row[Any]:
    row = await _locked(conn, instance_id)
    if row is None or not await visible(conn, principal, row):
        raise ApiError("unknown_instance", instance_id)
    if row.applicant_id != principal.id:
        raise ApiError("not_applicant")
    if row.status not in statuses:
        raise ApiError("instance_finished", STATUS_LABELS[row.status])
    found: sa.Row[Any] = row
    return found


async def _locked(conn: AsyncConnection, instance_id: str) -> Any:
    """The instance's row, locked until the transaction ends (PostgreSQL)."""
    return (
        await conn.execute(
            sa.select(instances).where(instances.c.id == instance_id).with_for_update()
        )
    ).first()


async def _close_pending(conn: AsyncConnection, instance_id: str, now_ms: int) -> None:
    await conn.execute(
        tasks.update()
        .where(tasks.c.instance_id == instance_id, tasks.c.status == "pending")
        .values(status="closed", acted_at=now_ms)
    )


async def _set(conn: AsyncConnection, instance_id: str, now_ms: int, **values: Any) -> None:
    await conn.execute(
        instances.update().where(instances.c.id == instance_id).values(updated_at=now_ms, **values)
    )


async def _history(
    conn: AsyncConnection,
    instance_id: str,
    actor: Principal,
    action: str,
    now_ms: int,
    *,
    step: int | None = None,
    steps: Sequence[Step] | None = None,
    step_name: str | None = None,
    comment: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    if step_name is None and step is not None and steps is not None:
        step_name = steps[step].name
    await conn.execute(
        history.insert().values(
            instance_id=instance_id,
            at=now_ms,
            actor_id=actor.id,
            actor_name=actor.name[:100],
            action=action,
            step=step,
            step_name=step_name,
            comment=comment,
            detail=detail,
        )
    )


async def _audit(
    conn: AsyncConnection,
    principal: Principal,
    origin: Origin | None,
    row: Any,
    kind: Literal["create", "update"],
    action: str,
    comment: str | None,
    now_ms: int,
    *,
    old: Any,
    extra: dict[str, Any] | None = None,
) -> None:
    def state(r: Any) -> dict[str, Any]:
        return {
            "status": r.status,
            "step": r.step,
            "business_key": r.business_key,
            "record_id": r.record_id,
        }

    new = state(row) | {"action": action, "comment": comment} | (extra or {})
    if kind == "create":
        new |= {"form": row.form, "title": row.title}
    await record(
        conn,
        origin or Origin(actor=principal.actor),
        action=kind,
        resource=INSTANCE_RESOURCE,
        resource_id=row.id,
        hall=None,
        old=state(old) if old is not None else None,
        new=new,
        now_ms=now_ms,
    )


def _comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    if len(text) > _COMMENT_LENGTH:
        raise ApiError("invalid_request", f"意见不能超过 {_COMMENT_LENGTH} 个字")
    return text or None


async def _approver_users(
    conn: AsyncConnection, approver: Approver, department_id: str | None
) -> list[str]:
    active = users.c.status == "active"
    if approver.type == "user":
        found = await conn.scalar(sa.select(users.c.id).where(users.c.id == approver.user, active))
        return [found] if found is not None else []
    if approver.type in ("role", "department_role"):
        if approver.type == "department_role" and department_id is None:
            return []
        role_id = sa.select(roles.c.id).where(roles.c.code == approver.role).scalar_subquery()
        members = sa.union(
            sa.select(user_roles.c.user_id).where(user_roles.c.role_id == role_id),
            sa.select(user_role_groups.c.user_id)
            .join(role_group_roles, role_group_roles.c.group_id == user_role_groups.c.group_id)
            .where(role_group_roles.c.role_id == role_id),
        ).subquery()
        query = sa.select(users.c.id).where(users.c.id.in_(sa.select(members.c.user_id)), active)
        if approver.type == "department_role":
            query = query.where(users.c.department_id == department_id)
        return list((await conn.scalars(query.order_by(users.c.username))).all())
    # a unit's head: for the applicant's department, the nearest unit upward that has one
    start_unit = approver.unit if approver.type == "unit_head" else department_id
    if start_unit is None:
        return []
    query = (
        sa.select(users.c.id)
        .select_from(
            org_closure.join(org_units, org_units.c.id == org_closure.c.ancestor).join(
                users, users.c.id == org_units.c.head_user_id
            )
        )
        .where(org_closure.c.descendant == start_unit, active)
        .order_by(org_closure.c.depth)
        .limit(1)
    )
    if approver.type == "unit_head":
        query = query.where(org_closure.c.depth == 0)
    head = await conn.scalar(query)
    return [head] if head is not None else []
