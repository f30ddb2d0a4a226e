"""The identity tables: the organisation tree, users, roles, role groups, grants, menus,
login sessions and captchas (migration 0006)."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.db import metadata

__all__ = [
    "captchas",
    "menus",
    "org_closure",
    "org_units",
    "role_grants",
    "role_group_roles",
    "role_groups",
    "roles",
    "sessions",
    "user_role_groups",
    "user_roles",
    "users",
]

# one tree of regions (区域), departments (部门) and sites (网点, a service point; `hall` links
# it to the edge that runs it), §3.9 / §21.3.7–21.3.9
org_units = sa.Table(
    "org_units",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("parent_id", sa.String(64), sa.ForeignKey("org_units.id")),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("short_name", sa.String(100)),
    sa.Column("code", sa.String(64), unique=True),
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id")),
    # the unit's head (负责人): the approver of "the applicant's department head" steps
    sa.Column("head_user_id", sa.String(64)),
    sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint("kind IN ('region', 'department', 'site')", name="org_units_kind_check"),
    sa.Index("org_units_parent", "parent_id"),
)

# every (ancestor, descendant) pair of the tree, each unit its own ancestor at depth 0: "my
# department and below" is one indexed lookup
org_closure = sa.Table(
    "org_closure",
    metadata,
    sa.Column("ancestor", sa.String(64), sa.ForeignKey("org_units.id"), primary_key=True),
    sa.Column("descendant", sa.String(64), sa.ForeignKey("org_units.id"), primary_key=True),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Index("org_closure_descendant", "descendant"),
)

# back-office users (§3.10, §21.3.3); `status`: active, disabled (屏蔽), cancelled (取消备案)
users = sa.Table(
    "users",
    metadata,
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
    sa.CheckConstraint("status IN ('active', 'disabled', 'cancelled')", name="users_status_check"),
    sa.Index("users_department", "department_id"),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(64)),
)

# what a role may do (§21.3.4) and over which records (§21.3.5): a permission code
# ("dictionary.read", "workflow.design") with its data scope: own, dept, dept_tree, all
role_grants = sa.Table(
    "role_grants",
    metadata,
    sa.Column(
        "role_id", sa.String(64), sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("permission", sa.String(100), primary_key=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.CheckConstraint(
        "scope IN ('own', 'dept', 'dept_tree', 'all')", name="role_grants_scope_check"
    ),
)

role_groups = sa.Table(
    "role_groups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

role_group_roles = sa.Table(
    "role_group_roles",
    metadata,
    sa.Column(
        "group_id",
        sa.String(64),
        sa.ForeignKey("role_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "role_id", sa.String(64), sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    ),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column(
        "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "role_id", sa.String(64), sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Index("user_roles_role", "role_id"),
)

user_role_groups = sa.Table(
    "user_role_groups",
    metadata,
    sa.Column(
        "user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "group_id",
        sa.String(64),
        sa.ForeignKey("role_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

# the portal's menu as data (§21.3.6): an entry is shown to whoever holds its permission
# (none: to everyone signed in)
menus = sa.Table(
    "menus",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("parent_id", sa.String(64), sa.ForeignKey("menus.id")),
    sa.Column("title", sa.String(100), nullable=False),
    sa.Column("path", sa.String(200)),
    sa.Column("icon", sa.String(64)),
    sa.Column("permission", sa.String(100)),
    sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
    sa.Column("visible", sa.Boolean, nullable=False, server_default=sa.true()),
)

# a signed-in browser: the cookie holds a random token, the table its SHA-256 (`id`); the
# session ends `expires_at` or after `idle` minutes without a request
sessions = sa.Table(
    "sessions",
    metadata,
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

# a captcha shown on the login page: the answer's hash, usable once, for a few minutes; in
# the database so that any worker can check what another drew
captchas = sa.Table(
    "captchas",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("answer_hash", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)
