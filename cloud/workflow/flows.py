"""Flow definitions as data (流程设计 / 流程配置, §21.4.1–21.4.2): steps, their approvers and
modes, validated against the organisation and stored as versions — an edit is a new version,
and an instance keeps the version it started with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.audit import POLICIES, AuditPolicy, Origin, record
from cloud.errors import ApiError, register_errors
from cloud.identity.permissions import register
from cloud.identity.principal import Principal, authorize
from cloud.identity.tables import org_units, roles, users
from cloud.workflow.tables import flow_versions, flows, instances

__all__ = [
    "DESIGN",
    "MANAGE",
    "SUPERVISE",
    "Approver",
    "FlowDefinition",
    "Step",
    "create_flow",
    "disable_flow",
    "flow_detail",
    "flow_list",
    "flow_overview",
    "flow_view",
    "insert_flow",
    "load_steps",
    "update_flow",
    "validate_references",
]

DESIGN = register("workflow.design", "流程：设计与配置")
MANAGE = register("workflow.manage", "流程：改派待办")
SUPERVISE = register("workflow.supervise", "流程：督办")

FLOW_RESOURCE = "workflow_flow"
POLICIES[FLOW_RESOURCE] = AuditPolicy(FLOW_RESOURCE, "流程定义")

register_errors(
    {
        "invalid_flow": (422, "流程定义无效"),
        "flow_exists": (409, "流程编号已存在"),
        "business_key_taken": (409, "该业务已有流程"),
        "unknown_flow": (404, "流程不存在"),
    }
)

_CODE = r"^[A-Za-z0-9_.-]{1,64}$"


class Approver(BaseModel):
    """Who approves a step: a user; any active member of a role; the applicant's department
    head (负责人; none: the head of the nearest unit above); the head of a given unit; or the
    members of a role within the applicant's department."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["user", "role", "department_head", "unit_head", "department_role"]
    user: str | None = Field(None, max_length=64, description="users.id, for type user")
    role: str | None = Field(None, max_length=64, description="roles.code, for the role types")
    unit: str | None = Field(None, max_length=64, description="org_units.id, for unit_head")

    @model_validator(mode="after")
    def _needs(self) -> Approver:
        needed = {"user": "user", "role": "role", "department_role": "role", "unit_head": "unit"}
        field = needed.get(self.type)
        if field is not None and not getattr(self, field):
            raise ValueError(f"审批人类型 {self.type} 需要填写 {field}")
        return self


class Step(BaseModel):
    """One step (环节): its approvers, `any` (one approval completes it) or `all` (会签: every
    assignee approves; one rejection rejects), and where a rejection sends the instance."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    approvers: list[Approver] = Field(min_length=1, max_length=20)
    mode: Literal["any", "all"] = "any"
    on_reject: Literal["applicant", "previous", "end"] = "applicant"


class FlowDefinition(BaseModel):
    """A flow as the designer writes it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=_CODE)
    name: str = Field(min_length=1, max_length=100)
    business_key: str = Field(pattern=_CODE)
    steps: list[Step] = Field(min_length=1, max_length=20)


