"""The catalogue of permissions (功能权限, §21.3.4): every code a role can be granted, with its
Chinese label. A declared resource registers its five rights here; other operations (approve in
a workflow, run the no-show round) register their own code once, at import."""

from __future__ import annotations

import re

__all__ = ["PERMISSIONS", "RIGHTS", "RIGHT_LABELS", "register", "register_resource"]

# create, edit, delete, read (open a record, export it) and view (see it in lists), §21.3.5
RIGHTS = ("create", "edit", "delete", "read", "view")
RIGHT_LABELS = {"create": "新增", "edit": "编辑", "delete": "删除", "read": "可读", "view": "可看"}

_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

PERMISSIONS: dict[str, str] = {}


def register(code: str, label: str) -> str:
    """Declare a permission code (`<area>.<operation>`); declaring one twice with another
    label is a programming error."""
    if not _CODE.match(code):
        raise ValueError(f"permission code {code!r} is not <area>.<operation>")
    known = PERMISSIONS.get(code)
    if known is not None and known != label:
        raise ValueError(f"permission {code!r} declared twice: {known!r} and {label!r}")
    PERMISSIONS[code] = label
    return code


def register_resource(resource: str, label: str) -> None:
    """The five rights of a resource: `<resource>.create` … `<resource>.view`."""
    for right in RIGHTS:
        register(f"{resource}.{right}", f"{label}：{RIGHT_LABELS[right]}")


for _code, _label in (
    ("hall.manage", "大厅：注册、停用、配置、预约"),
    ("hall.read", "大厅：同步状态与统计"),
    ("audit.read", "审计日志：查看"),
    ("calendar.read", "行事历：查看"),
    ("calendar.edit", "行事历：编辑"),
    ("no_show.run", "爽约处理：立即执行"),
):
    register(_code, _label)
