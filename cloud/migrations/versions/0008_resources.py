"""Declared resources (cloud/resources/catalog.py): dictionaries, SMS templates, positions;
and the uploads' metadata (cloud/uploads.py)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def _kept() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "dictionary_categories",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text),
        *_kept(),
    )
    op.create_table(
        "dictionary_items",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "category", sa.String(64), sa.ForeignKey("dictionary_categories.id"), nullable=False
        ),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("sort_no", sa.Integer, nullable=False, server_default="0"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        *_kept(),
        sa.UniqueConstraint("category", "code", name="dictionary_items_category_code_key"),
    )
    op.create_table(
        "sms_templates",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        *_kept(),
        sa.Index("sms_templates_department", "department_id"),
    )
    op.create_table(
        "positions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("floor", sa.Integer),
        sa.Column("description", sa.Text),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        *_kept(),
        sa.Index("positions_department", "department_id"),
        sa.Index("positions_floor", "floor"),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(64)),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Index("uploads_department", "department_id"),
        sa.Index("uploads_sha256", "sha256"),
    )


def downgrade() -> None:
    for table in ("uploads", "positions", "sms_templates", "dictionary_items"):
        op.drop_table(table)
    op.drop_table("dictionary_categories")