async def create_flow(
    engine: AsyncEngine,
    principal: Principal,
    definition: FlowDefinition,
    *,
    now_ms: int,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """A new flow at version 1 (workflow.design); 409 when its code or business key is used."""
    authorize(principal, DESIGN)
    async with engine.begin() as conn:
        await validate_references(conn, definition.steps)
        await insert_flow(conn, definition, now_ms=now_ms, created_by=principal.actor)
        await record(
            conn,
            origin or Origin(actor=principal.actor),
            action="create",
            resource=FLOW_RESOURCE,
            resource_id=definition.code,
            hall=None,
            new=definition.model_dump(mode="json") | {"version": 1},
            now_ms=now_ms,
        )
        return await flow_view(conn, definition.code)


async def update_flow(
    engine: AsyncEngine,
    principal: Principal,
    definition: FlowDefinition,
    *,
    now_ms: int,
    origin: Origin | None = None,
) -> dict[str, Any]:
    """A new version of an existing flow; running instances keep the version they have."""
    authorize(principal, DESIGN)
    async with engine.begin() as conn:
        head = (
            await conn.execute(
                sa.select(flows).where(flows.c.code == definition.code).with_for_update()
            )
        ).first()
        if head is None:
            raise ApiError("unknown_flow", definition.code)
        await validate_references(conn, definition.steps)
        await _check_business_key(conn, definition.business_key, definition.code)
        old = await _version_row(conn, definition.code, head.version)
        version = head.version + 1
        await conn.execute(
            flows.update()
            .where(flows.c.code == definition.code)
            .values(
                name=definition.name,
                business_key=definition.business_key,
                version=version,
                disabled=False,
                updated_at=now_ms,
            )
        )
        await _insert_version(conn, definition, version, now_ms, principal.actor)
        await record(
            conn,
            origin or Origin(actor=principal.actor),
            action="update",
            resource=FLOW_RESOURCE,
            resource_id=definition.code,
            hall=None,
            old=old,
            new=definition.model_dump(mode="json") | {"version": version},
            now_ms=now_ms,
        )
        return await flow_view(conn, definition.code)


async def disable_flow(
    engine: AsyncEngine,
    principal: Principal,
    code: str,
    *,
    now_ms: int,
    origin: Origin | None = None,
) -> None:
    """Stop a flow taking new submissions; running instances finish on their version."""
    authorize(principal, DESIGN)
    async with engine.begin() as conn:
        done = await conn.execute(
            flows.update()
            .where(flows.c.code == code, flows.c.disabled == sa.false())
            .values(disabled=True, updated_at=now_ms)
        )
        if done.rowcount == 0:
            raise ApiError("unknown_flow", code)
        await record(
            conn,
            origin or Origin(actor=principal.actor),
            action="delete",
            resource=FLOW_RESOURCE,
            resource_id=code,
            hall=None,
            old={"code": code, "disabled": False},
            now_ms=now_ms,
        )


async def flow_list(engine: AsyncEngine, principal: Principal) -> list[dict[str, Any]]:
    """Every flow with its newest version's summary (workflow.design)."""
    authorize(principal, DESIGN)
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(flows).order_by(flows.c.code))
        return [_head(row) for row in rows]


async def flow_overview(engine: AsyncEngine, principal: Principal) -> list[dict[str, Any]]:
    """Every flow with its newest version's steps and how many of its instances are under way
    (running or returned), for the designer's list (workflow.design)."""
    authorize(principal, DESIGN)
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(flows, flow_versions.c.steps)
            .join(
                flow_versions,
                sa.and_(
                    flow_versions.c.code == flows.c.code,
                    flow_versions.c.version == flows.c.version,
                ),
            )
            .order_by(flows.c.code)
        )
        under_way = await _under_way(conn, None)
        return [
            _head(row)
            | {
                "steps": row.steps,
                "under_way": sum(n for (code, _), n in under_way.items() if code == row.code),
            }
            for row in rows
        ]


async def flow_detail(
    engine: AsyncEngine, principal: Principal, code: str, version: int | None = None
) -> dict[str, Any]:
    """`flow_view` for the designer (workflow.design), each version with how many instances
    still run on it (they keep that version whatever is saved after)."""
    authorize(principal, DESIGN)
    async with engine.connect() as conn:
        view = await flow_view(conn, code, version)
        under_way = await _under_way(conn, code)
    for v in view["versions"]:
        v["under_way"] = under_way.get((code, v["version"]), 0)
    return view


async def flow_view(conn: AsyncConnection, code: str, version: int | None = None) -> dict[str, Any]:
    """A flow's head with one version's steps (the newest unless told) and its version list."""
    head = (await conn.execute(sa.select(flows).where(flows.c.code == code))).first()
    if head is None:
        raise ApiError("unknown_flow", code)
    shown = await _version_row(conn, code, version or head.version)
    if shown is None:
        raise ApiError("unknown_flow", f"{code} 第 {version} 版")
    versions = await conn.execute(
        sa.select(flow_versions.c.version, flow_versions.c.created_at, flow_versions.c.created_by)
        .where(flow_versions.c.code == code)
        .order_by(flow_versions.c.version)
    )
    return _head(head) | {
        "shown_version": shown["version"],
        "steps": shown["steps"],
        "versions": [
            {"version": v.version, "created_at": v.created_at, "created_by": v.created_by}
            for v in versions
        ],
    }


