"""Workflow (cloud/workflow/): flows and their versions, instances, tasks, history; onboarding
(cloud/onboarding/): stationed departments, the staff archive, initial passwords to show."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PAYLOAD = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "workflow_flows",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("business_key", sa.String(64), nullable=False, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "workflow_flow_versions",
        sa.Column("code", sa.String(64), sa.ForeignKey("workflow_flows.code"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("business_key", sa.String(64), nullable=False),
        sa.Column("steps", _PAYLOAD, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(100)),
    )
    op.create_table(
        "workflow_instances",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("flow_code", sa.String(64), nullable=False),
        sa.Column("flow_version", sa.Integer, nullable=False),
        sa.Column("business_key", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64)),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("applicant_id", sa.String(64), nullable=False),
        sa.Column("applicant_name", sa.String(100), nullable=False),
        sa.Column("department_id", sa.String(64)),
        sa.Column("form", _PAYLOAD, nullable=False),
        sa.Column("result", _PAYLOAD),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("step_started_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger),
        sa.CheckConstraint(
            "status IN ('running', 'approved', 'rejected', 'returned', 'withdrawn')",
            name="workflow_instances_status_check",
        ),
        sa.Index("workflow_instances_applicant", "applicant_id", "status"),
        sa.Index("workflow_instances_status", "status", "department_id"),
    )
    op.create_table(
        "workflow_tasks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "instance_id",
            sa.String(64),
            sa.ForeignKey("workflow_instances.id"),
            nullable=False,
        ),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("step_name", sa.String(100), nullable=False),
        sa.Column("assignee_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("delegated_from", sa.String(64)),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("acted_at", sa.BigInteger),
        sa.Column("urged_at", sa.BigInteger),
        sa.Column("urge_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("urge_note", sa.Text),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'delegated', 'closed')",
            name="workflow_tasks_status_check",
        ),
        sa.Index("workflow_tasks_assignee", "assignee_id", "status"),
        sa.Index("workflow_tasks_instance", "instance_id", "status"),
    )
    op.create_table(
        "workflow_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column(
            "instance_id",
            sa.String(64),
            sa.ForeignKey("workflow_instances.id"),
            nullable=False,
        ),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("step_name", sa.String(100)),
        sa.Column("comment", sa.Text),
        sa.Column("detail", _PAYLOAD),
        sa.Index("workflow_history_instance", "instance_id", "id"),
        sa.Index("workflow_history_actor", "actor_id"),
    )
    op.create_table(
        "onboarding_departments",
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("org_units.id"), primary_key=True),
        sa.Column("number", sa.String(64)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("short_name", sa.String(100)),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("window_name", sa.String(200)),
        sa.Column("window_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("staff_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("leaders", _PAYLOAD, nullable=False),
        sa.Column("items", _PAYLOAD, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entered_at", sa.BigInteger, nullable=False),
        sa.Column("departed_on", sa.Date),
        sa.Column("instance_id", sa.String(64)),
        sa.Column("created_by", sa.String(64)),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "status IN ('stationed', 'departed')", name="onboarding_departments_status_check"
        ),
    )
    op.create_table(
        "onboarding_staff",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id")),
        sa.Column("unit_id", sa.String(64), sa.ForeignKey("org_units.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("gender", sa.String(8), nullable=False),
        sa.Column("birth_date", sa.Date),
        sa.Column("political_status", sa.String(32)),
        sa.Column("photo", sa.String(64)),
        sa.Column("floor", sa.String(32)),
        sa.Column("work_number", sa.String(64)),
        sa.Column("department", sa.String(200)),
        sa.Column("post", sa.String(100)),
        sa.Column("mobile", sa.String(32)),
        sa.Column("email", sa.String(200)),
        sa.Column("stationed_post", sa.String(100)),
        sa.Column("stationed_status", sa.String(32)),
        sa.Column("category", sa.String(32)),
        sa.Column("hall", sa.String(64)),
        sa.Column("window", sa.String(64)),
        sa.Column("leaders", _PAYLOAD, nullable=False),
        sa.Column("shuttle", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("canteen", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("business_scope", sa.Text),
        sa.Column("username", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entered_on", sa.Date),
        sa.Column("instance_id", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled')", name="onboarding_staff_status_check"
        ),
        sa.Index("onboarding_staff_unit", "unit_id"),
        sa.Index("onboarding_staff_user", "user_id"),
    )
    op.create_table(
        "onboarding_password_reveals",
        sa.Column("instance_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("password", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "onboarding_password_reveals",
        "onboarding_staff",
        "onboarding_departments",
        "workflow_history",
        "workflow_tasks",
        "workflow_instances",
        "workflow_flow_versions",
        "workflow_flows",
    ):
        op.drop_table(table)
