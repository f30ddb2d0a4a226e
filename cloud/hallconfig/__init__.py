"""A hall's configuration authored in the cloud (business types, windows, staff, calling areas,
hours, phrases), compiled to the hall setup the edge pulls.

The admin authors a hall piece by piece under `/api/halls/{hall}/config/…` (cloud/hallconfig/
api.py): its settings (HallInfo) and voice (VoiceSetup), calling areas, business categories,
business types, windows with their business types in priority order, staff members with a
password (Argon2, never answered). Each piece is checked by the contract's own model
(sync/hallsetup.py) and against the hall's other pieces when it is written: a window's area,
a type's category, a window's or staff member's types must exist in the same hall; a piece
still named by another is not deleted (409).

Publishing is explicit, not automatic on every change: `POST …/config/publish` compiles the
pieces (`compile_setup`) into the next setup version and stores it through `store_setup`
(cloud/setups.py: the calendar's dates filled in, an audit row), which the edge then pulls
through `/sync/v1/config`. An admin changes several pieces that only make sense together (a
new type and the windows that serve it) and the hall gets them as one version, not a version
per keystroke; `GET …/config/preview` shows the compiled setup and what it changes against the
newest stored version before it goes out. `POST …/config/import` fills the pieces from the
newest stored setup (or a posted one), so a hall configured the old way, as one document
(`PUT /api/halls/{hall}/setup`), moves over.

Who may: the permissions `hall_config.view|read|create|edit|delete|publish|import`, over the
hall's site unit (网点, `hall_unit`) — the department every piece of the hall belongs to for
data scope. A hall outside the caller's scope answers 404 as if it were not there.
"""

from __future__ import annotations

from aiohttp import web

from cloud.audit import POLICIES, AuditPolicy
from cloud.errors import register_errors
from cloud.hallconfig import menu  # noqa: F401  (the portal's menu entries)
from cloud.hallconfig.api import RESOURCE, routes
from cloud.hallconfig.compiler import changes, compile_setup, import_setup
from cloud.identity.permissions import register, register_resource

__all__ = ["changes", "compile_setup", "import_setup", "setup"]

register_errors(
    {
        "invalid_hall_config": (422, "大厅配置项无效"),
        "unknown_hall_config": (404, "配置项不存在"),
        "hall_config_exists": (409, "编号已被使用"),
        "hall_config_reference": (422, "引用的配置项在本大厅不存在"),
        "hall_config_in_use": (409, "配置项仍被使用，不能删除"),
        "no_hall_setup": (404, "该大厅还没有已存储的配置版本"),
    }
)

register_resource(RESOURCE, "大厅配置")
register(f"{RESOURCE}.publish", "大厅配置：发布到大厅")
register(f"{RESOURCE}.import", "大厅配置：从已存储的配置导入")

for _policy in (
    AuditPolicy("hall_settings", "大厅设置"),
    AuditPolicy("hall_voice", "语音设置"),
    AuditPolicy("hall_area", "叫号区域"),
    AuditPolicy("hall_category", "业务大类"),
    AuditPolicy("hall_business_type", "业务小类"),
    AuditPolicy("hall_window", "窗口"),
    AuditPolicy("hall_staff", "工作人员", secret_fields=frozenset({"password_hash"})),
    AuditPolicy("hall_config", "大厅配置导入"),
):
    POLICIES.setdefault(_policy.resource, _policy)


def setup(app: web.Application) -> None:
    """Add the hall configuration's routes to the cloud's app."""
    app.router.add_routes(routes())
