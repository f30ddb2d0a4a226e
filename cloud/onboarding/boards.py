"""Department boards (部门板块维护, §21.2.3): the groups a hall's stationed departments are
shown and counted in (市场监管板块, 社会保障板块, …), as the declared resource
`department_board` — its list with filters, Excel export, and the forms an administrator adds,
edits and deletes boards with.

A board belongs to an org unit (`department_id`, the creator's by default — usually the hall's
site or the region above it) and follows data permissions like every declared resource. A
stationed department names its board (`stationed_department.board_id`,
`cloud.onboarding.queries`); a board still named by one cannot be deleted (409 `in_use`, the
resource service's check of refs). A board's code is unique within its org unit (the table's
constraint; a second one is 409 `duplicate_value`).
"""

from __future__ import annotations

import sqlalchemy as sa

from cloud.db import metadata
from cloud.resources.catalog import HALL_MENU
from cloud.resources.declare import Field, MenuSpot, Resource, register

__all__ = ["DEPARTMENT_BOARD", "department_boards"]

# migration 0012
department_boards = sa.Table(
    "department_boards",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("sort_no", sa.Integer, nullable=False, server_default="0"),
    sa.Column("description", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("department_id", "code", name="department_boards_department_code_key"),
    sa.Index("department_boards_department", "department_id"),
)

DEPARTMENT_BOARD = register(
    Resource(
        name="department_board",
        label="部门板块",
        table=department_boards,
        fields=(
            Field(
                "name",
                "板块名称",
                required=True,
                max_length=100,
                filter="like",
                example="市场监管板块",
            ),
            Field("code", "板块编码", required=True, max_length=32, filter="eq", example="SCJG"),
            Field("sort_no", "排序号", kind="int", default=0, min=0, max=100_000, example=1),
            Field(
                "description",
                "说明",
                kind="textarea",
                max_length=500,
                example="市场主体登记、食品经营许可等",
            ),
            Field("enabled", "启用", kind="bool", default=True, filter="eq", example=True),
        ),
        order=("sort_no", "name"),
        columns=("name", "code", "sort_no", "enabled"),
        menu=MenuSpot(HALL_MENU, "部门板块维护", sort=130),
    )
)
