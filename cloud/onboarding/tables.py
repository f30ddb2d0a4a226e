"""The onboarding tables (入驻管理, §21.1): stationed departments, the staff archive, and the
initial passwords waiting to be shown once (migrations 0009, 0011 and 0012)."""

from __future__ import annotations

import sqlalchemy as sa

from cloud.db import Payload, metadata

__all__ = ["password_reveals", "staff", "staff_attachments", "stationed_departments"]

# a department's stationing in a hall (进驻部门, §21.1.1–21.1.3), the resource
# `stationed_department`; `unit_id` is the department's org unit and the record's unit for data
# scope. A stationing approved through the flow has the unit's id as its own id (one per unit,
# re-entered after a departure); one an administrator records directly gets a new id.
# `status`: stationed, departed (调离)
stationed_departments = sa.Table(
    "onboarding_departments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("unit_id", sa.String(64), sa.ForeignKey("org_units.id"), nullable=False),
    sa.Column("number", sa.String(64)),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("short_name", sa.String(100)),
    # the board (板块, §21.2.3, cloud/onboarding/boards.py) it is grouped in; migration 0012
    sa.Column("board_id", sa.String(64), sa.ForeignKey("department_boards.id")),
    sa.Column("site_id", sa.String(64)),  # the site or region the unit is under
    sa.Column("window_name", sa.String(200)),
    sa.Column("window_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("staff_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("leaders", Payload),
    sa.Column("items", Payload),  # 进驻业务事项 of the entry form
    sa.Column("status", sa.String(16), nullable=False, server_default="stationed"),
    sa.Column("entered_on", sa.Date),
    sa.Column("departed_on", sa.Date),
    sa.Column("instance_id", sa.String(64)),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "status IN ('stationed', 'departed')", name="onboarding_departments_status_check"
    ),
    sa.Index("onboarding_departments_unit", "unit_id"),
    sa.Index("onboarding_departments_number", "number"),
    sa.Index("onboarding_departments_board", "board_id"),
)

# the archive of stationed staff (入驻人员, §21.1.4, §21.1.7), the resource `onboarding_staff`:
# `unit_id` names the stationed department (窗口单位, a `stationed_departments` id — the org
# unit's own id for a flow's stationing), `department_id` the org unit the person is stationed
# in, for data scope; `status` follows their account: active, cancelled (取消备案)
staff = sa.Table(
    "onboarding_staff",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id")),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("org_units.id")),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("gender", sa.String(8), nullable=False),
    sa.Column("birth_date", sa.Date),
    sa.Column("political_status", sa.String(32)),
    sa.Column("photo", sa.String(64)),  # an upload's id (cloud/uploads.py)
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
    sa.Column("leaders", Payload),
    sa.Column("shuttle", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("canteen", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("business_scope", sa.Text),
    sa.Column("username", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("entered_on", sa.Date),
    sa.Column("instance_id", sa.String(64)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(64)),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint("status IN ('active', 'cancelled')", name="onboarding_staff_status_check"),
    sa.Index("onboarding_staff_unit", "unit_id"),
    sa.Index("onboarding_staff_department", "department_id"),
    sa.Index("onboarding_staff_user", "user_id"),
)

# the signed notice and commitment (告知书和承诺书, §21.1.4 (4)) of a staff record, scanned:
# uploads (cloud/uploads.py) in the order the applicant attached them; migration 0013
staff_attachments = sa.Table(
    "onboarding_staff_attachments",
    metadata,
    sa.Column(
        "staff_id",
        sa.String(64),
        sa.ForeignKey("onboarding_staff.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("upload_id", sa.String(64), sa.ForeignKey("uploads.id"), primary_key=True),
    sa.Column("sort", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("onboarding_staff_attachments_upload", "upload_id"),
)

# an approved staff entry's initial password until the applicant has seen it once on the
# approved instance; the row goes when shown, so no password stays in the database
password_reveals = sa.Table(
    "onboarding_password_reveals",
    metadata,
    sa.Column("instance_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("password", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
