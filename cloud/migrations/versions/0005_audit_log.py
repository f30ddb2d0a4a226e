"""The audit log (cloud/audit.py): who changed what, when, from where, old and new values.

No foreign keys: a row outlives what it describes (a deleted exception, a removed hall).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_VALUES = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(200), nullable=False),
        sa.Column("hall", sa.String(64)),
        sa.Column("old", _VALUES),
        sa.Column("new", _VALUES),
        sa.Column("reason", sa.Text),
        sa.Column("remote", sa.String(64)),
        sa.Column("user_agent", sa.String(200)),
    )
    op.create_index("audit_log_resource", "audit_log", ["resource", "resource_id", "at"])
    op.create_index("audit_log_hall", "audit_log", ["hall", "at"])


def downgrade() -> None:
    op.drop_table("audit_log")
