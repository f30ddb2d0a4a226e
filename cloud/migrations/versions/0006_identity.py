"""Identity (cloud/identity/): the organisation tree and its closure, users, roles, role groups,
grants, menus, login sessions and captchas."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_units",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("parent_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("short_name", sa.String(100)),
        sa.Column("code", sa.String(64), unique=True),
        sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id")),
        sa.Column("head_user_id", sa.String(64)),
        sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("kind IN ('region', 'department', 'site')", name="org_units_kind_check"),
        sa.Index("org_units_parent", "parent_id"),
    )
    op.create_table(
        "org_closure",
        sa.Column("ancestor", sa.String(64), sa.ForeignKey("org_units.id"), primary_key=True),
        sa.Column("descendant", sa.String(64), sa.ForeignKey("org_units.id"), primary_key=True),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Index("org_closure_descendant", "descendant"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("phone", sa.String(32)),
        sa.Column("email", sa.String(200)),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("superuser", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.BigInteger),
        sa.Column("password_changed_at", sa.BigInteger),
        sa.Column("last_login_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.CheckConstraint(
            "status IN ('active', 'disabled', 'cancelled')", name="users_status_check"
        ),
        sa.Index("users_department", "department_id"),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64)),
    )
    op.create_table(
        "role_grants",
        sa.Column(
            "role_id",
            sa.String(64),
            sa.ForeignKey("roles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("permission", sa.String(100), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "scope IN ('own', 'dept', 'dept_tree', 'all')", name="role_grants_scope_check"
        ),
    )
    op.create_table(
        "role_groups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "role_group_roles",
        sa.Column(
            "group_id",
            sa.String(64),
            sa.ForeignKey("role_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "role_id",
            sa.String(64),
            sa.ForeignKey("roles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "user_roles",
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "role_id",
            sa.String(64),
            sa.ForeignKey("roles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Index("user_roles_role", "role_id"),
    )
    op.create_table(
        "user_role_groups",
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "group_id",
            sa.String(64),
            sa.ForeignKey("role_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "menus",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("parent_id", sa.String(64), sa.ForeignKey("menus.id")),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("path", sa.String(200)),
        sa.Column("icon", sa.String(64)),
        sa.Column("permission", sa.String(100)),
        sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
        sa.Column("visible", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("remote", sa.String(64)),
        sa.Column("user_agent", sa.String(200)),
        sa.Index("sessions_user", "user_id"),
    )
    op.create_table(
        "captchas",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("answer_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "captchas",
        "sessions",
        "menus",
        "user_role_groups",
        "user_roles",
        "role_group_roles",
        "role_groups",
        "role_grants",
        "roles",
        "users",
        "org_closure",
        "org_units",
    ):
        op.drop_table(table)
