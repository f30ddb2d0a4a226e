"""Hall configuration (cloud/hallconfig/): settings, calling areas, business categories and
types, windows and their ordered types, staff and their ordered types, voice phrases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_payload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _owned() -> list[sa.Column[object]]:
    return [
        sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("created_by", sa.String(100)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    ]


def _hall() -> sa.Column[str]:
    return sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "hall_settings",
        _hall(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("hours", _payload, nullable=False),
        sa.Column("working_weekdays", _payload, nullable=False),
        sa.Column("assignment", sa.String(16), nullable=False),
        sa.Column("evaluation_gate", sa.Boolean, nullable=False),
        sa.Column("evaluation_gate_seconds", sa.Integer, nullable=False),
        sa.Column("auto_call_seconds", sa.Integer, nullable=False),
        sa.Column("green_channel_age", sa.Integer),
        sa.Column("supplement_valid_days", sa.Integer, nullable=False),
        sa.Column("voice_languages", _payload, nullable=False),
        sa.Column("voice_speed", sa.String(16), nullable=False),
        sa.Column("voice_repeat", sa.Integer, nullable=False),
        sa.Column("voice_silent", sa.Boolean, nullable=False),
        *_owned(),
    )
    op.create_table(
        "hall_areas",
        _hall(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("voice_languages", _payload),
        sa.Column("voice_speed", sa.String(16)),
        sa.Column("voice_repeat", sa.Integer),
        sa.Column("voice_silent", sa.Boolean),
        *_owned(),
    )
    op.create_table(
        "hall_categories",
        _hall(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("waiting_warning", sa.Integer),
        *_owned(),
    )
    op.create_table(
        "hall_business_types",
        _hall(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("prefix", sa.String(2), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("hint", sa.Text, nullable=False),
        sa.Column("instructions", sa.Text, nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("pinyin", sa.String(64), nullable=False),
        sa.Column("hours", _payload, nullable=False),
        sa.Column("daily_cap", sa.Integer),
        sa.Column("duration_warning_seconds", sa.Integer),
        *_owned(),
        sa.ForeignKeyConstraint(
            ["hall", "category"],
            ["hall_categories.hall", "hall_categories.id"],
            name="hall_business_types_category_fkey",
        ),
    )
    op.create_table(
        "hall_windows",
        _hall(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("area", sa.String(64), nullable=False),
        sa.Column("number", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *_owned(),
        sa.ForeignKeyConstraint(
            ["hall", "area"], ["hall_areas.hall", "hall_areas.id"], name="hall_windows_area_fkey"
        ),
    )
    op.create_table(
        "hall_window_types",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("window", sa.String(64), primary_key=True),
        sa.Column("business_type", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["hall", "window"],
            ["hall_windows.hall", "hall_windows.id"],
            name="hall_window_types_window_fkey",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hall", "business_type"],
            ["hall_business_types.hall", "hall_business_types.id"],
            name="hall_window_types_business_type_fkey",
        ),
    )
    op.create_table(
        "hall_staff",
        _hall(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("staff_no", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("card_no", sa.String(64), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("post_type", sa.String(16), nullable=False),
        sa.Column("stars", sa.Integer, nullable=False),
        sa.Column("can_issue_tickets", sa.Boolean, nullable=False),
        *_owned(),
        sa.UniqueConstraint("hall", "staff_no", name="hall_staff_staff_no_key"),
    )
    op.create_table(
        "hall_staff_types",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("staff", sa.String(64), primary_key=True),
        sa.Column("business_type", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["hall", "staff"],
            ["hall_staff.hall", "hall_staff.id"],
            name="hall_staff_types_staff_fkey",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hall", "business_type"],
            ["hall_business_types.hall", "hall_business_types.id"],
            name="hall_staff_types_business_type_fkey",
        ),
    )
    op.create_table(
        "hall_phrases",
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
        sa.Column("area", sa.String(64), primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "hall_phrases",
        "hall_staff_types",
        "hall_staff",
        "hall_window_types",
        "hall_windows",
        "hall_business_types",
        "hall_categories",
        "hall_areas",
        "hall_settings",
    ):
        op.drop_table(table)
