"""Halls, their epochs, the events they synced and the quarantine."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_payload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "halls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "hall_epochs",
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
        sa.Column("epoch", sa.String(64), primary_key=True),
        sa.Column("epoch_start", sa.BigInteger, nullable=False),
        sa.Column("mark", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("clock_offset_ms", sa.BigInteger, nullable=False),
        sa.Column("last_batch_at", sa.BigInteger),
    )
    op.create_table(
        "events",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("offset_ms", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("payload", _payload, nullable=False),
        sa.UniqueConstraint("id", name="events_id_key"),
    )
    op.create_index("events_hall_type", "events", ["hall", "type"])
    op.create_table(
        "quarantine",
        sa.Column("hall", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", _payload, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_index("events_hall_type", table_name="events")
    op.drop_table("events")
    op.drop_table("hall_epochs")
    op.drop_table("halls")
