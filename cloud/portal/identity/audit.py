"""The audit log page (审计日志): who changed what, when and from where, newest first, with
filters; a user whose scope is narrower than `all` reads one hall of theirs at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from cloud.audit import POLICIES, AuditQuery, audit_page
from cloud.context import ENGINE
from cloud.identity.principal import Principal, authorize, hall_unit, in_scope
from cloud.portal.forms import FormErrors
from cloud.portal.identity.common import whole_number
from cloud.portal.render import page, render

__all__ = ["add_routes"]

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_AUDIT_PAGE = 50


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    app.router.add_get("/portal/audit", page(_audit))


async def _audit(request: web.Request, me: Principal) -> web.Response:
    """The audit log, newest first, with filters; "更多" continues after the last row shown.
    With a scope narrower than `all`, one hall of the user's at a time."""
    scope = authorize(me, "audit.read")
    q = request.query
    errors = FormErrors()
    hall = q.get("hall", "").strip()[:64] or None
    if scope != "all":
        if hall is None:
            errors.add("hall", "您只能查看本单位大厅的日志，请填写大厅编号")
        else:
            async with request.app[ENGINE].connect() as conn:
                unit = await hall_unit(conn, hall)
                if unit is None or not await in_scope(
                    conn, me, "audit.read", department=unit, owner=None
                ):
                    errors.add("hall", "无权查看该大厅的日志")
    since, until = _day(q.get("since"), errors, "since"), _day(q.get("until"), errors, "until")
    entries: list[dict[str, Any]] = []
    next_id = None
    if not errors:
        found = await audit_page(
            request.app[ENGINE],
            AuditQuery(
                resource=q.get("resource") or None,
                resource_id=q.get("resource_id", "").strip() or None,
                hall=hall,
                actor=q.get("actor", "").strip() or None,
                since=since,
                until=until + 86_400_000 if until is not None else None,
                before_id=whole_number(q.get("before_id"), 0) or None,
                limit=_AUDIT_PAGE,
            ),
        )
        entries = [{**e, "changes": _changes(e)} for e in found["entries"]]
        next_id = found["next_before_id"]
    resources = sorted(((p.resource, p.label) for p in POLICIES.values()), key=lambda p: p[0])
    return await render(
        request,
        "identity_audit.html",
        me,
        entries=entries,
        next_id=next_id,
        resources=resources,
        labels=dict(resources),
        errors=errors.by_field,
        status=422 if errors else 200,
    )


def _day(text: str | None, errors: FormErrors, field: str) -> int | None:
    """The start of a day (ms, hall time) from a date input."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        errors.add(field, "日期格式应为 年-月-日")
        return None
    return int(dt.datetime.combine(day, dt.time(), _SHANGHAI).timestamp() * 1000)


def _changes(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An audit row's values as readable lines: field, old, new."""
    old, new = entry.get("old") or {}, entry.get("new") or {}
    return [
        {
            "field": k,
            "old": _shown(old.get(k), k) if k in old else None,
            "new": _shown(new.get(k), k) if k in new else None,
        }
        for k in sorted(set(old) | set(new))
    ]


def _shown(value: Any, field: str = "") -> str:
    if value is None:
        return "（空）"
    if field.endswith("_at") and isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, _SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        return "，".join(f"{k}={_shown(v)}" for k, v in value.items()) or "（无）"
    if isinstance(value, list):
        return "、".join(_shown(v) for v in value) or "（无）"
    return str(value)
