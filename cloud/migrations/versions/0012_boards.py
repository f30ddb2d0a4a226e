"""Department boards (部门板块, §21.2.3): the boards a hall's stationed departments are grouped
in (`cloud/onboarding/boards.py`), and the board a stationing names."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "department_boards",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("sort_no", sa.Integer, nullable=False, server_default="0"),
        sa.Column("description", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("department_id", "code", name="department_boards_department_code_key"),
    )
    op.create_index("department_boards_department", "department_boards", ["department_id"])
    with op.batch_alter_table("onboarding_departments") as departments:
        departments.add_column(sa.Column("board_id", sa.String(64)))
        departments.create_foreign_key(
            "onboarding_departments_board_id_fkey", "department_boards", ["board_id"], ["id"]
        )
        departments.create_index("onboarding_departments_board", ["board_id"])


def downgrade() -> None:
    with op.batch_alter_table("onboarding_departments") as departments:
        departments.drop_index("onboarding_departments_board")
        departments.drop_constraint("onboarding_departments_board_id_fkey", type_="foreignkey")
        departments.drop_column("board_id")
    op.drop_index("department_boards_department", table_name="department_boards")
    op.drop_table("department_boards")
