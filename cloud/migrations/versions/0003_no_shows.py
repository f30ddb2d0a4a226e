"""No-shows: the halls' synced-through mark, the `no_show` booking status and penalties.

The synced-through mark is a column of `halls`, not of `hall_epochs`: it is a moment of the
hall's clock, and what waits for it (no-show processing) asks per hall. An epoch is one
incarnation of the edge's database; a restored edge starts a new one and its heartbeats
continue the same hall-wide mark, which only moves forward.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATUSES = "'booked', 'cancelled', 'checked_in'"


def upgrade() -> None:
    with op.batch_alter_table("halls") as halls:
        halls.add_column(sa.Column("synced_through_ms", sa.BigInteger))
        halls.add_column(sa.Column("heartbeat_at", sa.BigInteger))
    with op.batch_alter_table("bookings") as bookings:
        bookings.drop_constraint("bookings_status_check", type_="check")
        bookings.create_check_constraint(
            "bookings_status_check", f"status IN ({_STATUSES}, 'no_show')"
        )
    op.create_table(
        "penalties",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), nullable=False),
        sa.Column("booking", sa.String(64), nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("id_number", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("reversed_at", sa.BigInteger),
        sa.Column("reversed_reason", sa.Text),
        sa.UniqueConstraint("hall", "booking", name="penalties_hall_booking_key"),
    )


def downgrade() -> None:
    op.drop_table("penalties")
    op.execute("UPDATE bookings SET status = 'booked' WHERE status = 'no_show'")
    with op.batch_alter_table("bookings") as bookings:
        bookings.drop_constraint("bookings_status_check", type_="check")
        bookings.create_check_constraint("bookings_status_check", f"status IN ({_STATUSES})")
    with op.batch_alter_table("halls") as halls:
        halls.drop_column("heartbeat_at")
        halls.drop_column("synced_through_ms")
