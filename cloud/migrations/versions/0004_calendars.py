"""Calendars (行事历): the halls' local exceptions to the statutory calendar.

One row per hall and date (the primary key keeps it unique): the date is a working day or a
holiday there, for a reason, entered by an admin.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_exceptions",
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("working", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("calendar_exceptions")
