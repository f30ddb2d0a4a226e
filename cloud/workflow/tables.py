"""The workflow tables: flow definitions and their versions, instances, tasks and the
history of every action (migration 0009)."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.db import Payload, metadata

__all__ = ["flow_versions", "flows", "history", "instances", "tasks"]

# a flow (流程, §21.4.1): the newest version's number; one flow serves one business key
flows = sa.Table(
    "workflow_flows",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("business_key", sa.String(64), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# every version of a flow, never changed once written: an instance runs the version it
# started with, whatever is edited after it (§21.4.2)
flow_versions = sa.Table(
    "workflow_flow_versions",
    metadata,
    sa.Column("code", sa.String(64), sa.ForeignKey("workflow_flows.code"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("business_key", sa.String(64), nullable=False),
    sa.Column("steps", Payload, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(100)),
)

# a submission (呈签) going through a flow; `status`: running, approved, rejected, returned
# (back with the applicant, who may edit and resubmit), withdrawn
instances = sa.Table(
    "workflow_instances",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("flow_code", sa.String(64), nullable=False),
    sa.Column("flow_version", sa.Integer, nullable=False),
    sa.Column("business_key", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(64)),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("applicant_id", sa.String(64), nullable=False),
    sa.Column("applicant_name", sa.String(100), nullable=False),
    sa.Column("department_id", sa.String(64)),
    sa.Column("form", Payload, nullable=False),
    sa.Column("result", Payload),
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

# one approver's part of a step; the pending tasks are always those of the current step.
# `status`: pending, approved, rejected, delegated (handed to another), closed (the step
# ended without it)
tasks = sa.Table(
    "workflow_tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("instance_id", sa.String(64), sa.ForeignKey("workflow_instances.id"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("step_name", sa.String(100), nullable=False),
    sa.Column("assignee_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("delegated_from", sa.String(64)),
    sa.Column("comment", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("acted_at", sa.BigInteger),
    # 催办: the last reminder and how many there were
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

# who did what when, with their comment: the instance's full history, in order of `id`
history = sa.Table(
    "workflow_history",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid
        sa.Identity(),
        primary_key=True,
    ),
    sa.Column("instance_id", sa.String(64), sa.ForeignKey("workflow_instances.id"), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("actor_name", sa.String(100), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer),
    sa.Column("step_name", sa.String(100)),
    sa.Column("comment", sa.Text),
    sa.Column("detail", Payload),
    sa.Index("workflow_history_instance", "instance_id", "id"),
    sa.Index("workflow_history_actor", "actor_id"),
)
