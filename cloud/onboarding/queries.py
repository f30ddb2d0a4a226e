"""The onboarding queries as declared resources: stationed departments (进驻部门查询,
§21.1.3) and the staff archive (入驻人员查询, §21.1.7) — lists with their filters, Excel
export, and the records an administrator adds, edits and deletes directly.

The flows (`cloud.onboarding.flows`) fill both tables on approval; these declarations are how
they are read and corrected. A stationing's data scope is its own org unit (`unit_id`); a staff
record's is the org unit of the stationed department it names (`department_id`, kept by the
hooks here from the chosen 窗口单位, never chosen apart from it).

Not done yet: §21.1.7 (2) — a person's praise, complaint and violation records next to their
archive — waits for the modules that keep those records (§5, §7–§9).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.identity.principal import Principal
from cloud.identity.tables import org_closure, org_units
from cloud.onboarding.boards import DEPARTMENT_BOARD
from cloud.onboarding.tables import staff, stationed_departments
from cloud.resources.declare import Change, Field, FieldError, Resource, register

__all__ = [
    "DEPARTMENT_STATUSES",
    "STAFF_ARCHIVE",
    "STAFF_STATUSES",
    "STATIONED_DEPARTMENT",
]

DEPARTMENT_STATUSES = (("stationed", "已进驻"), ("departed", "已调离"))
STAFF_STATUSES = (("active", "正常"), ("cancelled", "已取消"))


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
        before=(_staff_unit_checked,),
        after=(_staff_unit_followed,),
    )
)


# ---------------------------------------------------------------------------- helpers


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
