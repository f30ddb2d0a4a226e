"""The hall configuration's tables (migration 0010): one row per piece a hall's admin authors.

Every row belongs to a hall (`hall`) and, for data scope, to the hall's site unit
(`department_id`, refreshed on every write); `sort` keeps the order the edge sees the pieces
in. Ordered associations (a window's business types, a staff member's) keep their priority in
`position`, 0 first.
"""

from __future__ import annotations

import sqlalchemy as sa

from cloud.db import Payload, metadata

__all__ = [
    "hall_areas",
    "hall_business_types",
    "hall_categories",
    "hall_phrases",
    "hall_settings",
    "hall_staff",
    "hall_staff_types",
    "hall_window_types",
    "hall_windows",
]


def _owned() -> list[sa.Column[object]]:
    """The columns every authored row carries: its order, scope and history."""
    return [
        sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("created_by", sa.String(100)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    ]


def _hall() -> sa.Column[str]:
    return sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True)


# the hall's own settings (HallInfo) and its voice defaults; the calendar dates are not here:
# the calendar (cloud/calendars.py) fills them when a version is stored
hall_settings = sa.Table(
    "hall_settings",
    metadata,
    _hall(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("hours", Payload, nullable=False),
    sa.Column("working_weekdays", Payload, nullable=False),
    sa.Column("assignment", sa.String(16), nullable=False),
    sa.Column("evaluation_gate", sa.Boolean, nullable=False),
    sa.Column("evaluation_gate_seconds", sa.Integer, nullable=False),
    sa.Column("auto_call_seconds", sa.Integer, nullable=False),
    sa.Column("green_channel_age", sa.Integer),
    sa.Column("supplement_valid_days", sa.Integer, nullable=False),
    sa.Column("voice_languages", Payload, nullable=False),
    sa.Column("voice_speed", sa.String(16), nullable=False),
    sa.Column("voice_repeat", sa.Integer, nullable=False),
    sa.Column("voice_silent", sa.Boolean, nullable=False),
    *_owned(),
)

# calling areas (叫号区域); the voice columns override the hall's when set
hall_areas = sa.Table(
    "hall_areas",
    metadata,
    _hall(),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("voice_languages", Payload),
    sa.Column("voice_speed", sa.String(16)),
    sa.Column("voice_repeat", sa.Integer),
    sa.Column("voice_silent", sa.Boolean),
    *_owned(),
)

# business categories (业务大类)
hall_categories = sa.Table(
    "hall_categories",
    metadata,
    _hall(),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("waiting_warning", sa.Integer),
    *_owned(),
)

# business types (业务小类): tickets are taken per type
hall_business_types = sa.Table(
    "hall_business_types",
    metadata,
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
    sa.Column("hours", Payload, nullable=False),
    sa.Column("daily_cap", sa.Integer),
    sa.Column("duration_warning_seconds", sa.Integer),
    *_owned(),
    sa.ForeignKeyConstraint(
        ["hall", "category"],
        ["hall_categories.hall", "hall_categories.id"],
        name="hall_business_types_category_fkey",
    ),
)

# windows (窗口)
hall_windows = sa.Table(
    "hall_windows",
    metadata,
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

# the business types a window serves, highest priority (position 0) first
hall_window_types = sa.Table(
    "hall_window_types",
    metadata,
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

# staff members as the edge knows them (the caller client's login); `password_hash` is Argon2,
# empty for card login only, and leaves the cloud only inside the setup the edge pulls
hall_staff = sa.Table(
    "hall_staff",
    metadata,
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

# the business types a staff member serves (when the hall assigns by staff), in order
hall_staff_types = sa.Table(
    "hall_staff_types",
    metadata,
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

# voice phrases: the call template (`name` "call") and the prompts, per language, for the
# hall (`area` "") or one calling area (call template only)
hall_phrases = sa.Table(
    "hall_phrases",
    metadata,
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
    sa.Column("area", sa.String(64), primary_key=True),
    sa.Column("language", sa.String(8), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)
