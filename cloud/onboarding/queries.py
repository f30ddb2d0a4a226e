"""The onboarding queries as declared resources: stationed departments (进驻部门查询,
§21.1.3) and the staff archive (入驻人员查询, §21.1.7) — lists with their filters, Excel
export, and the records an administrator adds, edits and deletes directly.

The flows (`cloud.onboarding.flows`) fill both tables on approval; these declarations are how
they are read and corrected. A stationing's data scope is its own org unit (`unit_id`); a staff
record's is the org unit of the stationed department it names (`department_id`, kept by the
hooks here from the chosen 窗口单位, never chosen apart from it).

A staff record with a login account keeps the account in step: editing its name, mobile phone or
e-mail changes the account's (`users`) in the same transaction, audited as the user's change; it
is deleted only once the account is cancelled (取消备案) — an active or disabled one refuses it.
Its signed documents (告知书和承诺书, `staff_attachments`) are added and removed by whoever may
edit the record (`attach_documents`, `detach_documents`), each change audited on the record.

Not done yet: §21.1.7 (2) — a person's praise, complaint and violation records next to their
archive — waits for the modules that keep those records (§5, §7–§9).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import Origin, record
from cloud.db import is_postgresql
from cloud.errors import ApiError, register_errors
from cloud.identity.principal import Principal, authorize, check_record
from cloud.identity.tables import org_closure, org_units, users
from cloud.onboarding.boards import DEPARTMENT_BOARD
from cloud.onboarding.tables import staff, staff_attachments, stationed_departments
from cloud.resources.declare import Change, Field, FieldError, Resource, register
from cloud.uploads import uploads

__all__ = [
    "ATTACHMENT_TYPES",
    "DEPARTMENT_STATUSES",
    "STAFF_ARCHIVE",
    "STAFF_STATUSES",
    "STATIONED_DEPARTMENT",
    "attach_documents",
    "detach_documents",
]

DEPARTMENT_STATUSES = (("stationed", "已进驻"), ("departed", "已调离"))
STAFF_STATUSES = (("active", "正常"), ("cancelled", "已取消"))
# what the scanned notice and commitment may be (§21.1.4 (4))
ATTACHMENT_TYPES = frozenset({"pdf", "jpg", "png", "doc", "docx"})
# the archive's fields its login account repeats: archive field -> `users` column
_ACCOUNT_FIELDS = {"name": "name", "mobile": "phone", "email": "email"}

register_errors(
    {
        "staff_account_active": (
            409,
            "该人员的登录账号仍在使用，不能删除档案，请先办理人员取消备案（取消备案）",
        ),
        "unknown_attachment": (422, "告知书和承诺书：文件不存在，请重新上传"),
        "attachment_type": (
            422,
            "告知书和承诺书：只能是 " + "、".join(sorted(ATTACHMENT_TYPES)) + " 文件",
        ),
        "staff_not_found": (404, "入驻人员档案不存在"),
    }
)


async def _department_placed(change: Change) -> None:
    """A stationing recorded directly is under the site or region its unit is under."""
    if change.action == "delete":
        return
    unit = await change.conn.scalar(
        sa.select(stationed_departments.c.unit_id).where(stationed_departments.c.id == change.id)
    )
    parent = await change.conn.scalar(
        sa.select(org_units.c.parent_id).where(org_units.c.id == unit)
    )
    await change.conn.execute(
        stationed_departments.update()
        .where(stationed_departments.c.id == change.id)
        .values(site_id=parent)
    )


STATIONED_DEPARTMENT = register(
    Resource(
        name="stationed_department",
        label="进驻部门",
        table=stationed_departments,
        fields=(
            Field("number", "部门编号", max_length=64, filter="like", example="BM001"),
            Field(
                "name",
                "部门名称",
                required=True,
                max_length=200,
                filter="like",
                example="市场监督管理局",
            ),
            Field("short_name", "部门简称", max_length=100, filter="like", example="市监局"),
            Field(
                "board_id",
                "所属板块",
                kind="ref",
                ref=DEPARTMENT_BOARD.name,
                filter="eq",
            ),
            Field("window_name", "窗口名称", max_length=200, example="市场准入窗口"),
            Field("window_count", "窗口数量", kind="int", default=0, min=0, max=10_000, example=2),
            Field(
                "staff_count",
                "工作人员数量",
                kind="int",
                default=0,
                min=0,
                max=100_000,
                example=5,
            ),
            Field(
                "status",
                "进驻状态",
                kind="choice",
                options=DEPARTMENT_STATUSES,
                required=True,
                default="stationed",
                filter="eq",
                example="stationed",
            ),
            Field("entered_on", "进驻时间", kind="date", filter="range", example="2025-03-01"),
            Field("departed_on", "调离时间", kind="date"),
        ),
        department="unit_id",
        order=("number", "name"),
        after=(_department_placed,),
    )
)


async def _staff_unit_checked(change: Change) -> None:
    """The 窗口单位 chosen is a stationing whose unit the user may put records into."""
    if change.new is None:
        return
    chosen = change.new.get("unit_id")
    if change.old is not None and chosen == change.old.get("unit_id"):
        return
    unit = await change.conn.scalar(
        sa.select(stationed_departments.c.unit_id).where(stationed_departments.c.id == chosen)
    )
    if unit is None:
        raise FieldError("unit_id", "所选的进驻部门不存在")
    right = "create" if change.action == "create" else "edit"
    if not await _may_place(change.conn, change.principal, f"onboarding_staff.{right}", unit):
        raise FieldError("unit_id", "不能在该进驻部门下新增或移入人员")


async def _staff_unit_followed(change: Change) -> None:
    """The record's department (its data scope) is its stationed department's unit (a
    record filed by the flow for a unit not stationed yet keeps the unit it names)."""
    if change.new is None:
        return
    unit = await change.conn.scalar(
        sa.select(stationed_departments.c.unit_id).where(
            stationed_departments.c.id == change.new["unit_id"]
        )
    )
    if unit is None:
        return
    await change.conn.execute(
        staff.update().where(staff.c.id == change.id).values(department_id=unit)
    )


async def _staff_account_followed(change: Change) -> None:
    """The record's login account takes its new name, mobile phone and e-mail, audited as a
    change of the user (a record without an account has nothing to follow)."""
    if change.action != "update" or change.old is None or change.new is None:
        return
    user_id = await change.conn.scalar(sa.select(staff.c.user_id).where(staff.c.id == change.id))
    if user_id is None:
        return
    account = (
        await change.conn.execute(
            sa.select(*(users.c[c] for c in _ACCOUNT_FIELDS.values()))
            .where(users.c.id == user_id)
            .with_for_update()
        )
    ).first()
    if account is None:
        return
    wanted = {column: change.new.get(name) for name, column in _ACCOUNT_FIELDS.items()}
    differs = {c: v for c, v in wanted.items() if v != account._mapping[c]}
    if not differs:
        return
    await change.conn.execute(users.update().where(users.c.id == user_id).values(**differs))
    await record(
        change.conn,
        _account_origin(change),
        action="update",
        resource="user",
        resource_id=str(user_id),
        hall=None,
        old={c: account._mapping[c] for c in differs},
        new=differs,
        now_ms=_now_ms(),
    )


async def _staff_account_closed(change: Change) -> None:
    """A record is deleted only when it has no account or its account is cancelled: deleting
    it would leave a working login nobody could cancel through the archive any more."""
    if change.action != "delete" or change.old is None:
        return
    user_id = change.old.get("user_id")
    if user_id is None:
        return
    statement = sa.select(users.c.status).where(users.c.id == user_id)
    if is_postgresql(change.conn):
        statement = statement.with_for_update()
    status = await change.conn.scalar(statement)
    if status is not None and status != "cancelled":
        raise ApiError("staff_account_active")


def _text(name: str, label: str, length: int, example: Any = None, **more: Any) -> Field:
    return Field(name, label, max_length=length, example=example, **more)


STAFF_ARCHIVE = register(
    Resource(
        name="onboarding_staff",
        label="入驻人员",
        table=staff,
        fields=(
            Field(
                "unit_id",
                "窗口单位",
                kind="ref",
                ref="stationed_department",
                required=True,
                filter="eq",
            ),
            _text("name", "姓名", 100, "张三", required=True, filter="like"),
            Field(
                "gender",
                "性别",
                kind="choice",
                options=(("男", "男"), ("女", "女")),
                required=True,
                filter="eq",
                example="男",
            ),
            Field("birth_date", "出生日期", kind="date", example="1990-05-01"),
            _text("political_status", "政治面貌", 32, "群众"),
            Field("photo", "照片", kind="image"),
            Field("mobile", "手机号码", kind="phone", filter="like", example="13800000000"),
            Field("email", "电子邮箱", kind="email", max_length=200),
            _text("hall", "所在办事厅", 64, "市民中心", filter="like"),
            _text("floor", "楼层", 32, "2"),
            _text("window", "所在窗口", 64, "A01", filter="like"),
            _text("category", "人员类别", 32, "派驻人员", filter="like"),
            _text("stationed_post", "岗位", 100, "窗口受理", filter="like"),
            _text("post", "职务", 100, "科员", filter="like"),
            _text("department", "隶属部门", 200, "登记科"),
            _text("stationed_status", "派驻状态", 32, "在岗", filter="like"),
            Field("entered_on", "入驻时间", kind="date", filter="range", example="2025-03-01"),
            _text("work_number", "工作号", 64, "G001", filter="like"),
            Field("shuttle", "接送上下班", kind="bool", default=False, example=False),
            Field("canteen", "在联办中心用餐", kind="bool", default=False, example=False),
            Field("business_scope", "业务范围", kind="textarea", max_length=2000),
            Field("username", "登录账号", readonly=True),
            Field(
                "status",
                "备案状态",
                kind="choice",
                options=STAFF_STATUSES,
                readonly=True,
                filter="eq",
            ),
        ),
        order=("-entered_on", "name"),
        columns=(
            "name",
            "gender",
            "unit_id",
            "mobile",
            "hall",
            "window",
            "category",
            "stationed_post",
            "post",
            "stationed_status",
            "entered_on",
            "work_number",
            "status",
            "photo",
        ),
        before=(_staff_unit_checked, _staff_account_closed),
        after=(_staff_unit_followed, _staff_account_followed),
    )
)


async def attach_documents(
    conn: AsyncConnection,
    principal: Principal,
    origin: Origin,
    staff_id: str,
    upload_ids: Sequence[str],
) -> None:
    """Add signed documents to a staff record, after those it has (`onboarding_staff.edit`
    within scope): uploads of the principal's own of the attachment kinds; audited on the
    record."""
    wanted = list(dict.fromkeys(upload_ids))
    if not wanted:
        return
    before = await _editable_documents(conn, principal, staff_id)
    found = {
        r.id: r
        for r in await conn.execute(
            sa.select(uploads.c.id, uploads.c.type, uploads.c.uploaded_by).where(
                uploads.c.id.in_(wanted)
            )
        )
    }
    mine = None if principal.id.startswith("admin:") else principal.id
    for upload in wanted:
        row = found.get(upload)
        if row is None or (row.uploaded_by != mine and not principal.superuser):
            raise ApiError("unknown_attachment")
        if row.type not in ATTACHMENT_TYPES:
            raise ApiError("attachment_type")
    added = [u for u in wanted if u not in before]
    now = _now_ms()
    if added:
        last = await conn.scalar(
            sa.select(sa.func.max(staff_attachments.c.sort)).where(
                staff_attachments.c.staff_id == staff_id
            )
        )
        after = -1 if last is None else int(last)
        await conn.execute(
            staff_attachments.insert(),
            [
                {"staff_id": staff_id, "upload_id": u, "sort": after + n, "created_at": now}
                for n, u in enumerate(added, start=1)
            ],
        )
    await _documents_changed(conn, origin, staff_id, before, [*before, *added], now)


async def detach_documents(
    conn: AsyncConnection,
    principal: Principal,
    origin: Origin,
    staff_id: str,
    upload_ids: Sequence[str],
) -> None:
    """Take signed documents off a staff record (`onboarding_staff.edit` within scope); each
    must be one of its documents. The uploads themselves stay (the audit log names them)."""
    wanted = list(dict.fromkeys(upload_ids))
    if not wanted:
        return
    before = await _editable_documents(conn, principal, staff_id)
    if any(u not in before for u in wanted):
        raise ApiError("unknown_attachment")
    await conn.execute(
        staff_attachments.delete().where(
            staff_attachments.c.staff_id == staff_id, staff_attachments.c.upload_id.in_(wanted)
        )
    )
    after = [u for u in before if u not in wanted]
    await _documents_changed(conn, origin, staff_id, before, after, _now_ms())


# ---------------------------------------------------------------------------- helpers


async def _editable_documents(
    conn: AsyncConnection, principal: Principal, staff_id: str
) -> list[str]:
    """The record's documents in order, its row locked, when the principal may edit it; a
    record out of their scope answers as one that does not exist."""
    authorize(principal, STAFF_ARCHIVE.permission("edit"))
    statement = sa.select(staff.c.department_id, staff.c.created_by).where(staff.c.id == staff_id)
    if is_postgresql(conn):
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    if row is None:
        raise ApiError("staff_not_found")
    await check_record(
        conn,
        principal,
        STAFF_ARCHIVE.name,
        "edit",
        department=row.department_id,
        owner=row.created_by,
        not_found="staff_not_found",
    )
    return list(
        await conn.scalars(
            sa.select(staff_attachments.c.upload_id)
            .where(staff_attachments.c.staff_id == staff_id)
            .order_by(staff_attachments.c.sort, staff_attachments.c.upload_id)
        )
    )


async def _documents_changed(
    conn: AsyncConnection,
    origin: Origin,
    staff_id: str,
    before: list[str],
    after: list[str],
    now: int,
) -> None:
    if before == after:
        return
    await conn.execute(staff.update().where(staff.c.id == staff_id).values(updated_at=now))
    await record(
        conn,
        origin,
        action="update",
        resource=STAFF_ARCHIVE.name,
        resource_id=staff_id,
        hall=None,
        old={"attachments": before},
        new={"attachments": after},
        now_ms=now,
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _may_place(
    conn: AsyncConnection, principal: Principal, permission: str, unit: str
) -> bool:
    """Whether the principal's scope for `permission` reaches org unit `unit`."""
    scope = principal.scope(permission)
    if scope == "all":
        return True
    mine = principal.department_id
    if scope is None or mine is None:
        return False
    if scope in ("own", "dept"):
        return unit == mine
    below = await conn.scalar(
        sa.select(sa.literal(1)).where(
            org_closure.c.ancestor == mine, org_closure.c.descendant == unit
        )
    )
    return below is not None


def _account_origin(change: Change) -> Origin:
    """The archive change's origin for the account's audit row: its actor and address, its
    reason or, without one, that the archive was edited."""
    origin = change.origin or Origin(actor=change.principal.actor)
    return origin if origin.reason else origin.with_reason("入驻人员档案修改")
