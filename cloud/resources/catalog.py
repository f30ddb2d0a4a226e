"""The first declared resources: dictionaries (§21.3.1), SMS templates (§21.2.6) and
positions (位置, §21.2.2), with their tables (migration 0008)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from cloud.db import metadata
from cloud.resources.declare import Change, Field, FieldError, MenuSpot, Resource, register

__all__ = [
    "DICTIONARY_CATEGORY",
    "DICTIONARY_ITEM",
    "POSITION",
    "SMS_TEMPLATE",
    "dictionary_categories",
    "dictionary_items",
    "positions",
    "sms_templates",
]

# parents in cloud/identity/menus.py; the hall settings (§21.2) have no parent entry yet
SYSTEM_MENU = "system"
HALL_MENU = "system"


def _kept() -> list[sa.Column[object]]:
    """The columns the resource service keeps: creator and times."""
    return [
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    ]


# a dictionary's categories (性别, 证件类型, …) and their items; global, not per department
dictionary_categories = sa.Table(
    "dictionary_categories",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text),
    *_kept(),
)

dictionary_items = sa.Table(
    "dictionary_items",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("category", sa.String(64), sa.ForeignKey("dictionary_categories.id"), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("sort_no", sa.Integer, nullable=False, server_default="0"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    *_kept(),
    sa.UniqueConstraint("category", "code", name="dictionary_items_category_code_key"),
)

sms_templates = sa.Table(
    "sms_templates",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
    *_kept(),
    sa.Index("sms_templates_department", "department_id"),
)

positions = sa.Table(
    "positions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("floor", sa.Integer),
    sa.Column("description", sa.Text),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
    *_kept(),
    sa.Index("positions_department", "department_id"),
    sa.Index("positions_floor", "floor"),
)


DICTIONARY_CATEGORY = register(
    Resource(
        name="dictionary_category",
        label="字典分类",
        table=dictionary_categories,
        fields=(
            Field(
                "code",
                "分类编码",
                required=True,
                max_length=64,
                unique=True,
                filter="eq",
                example="gender",
            ),
            Field("name", "分类名称", required=True, max_length=100, filter="like", example="性别"),
            Field("description", "说明", kind="textarea", max_length=500, example="人员性别"),
        ),
        department=None,
        scoped=False,
        order=("code",),
        menu=MenuSpot(SYSTEM_MENU, "字典分类", sort=110),
    )
)

DICTIONARY_ITEM = register(
    Resource(
        name="dictionary_item",
        label="字典数据",
        table=dictionary_items,
        fields=(
            Field(
                "category",
                "所属分类",
                kind="ref",
                ref="dictionary_category",
                required=True,
                filter="eq",
            ),
            Field(
                "code",
                "编码",
                required=True,
                max_length=64,
                unique=True,
                unique_with=("category",),
                filter="eq",
                example="male",
            ),
            Field("label", "名称", required=True, max_length=100, filter="like", example="男"),
            Field("sort_no", "排序号", kind="int", default=0, min=0, max=100_000, example=1),
            Field("enabled", "启用", kind="bool", default=True, filter="eq", example=True),
        ),
        title="label",
        department=None,
        scoped=False,
        order=("category", "sort_no", "code"),
        menu=MenuSpot(SYSTEM_MENU, "字典数据", sort=111),
    )
)


# a placeholder in a template: {name}, filled when a message is sent
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


async def _check_placeholders(change: Change) -> None:
    """A template's braces pair up around placeholder names; a stray brace would be sent to
    citizens as it is."""
    if change.new is None:
        return
    content = str(change.new.get("content") or "")
    for name in _PLACEHOLDER.findall(content):
        if not _PLACEHOLDER_NAME.match(name):
            raise FieldError("content", f"占位符 {{{name}}} 的名称只能是字母、数字和下划线")
    if "{" in _PLACEHOLDER.sub("", content) or "}" in _PLACEHOLDER.sub("", content):
        raise FieldError("content", "花括号不成对，占位符应写成 {name}")


SMS_TEMPLATE = register(
    Resource(
        name="sms_template",
        label="短信模板",
        table=sms_templates,
        fields=(
            Field(
                "code",
                "模板编码",
                required=True,
                max_length=64,
                unique=True,
                filter="eq",
                example="booking_ok",
            ),
            Field(
                "name", "模板名称", required=True, max_length=100, filter="like", example="预约成功"
            ),
            Field(
                "content",
                "模板内容",
                kind="textarea",
                required=True,
                max_length=500,
                filter="like",
                example="{name}您好，您已预约{date}的{business}业务。",
            ),
            Field("enabled", "启用", kind="bool", default=True, filter="eq", example=True),
        ),
        order=("code",),
        columns=("code", "name", "enabled"),
        menu=MenuSpot(HALL_MENU, "短信模板", sort=160),
        before=(_check_placeholders,),
    )
)

POSITION = register(
    Resource(
        name="position",
        label="位置",
        table=positions,
        fields=(
            Field(
                "name", "位置名称", required=True, max_length=100, filter="like", example="一楼大厅"
            ),
            Field("floor", "楼层", kind="int", min=-10, max=200, filter="range", example=1),
            Field("description", "说明", kind="textarea", max_length=500, example="东侧入口"),
        ),
        order=("floor", "name"),
        menu=MenuSpot(HALL_MENU, "位置维护", sort=120),
    )
)
