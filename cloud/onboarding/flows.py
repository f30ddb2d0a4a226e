"""The five onboarding businesses on the workflow engine (§21.1.1–21.1.6): what each checks at
submission and what its approval does, in the approval's own transaction.

- department entry: the department becomes stationed — its org unit is made under the site or
  region named in the form if there is none by that name, and it is recorded as stationed;
- department exit: the stationed department is marked departed and its org unit disabled;
- staff entry: a login account is made (`create_user`) with an initial password, which the
  applicant sees once on the approved instance; the staff archive gets its row, with the photo
  and the scanned notice and commitment the applicant attached — uploads they made themselves
  (`cloud.uploads`), readable by whoever may see the instance and, once filed, the record;
- staff cancellation: the account becomes `cancelled` (no sign-in; its sessions end);
- staff reinstatement: the account becomes `active` again.

Each starts, if there is no flow for it yet, with one step: the applicant's department head.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from cloud.audit import record
from cloud.errors import ApiError, register_errors
from cloud.identity.accounts import create_user, initial_password, set_status
from cloud.identity.org import create_unit
from cloud.identity.permissions import register
from cloud.identity.principal import Principal, in_scope
from cloud.identity.tables import org_units, users
from cloud.onboarding.forms import DepartmentEntry, DepartmentExit, StaffChange, StaffEntry
from cloud.onboarding.queries import ATTACHMENT_TYPES, STAFF_ARCHIVE, STATIONED_DEPARTMENT
from cloud.onboarding.tables import (
    password_reveals,
    staff,
    staff_attachments,
    stationed_departments,
)
from cloud.uploads import IMAGE_TYPES, add_reach, uploads
from cloud.workflow.business import (
    Business,
    HookContext,
    Instance,
    Submission,
    register_business,
)
from cloud.workflow.flows import Approver, Step
from cloud.workflow.lists import visible
from cloud.workflow.tables import instances

__all__ = [
    "APPLY",
    "ATTACHMENT_TYPES",
    "DEPARTMENT_ENTRY",
    "DEPARTMENT_EXIT",
    "DEPARTMENT_RESOURCE",
    "STAFF_CANCEL",
    "STAFF_ENTRY",
    "STAFF_REINSTATE",
    "STAFF_RESOURCE",
]

APPLY = register("onboarding.apply", "入驻管理：提交备案申请")
# the declared resources (cloud/onboarding/queries.py) whose tables the approvals fill
DEPARTMENT_RESOURCE = STATIONED_DEPARTMENT.name
STAFF_RESOURCE = STAFF_ARCHIVE.name

register_errors(
    {
        "invalid_form": (422, "申请表填写有误"),
        "already_stationed": (409, "该部门已进驻"),
        "not_stationed": (422, "该部门不是进驻部门"),
        "unknown_staff": (422, "入驻人员不存在"),
        "staff_status": (409, "该人员当前状态不能办理此业务"),
    }
)

_M = TypeVar("_M", bound=BaseModel)

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_HEAD = (Step(name="负责人审批", approvers=[Approver(type="department_head")]),)


async def _validate_department_entry(
    conn: AsyncConnection, principal: Principal, raw: Mapping[str, Any]
) -> Submission:
    form = _parse(DepartmentEntry, raw)
    site = await conn.scalar(sa.select(org_units.c.kind).where(org_units.c.id == form.site_id))
    if site not in ("site", "region"):
        raise ApiError("invalid_form", f"所进驻的网点或区域不存在：{form.site_id}")
    unit = await _unit_named(conn, form.site_id, form.name)
    if unit is not None and await _stationing(conn, unit) is not None:
        raise ApiError("already_stationed", form.name)
    return Submission(_json(form), None, f"部门进驻备案：{form.name}")


async def _department_entered(context: HookContext) -> Mapping[str, Any]:
    conn, now = context.conn, context.now_ms
    form = DepartmentEntry.model_validate(context.instance.form)
    unit = await _unit_named(conn, form.site_id, form.name)
    if unit is None:
        unit = await create_unit(
            conn,
            kind="department",
            name=form.name,
            parent_id=form.site_id,
            now_ms=now,
            short_name=form.short_name,
        )
    else:
        await conn.execute(org_units.update().where(org_units.c.id == unit).values(disabled=False))
    values = {
        "number": form.number,
        "name": form.name,
        "short_name": form.short_name,
        "site_id": form.site_id,
        "window_name": form.window_name,
        "window_count": form.window_count,
        "staff_count": form.staff_count,
        "leaders": _json(form.leaders),
        "items": [_json(i) for i in form.items],
        "status": "stationed",
        "entered_on": _day(now),
        "departed_on": None,
        "instance_id": context.instance.id,
        "created_by": context.instance.applicant_id,
        "updated_at": now,
    }
    # a flow's stationing of a unit has the unit's id: re-entered after a departure
    old = (
        await conn.execute(
            sa.select(stationed_departments).where(stationed_departments.c.id == unit)
        )
    ).first()
    if old is None:
        await conn.execute(
            stationed_departments.insert().values(id=unit, unit_id=unit, created_at=now, **values)
        )
    else:
        await conn.execute(
            stationed_departments.update()
            .where(stationed_departments.c.id == unit)
            .values(**values)
        )
    await record(
        conn,
        context.origin,
        action="create" if old is None else "update",
        resource=DEPARTMENT_RESOURCE,
        resource_id=unit,
        hall=None,
        old=dict(old._mapping) if old is not None else None,
        new={"unit_id": unit, **values},
        now_ms=now,
    )
    return {"record_id": unit, "unit_id": unit}


async def _validate_department_exit(
    conn: AsyncConnection, principal: Principal, raw: Mapping[str, Any]
) -> Submission:
    form = _parse(DepartmentExit, raw)
    row = await _stationing(conn, form.unit_id)
    if row is None:
        raise ApiError("not_stationed", form.unit_id)
    return Submission(
        _json(form) | {"unit_name": row.name}, form.unit_id, f"部门调离备案：{row.name}"
    )


async def _department_exited(context: HookContext) -> Mapping[str, Any]:
    conn, now = context.conn, context.now_ms
    form = DepartmentExit.model_validate(
        {k: v for k, v in context.instance.form.items() if k != "unit_name"}
    )
    done = await conn.execute(
        stationed_departments.update()
        .where(
            stationed_departments.c.unit_id == form.unit_id,
            stationed_departments.c.status == "stationed",
        )
        .values(status="departed", departed_on=form.date, updated_at=now)
    )
    if done.rowcount == 0:
        raise ApiError("not_stationed", form.unit_id)
    await conn.execute(
        org_units.update().where(org_units.c.id == form.unit_id).values(disabled=True)
    )
    await record(
        conn,
        context.origin,
        action="update",
        resource=DEPARTMENT_RESOURCE,
        resource_id=form.unit_id,
        hall=None,
        old={"status": "stationed"},
        new={"status": "departed", "departed_on": form.date.isoformat()},
        now_ms=now,
    )
    return {"departed_on": form.date.isoformat()}


async def _validate_staff_entry(
    conn: AsyncConnection, principal: Principal, raw: Mapping[str, Any]
) -> Submission:
    form = _parse(StaffEntry, raw)
    unit = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.id == form.unit_id))
    if unit is None:
        raise ApiError("invalid_form", f"派驻单位不存在：{form.unit_id}")
    taken = await conn.scalar(sa.select(users.c.id).where(users.c.username == form.username))
    if taken is not None:
        raise ApiError("username_taken", form.username)
    await _check_own_uploads(conn, principal, form)
    return Submission(_json(form), None, f"人员入驻备案：{form.name}")


async def _staff_entered(context: HookContext) -> Mapping[str, Any]:
    conn, now = context.conn, context.now_ms
    form = StaffEntry.model_validate(context.instance.form)
    password = initial_password()
    # the username may have been taken since the submission: create_user refuses (409) and
    # the approval rolls back with it
    user_id = await create_user(
        conn,
        username=form.username,
        name=form.name,
        department_id=form.unit_id,
        password=password,
        now_ms=now,
        created_by=context.actor.id,
        phone=form.mobile,
        email=form.email,
    )
    staff_id = str(ULID())
    # the unit named is a stationing's id (a flow's: the unit's own) or, not yet stationed,
    # the org unit itself; the record's department is the org unit either way
    stationed_unit = await conn.scalar(
        sa.select(stationed_departments.c.unit_id).where(stationed_departments.c.id == form.unit_id)
    )
    values = form.model_dump(exclude={"leaders", "attachments"}) | {
        "leaders": _json(form.leaders),
        "id": staff_id,
        "user_id": user_id,
        "department_id": stationed_unit or form.unit_id,
        "status": "active",
        "entered_on": form.entered_on or _day(now),
        "instance_id": context.instance.id,
        "created_at": now,
        "created_by": context.instance.applicant_id,
        "updated_at": now,
    }
    await conn.execute(staff.insert().values(**values))
    if form.attachments:
        await conn.execute(
            staff_attachments.insert(),
            [
                {"staff_id": staff_id, "upload_id": upload, "sort": n, "created_at": now}
                for n, upload in enumerate(dict.fromkeys(form.attachments))
            ],
        )
    await conn.execute(
        password_reveals.insert().values(
            instance_id=context.instance.id, user_id=user_id, password=password, created_at=now
        )
    )
    await record(
        conn,
        context.origin,
        action="create",
        resource=STAFF_RESOURCE,
        resource_id=staff_id,
        hall=None,
        new=values | {"attachments": form.attachments},
        now_ms=now,
    )
    return {
        "record_id": staff_id,
        "user_id": user_id,
        "username": form.username,
        "account_created": True,
        "password_shown": False,
    }


async def _reveal_password(conn: AsyncConnection, instance: Instance) -> Mapping[str, Any] | None:
    """The initial password, to the applicant, once: its row goes as it is shown."""
    if instance.status != "approved":
        return None
    row = (
        await conn.execute(
            sa.select(password_reveals).where(password_reveals.c.instance_id == instance.id)
        )
    ).first()
    if row is None:
        return None
    await conn.execute(
        password_reveals.delete().where(password_reveals.c.instance_id == instance.id)
    )
    return {"username": instance.result.get("username"), "initial_password": row.password}


async def _validate_staff_cancel(
    conn: AsyncConnection, principal: Principal, raw: Mapping[str, Any]
) -> Submission:
    return await _staff_change(conn, raw, "active", "人员取消备案")


async def _validate_staff_reinstate(
    conn: AsyncConnection, principal: Principal, raw: Mapping[str, Any]
) -> Submission:
    return await _staff_change(conn, raw, "cancelled", "人员复职")


async def _staff_cancelled(context: HookContext) -> Mapping[str, Any]:
    return await _set_staff_status(context, "cancelled")


async def _staff_reinstated(context: HookContext) -> Mapping[str, Any]:
    return await _set_staff_status(context, "active")


DEPARTMENT_ENTRY = register_business(
    Business(
        key="onboarding.department_entry",
        label="部门进驻备案",
        start_permission=APPLY,
        validate=_validate_department_entry,
        on_approved=_department_entered,
        default_steps=_HEAD,
    )
)
DEPARTMENT_EXIT = register_business(
    Business(
        key="onboarding.department_exit",
        label="部门调离备案",
        start_permission=APPLY,
        validate=_validate_department_exit,
        on_approved=_department_exited,
        default_steps=_HEAD,
    )
)
STAFF_ENTRY = register_business(
    Business(
        key="onboarding.staff_entry",
        label="人员入驻备案",
        start_permission=APPLY,
        validate=_validate_staff_entry,
        on_approved=_staff_entered,
        reveal=_reveal_password,
        default_steps=_HEAD,
    )
)
STAFF_CANCEL = register_business(
    Business(
        key="onboarding.staff_cancel",
        label="人员取消备案",
        start_permission=APPLY,
        validate=_validate_staff_cancel,
        on_approved=_staff_cancelled,
        default_steps=_HEAD,
    )
)
STAFF_REINSTATE = register_business(
    Business(
        key="onboarding.staff_reinstate",
        label="人员复职",
        start_permission=APPLY,
        validate=_validate_staff_reinstate,
        on_approved=_staff_reinstated,
        default_steps=_HEAD,
    )
)


@add_reach
async def _attached_to_an_entry(conn: AsyncConnection, principal: Principal, row: Any) -> bool:
    """An upload attached to a staff entry reaches whoever may see the instance (its
    uploader is the applicant: nothing else can be attached)."""
    if row.uploaded_by is None:
        return False
    found = await conn.execute(
        sa.select(instances)
        .where(
            instances.c.business_key == STAFF_ENTRY.key,
            instances.c.applicant_id == row.uploaded_by,
        )
        .order_by(instances.c.created_at.desc())
        .limit(200)
    )
    for instance in found:
        if row.id in _entry_uploads(instance.form) and await visible(conn, principal, instance):
            return True
    return False


@add_reach
async def _filed_in_the_archive(conn: AsyncConnection, principal: Principal, row: Any) -> bool:
    """A staff record's attachment reaches whoever may view the record (its photo is a field
    of the declared resource, which `cloud.uploads` follows itself)."""
    records = await conn.execute(
        sa.select(staff.c.department_id, staff.c.created_by)
        .join(staff_attachments, staff_attachments.c.staff_id == staff.c.id)
        .where(staff_attachments.c.upload_id == row.id)
        .limit(20)
    )
    permission = f"{STAFF_RESOURCE}.view"
    for held in records:
        if await in_scope(
            conn, principal, permission, department=held.department_id, owner=held.created_by
        ):
            return True
    return False


# ---------------------------------------------------------------------------- helpers


async def _check_own_uploads(conn: AsyncConnection, principal: Principal, form: StaffEntry) -> None:
    """The photo and attachments are uploads of the applicant, of the kinds they may be: an
    id of someone else's file is refused like one that does not exist."""
    wanted = {name: [form.photo] for name in ("photo",) if form.photo} | (
        {"attachments": form.attachments} if form.attachments else {}
    )
    for name, ids in wanted.items():
        rows = {
            r.id: r
            for r in await conn.execute(
                sa.select(uploads.c.id, uploads.c.type, uploads.c.uploaded_by).where(
                    uploads.c.id.in_([i for i in ids if i])
                )
            )
        }
        allowed = IMAGE_TYPES if name == "photo" else ATTACHMENT_TYPES
        for upload in ids:
            row = rows.get(upload)
            if row is None or row.uploaded_by != principal.id:
                raise ApiError("invalid_form", f"{name}: 文件不存在或不是本人上传的")
            if row.type not in allowed:
                kinds = "、".join(sorted(allowed))
                raise ApiError("invalid_form", f"{name}: 只能是 {kinds} 文件")


