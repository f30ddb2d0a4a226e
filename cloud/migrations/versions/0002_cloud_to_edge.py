"""Cloud → edge: the halls' configuration versions, their bookings and a change counter."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_payload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "hall_setups",
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("body", _payload, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "bookings",
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("id_number", sa.Text, nullable=False),
        sa.Column("business_type", sa.String(64), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("slot_start", sa.Time, nullable=False),
        sa.Column("slot_end", sa.Time, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("hall", "code", name="bookings_hall_code_key"),
        sa.UniqueConstraint("hall", "change_seq", name="bookings_hall_change_seq_key"),
        sa.CheckConstraint(
            "status IN ('booked', 'cancelled', 'checked_in')", name="bookings_status_check"
        ),
    )
    op.create_index("bookings_hall_date", "bookings", ["hall", "date"])
    op.create_table(
        "hall_counters",
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
        sa.Column("booking_seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hall_counters")
    op.drop_index("bookings_hall_date", table_name="bookings")
    op.drop_table("bookings")
    op.drop_table("hall_setups")