async def insert_flow(
    conn: AsyncConnection, definition: FlowDefinition, *, now_ms: int, created_by: str | None
) -> None:
    """Write a new flow at version 1 on `conn` (no permission check: the caller's)."""
    taken = await conn.scalar(sa.select(flows.c.code).where(flows.c.code == definition.code))
    if taken is not None:
        raise ApiError("flow_exists", definition.code)
    await _check_business_key(conn, definition.business_key, None)
    await conn.execute(
        flows.insert().values(
            code=definition.code,
            name=definition.name,
            business_key=definition.business_key,
            version=1,
            created_at=now_ms,
            updated_at=now_ms,
        )
    )
    await _insert_version(conn, definition, 1, now_ms, created_by)


async def load_steps(conn: AsyncConnection, code: str, version: int) -> list[Step]:
    """The steps of one version of a flow."""
    steps = await conn.scalar(
        sa.select(flow_versions.c.steps).where(
            flow_versions.c.code == code, flow_versions.c.version == version
        )
    )
    if steps is None:
        raise ApiError("unknown_flow", f"{code} 第 {version} 版")
    return [Step.model_validate(s) for s in steps]


async def validate_references(conn: AsyncConnection, steps: Sequence[Step]) -> None:
    """Refuse (422) approvers naming a user, role or unit that does not exist."""
    for number, step in enumerate(steps, start=1):
        for approver in step.approvers:
            where = f"第 {number} 个环节「{step.name}」"
            if approver.user is not None:
                found = await conn.scalar(
                    sa.select(users.c.status).where(users.c.id == approver.user)
                )
                if found is None:
                    raise ApiError("invalid_flow", f"{where}的审批人用户不存在：{approver.user}")
                if found != "active":
                    raise ApiError("invalid_flow", f"{where}的审批人用户已停用：{approver.user}")
            if approver.role is not None:
                found = await conn.scalar(
                    sa.select(roles.c.id).where(roles.c.code == approver.role)
                )
                if found is None:
                    raise ApiError("invalid_flow", f"{where}的审批角色不存在：{approver.role}")
            if approver.unit is not None:
                found = await conn.scalar(
                    sa.select(org_units.c.id).where(org_units.c.id == approver.unit)
                )
                if found is None:
                    raise ApiError("invalid_flow", f"{where}的审批机构不存在：{approver.unit}")


# ---------------------------------------------------------------------------- helpers


async def _under_way(conn: AsyncConnection, code: str | None) -> dict[tuple[str, int], int]:
    """How many instances are running or returned, by (flow, version): one flow's or all."""
    statement = (
        sa.select(instances.c.flow_code, instances.c.flow_version, sa.func.count())
        .where(instances.c.status.in_(("running", "returned")))
        .group_by(instances.c.flow_code, instances.c.flow_version)
    )
    if code is not None:
        statement = statement.where(instances.c.flow_code == code)
    return {(r[0], r[1]): int(r[2]) for r in await conn.execute(statement)}


async def _check_business_key(conn: AsyncConnection, key: str, own_code: str | None) -> None:
    holder = await conn.scalar(sa.select(flows.c.code).where(flows.c.business_key == key))
    if holder is not None and holder != own_code:
        raise ApiError("business_key_taken", f"{key}（流程 {holder}）")


async def _insert_version(
    conn: AsyncConnection,
    definition: FlowDefinition,
    version: int,
    now_ms: int,
    created_by: str | None,
) -> None:
    await conn.execute(
        flow_versions.insert().values(
            code=definition.code,
            version=version,
            name=definition.name,
            business_key=definition.business_key,
            steps=[s.model_dump(mode="json", exclude_none=True) for s in definition.steps],
            created_at=now_ms,
            created_by=created_by,
        )
    )


async def _version_row(conn: AsyncConnection, code: str, version: int) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            sa.select(flow_versions).where(
                flow_versions.c.code == code, flow_versions.c.version == version
            )
        )
    ).first()
    if row is None:
        return None
    return {
        "code": row.code,
        "name": row.name,
        "business_key": row.business_key,
        "steps": row.steps,
        "version": row.version,
    }


def _head(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "business_key": row.business_key,
        "version": row.version,
        "disabled": bool(row.disabled),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