def _entry_uploads(form: Mapping[str, Any]) -> set[str]:
    """The upload ids a staff entry's form holds."""
    found = {str(u) for u in form.get("attachments") or [] if u}
    if form.get("photo"):
        found.add(str(form["photo"]))
    return found


def _parse(model: type[_M], raw: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ApiError("invalid_form", f"{where}: {error['msg']}") from None


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _day(ms: int) -> dt.date:
    """The halls' date at moment `ms`."""
    return dt.datetime.fromtimestamp(ms / 1000, _SHANGHAI).date()


async def _stationing(conn: AsyncConnection, unit: str) -> Any:
    """The unit's current stationing (name, status), None when it is not stationed."""
    return (
        await conn.execute(
            sa.select(stationed_departments.c.name, stationed_departments.c.status)
            .where(
                stationed_departments.c.unit_id == unit,
                stationed_departments.c.status == "stationed",
            )
            .limit(1)
        )
    ).first()


async def _unit_named(conn: AsyncConnection, parent: str, name: str) -> str | None:
    found = await conn.scalar(
        sa.select(org_units.c.id)
        .where(
            org_units.c.parent_id == parent,
            org_units.c.name == name,
            org_units.c.kind == "department",
        )
        .limit(1)
    )
    return None if found is None else str(found)


async def _staff_change(
    conn: AsyncConnection, raw: Mapping[str, Any], expected: str, label: str
) -> Submission:
    form = _parse(StaffChange, raw)
    row = (
        await conn.execute(
            sa.select(staff.c.name, staff.c.unit_id, staff.c.status, staff.c.user_id).where(
                staff.c.id == form.staff_id
            )
        )
    ).first()
    if row is None or row.user_id is None:
        raise ApiError("unknown_staff", form.staff_id)
    if row.status != expected:
        raise ApiError(
            "staff_status", f"当前为「{'正常' if row.status == 'active' else '已取消'}」"
        )
    unit_name = await conn.scalar(sa.select(org_units.c.name).where(org_units.c.id == row.unit_id))
    shown = _json(form) | {"name": row.name, "unit_id": row.unit_id, "unit_name": unit_name}
    return Submission(shown, form.staff_id, f"{label}：{row.name}")


async def _set_staff_status(context: HookContext, status: str) -> Mapping[str, Any]:
    conn = context.conn
    staff_id = context.instance.record_id
    row = (await conn.execute(sa.select(staff).where(staff.c.id == staff_id))).first()
    if row is None or row.user_id is None:
        raise ApiError("unknown_staff", str(staff_id))
    old = await set_status(conn, row.user_id, "active" if status == "active" else "cancelled")
    await conn.execute(
        staff.update().where(staff.c.id == row.id).values(status=status, updated_at=context.now_ms)
    )
    await record(
        conn,
        context.origin,
        action="update",
        resource=STAFF_RESOURCE,
        resource_id=row.id,
        hall=None,
        old={"status": row.status, "account": old},
        new={
            "status": status,
            "account": status,
            "date": dt.date.fromisoformat(context.instance.form["date"]).isoformat(),
        },
        now_ms=context.now_ms,
    )
    return {"account_status": status}
