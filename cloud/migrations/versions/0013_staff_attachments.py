"""Staff attachments (§21.1.4 (4)): the scanned, signed notice and commitment (告知书和承诺书)
of a staff record, as uploads kept in the order they were attached. The photo already has its
column (`onboarding_staff.photo`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onboarding_staff_attachments",
        sa.Column(
            "staff_id",
            sa.String(64),
            sa.ForeignKey("onboarding_staff.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("upload_id", sa.String(64), sa.ForeignKey("uploads.id"), primary_key=True),
        sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "onboarding_staff_attachments_upload", "onboarding_staff_attachments", ["upload_id"]
    )


def downgrade() -> None:
    op.drop_index("onboarding_staff_attachments_upload", "onboarding_staff_attachments")
    op.drop_table("onboarding_staff_attachments")
