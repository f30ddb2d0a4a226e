"""Onboarding queries (§21.1.3, §21.1.7): stationed departments and the staff archive become
declared resources. A stationing gets an id of its own (the unit stays, for data scope), a date
of entry instead of a moment, and a creation time; the archive gets the org unit the person is
stationed in (`department_id`) apart from the stationed department they belong to (`unit_id`)
and an update time. Both tables are made anew and their rows copied, the same on PostgreSQL
and SQLite."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_payload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_SHANGHAI = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    conn = op.get_bind()
    old_departments = sa.Table("onboarding_departments", sa.MetaData(), *_departments_0009())
    new_departments = op.create_table("onboarding_departments_new", *_departments_0011())
    for row in conn.execute(sa.select(old_departments)).mappings():
        values = dict(row)
        entered_at = values.pop("entered_at")
        values |= {
            "id": values["unit_id"],
            "entered_on": dt.datetime.fromtimestamp(entered_at / 1000, _SHANGHAI).date(),
            "created_at": entered_at,
        }
        conn.execute(new_departments.insert().values(values))
    op.drop_table("onboarding_departments")
    op.rename_table(new_departments.name, "onboarding_departments")
    op.create_index("onboarding_departments_unit", "onboarding_departments", ["unit_id"])
    op.create_index("onboarding_departments_number", "onboarding_departments", ["number"])

    old_staff = sa.Table("onboarding_staff", sa.MetaData(), *_staff_0009())
    new_staff = op.create_table("onboarding_staff_new", *_staff_0011())
    for row in conn.execute(sa.select(old_staff)).mappings():
        values = dict(row) | {"department_id": row["unit_id"], "updated_at": row["created_at"]}
        conn.execute(new_staff.insert().values(values))
    op.drop_table("onboarding_staff")
    op.rename_table(new_staff.name, "onboarding_staff")
    op.create_index("onboarding_staff_unit", "onboarding_staff", ["unit_id"])
    op.create_index("onboarding_staff_department", "onboarding_staff", ["department_id"])
    op.create_index("onboarding_staff_user", "onboarding_staff", ["user_id"])


def downgrade() -> None:
    conn = op.get_bind()
    old_departments = op.create_table("onboarding_departments_old", *_departments_0009())
    new_departments = sa.Table("onboarding_departments", sa.MetaData(), *_departments_0011())
    # one row per unit again: a flow's stationing, else the newest recorded directly
    seen: set[str] = set()
    rows = conn.execute(
        sa.select(new_departments).order_by(
            (new_departments.c.id == new_departments.c.unit_id).desc(),
            new_departments.c.updated_at.desc(),
        )
    ).mappings()
    for row in rows:
        if row["unit_id"] in seen:
            continue
        seen.add(row["unit_id"])
        values = {c.name: row[c.name] for c in old_departments.c if c.name in row}
        values |= {
            "site_id": row["site_id"] or "",
            "leaders": row["leaders"] or {},
            "items": row["items"] or [],
            "entered_at": row["created_at"],
        }
        conn.execute(old_departments.insert().values(values))
    op.drop_table("onboarding_departments")
    op.rename_table(old_departments.name, "onboarding_departments")

    old_staff = op.create_table("onboarding_staff_old", *_staff_0009())
    new_staff = sa.Table("onboarding_staff", sa.MetaData(), *_staff_0011())
    for row in conn.execute(sa.select(new_staff)).mappings():
        values = {c.name: row[c.name] for c in old_staff.c if c.name in row}
        values |= {
            "unit_id": row["department_id"] or row["unit_id"],
            "leaders": row["leaders"] or {},
        }
        conn.execute(old_staff.insert().values(values))
    op.drop_table("onboarding_staff")
    op.rename_table(old_staff.name, "onboarding_staff")
    op.create_index("onboarding_staff_unit", "onboarding_staff", ["unit_id"])
    op.create_index("onboarding_staff_user", "onboarding_staff", ["user_id"])


# ---------------------------------------------------------------------------- helpers


def _departments_0009() -> list[Any]:
    return [
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("org_units.id"), primary_key=True),
        sa.Column("number", sa.String(64)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("short_name", sa.String(100)),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("window_name", sa.String(200)),
        sa.Column("window_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("staff_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("leaders", _payload, nullable=False),
        sa.Column("items", _payload, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entered_at", sa.BigInteger, nullable=False),
        sa.Column("departed_on", sa.Date),
        sa.Column("instance_id", sa.String(64)),
        sa.Column("created_by", sa.String(64)),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "status IN ('stationed', 'departed')", name="onboarding_departments_status_check"
        ),
    ]


def _departments_0011() -> list[Any]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("org_units.id"), nullable=False),
        sa.Column("number", sa.String(64)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("short_name", sa.String(100)),
        sa.Column("site_id", sa.String(64)),
        sa.Column("window_name", sa.String(200)),
        sa.Column("window_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("staff_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("leaders", _payload),
        sa.Column("items", _payload),
        sa.Column("status", sa.String(16), nullable=False, server_default="stationed"),
        sa.Column("entered_on", sa.Date),
        sa.Column("departed_on", sa.Date),
        sa.Column("instance_id", sa.String(64)),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "status IN ('stationed', 'departed')", name="onboarding_departments_status_check"
        ),
    ]


def _staff_common() -> list[Any]:
    return [
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("gender", sa.String(8), nullable=False),
        sa.Column("birth_date", sa.Date),
        sa.Column("political_status", sa.String(32)),
        sa.Column("photo", sa.String(64)),
        sa.Column("floor", sa.String(32)),
        sa.Column("work_number", sa.String(64)),
        sa.Column("department", sa.String(200)),
        sa.Column("post", sa.String(100)),
        sa.Column("mobile", sa.String(32)),
        sa.Column("email", sa.String(200)),
        sa.Column("stationed_post", sa.String(100)),
        sa.Column("stationed_status", sa.String(32)),
        sa.Column("category", sa.String(32)),
        sa.Column("hall", sa.String(64)),
        sa.Column("window", sa.String(64)),
        sa.Column("shuttle", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("canteen", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("business_scope", sa.Text),
        sa.Column("username", sa.String(64)),
        sa.Column("entered_on", sa.Date),
        sa.Column("instance_id", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled')", name="onboarding_staff_status_check"
        ),
    ]


def _staff_0009() -> list[Any]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id")),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("org_units.id"), nullable=False),
        sa.Column("leaders", _payload, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *_staff_common(),
    ]


def _staff_0011() -> list[Any]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id")),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("leaders", _payload),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        *_staff_common(),
    ]
