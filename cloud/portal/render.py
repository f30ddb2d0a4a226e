"""How a portal page is made: the Jinja2 templates (autoescaped), the signed-in user and their
menu in every page, refusals shown as pages in Chinese, and the redirect to the sign-in page
when there is no session or it has expired.

A page handler is `async def handler(request, me) -> response`, wrapped by `page`: `me` is the
principal `current_principal` found (which also checks the CSRF token of every form that
changes something). Every page checks its rights on the server; the menu and the buttons only
follow what the server allows.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.identity.menus import menu_for
from cloud.identity.principal import CSRF_FIELD, Principal, current_principal
from cloud.identity.tables import org_units
from cloud.portal.static import UI_ROOT

__all__ = [
    "FLASHES",
    "LOGIN_PATH",
    "TEMPLATES",
    "PageHandler",
    "environment",
    "is_htmx",
    "local_target",
    "now_ms",
    "page",
    "redirect",
    "render",
]

log = logging.getLogger(__name__)

TEMPLATES = web.AppKey("portal_templates", jinja2.Environment)
LOGIN_PATH = "/portal/login"
SHANGHAI = ZoneInfo("Asia/Shanghai")

PageHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]

# the portal sets no cookie of its own: a message after a redirect travels as `?msg=<code>`,
# one of these (never free text from the address, which anyone could forge)
FLASHES: dict[str, str] = {
    "created": "已新增",
    "saved": "已保存",
    "moved": "已移动",
    "deleted": "已删除",
    "disabled": "已停用",
    "enabled": "已启用",
    "password_reset": "密码已重置",
    "password_changed": "密码已修改，请牢记新密码",
    "signed_out": "已退出登录",
    "approved": "已同意",
    "rejected": "已退回",
    "delegated": "已转交",
    "withdrawn": "已撤回",
    "urged": "已催办",
    "started": "已提交审批",
    "blocked": "已屏蔽",
    "reassigned": "已改派",
    "flow_saved": "已保存为新版本，新提交的申请按新版本审批",
    "flow_created": "流程已创建",
    "calendar_saved": "行事历已更新，将随大厅配置下发",
}


def environment() -> jinja2.Environment:
    """The portal's templates (`ui/templates/portal/`), every value escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(UI_ROOT / "templates" / "portal"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms_time"] = _ms_time
    env.filters["urlencode_query"] = _query
    return env


def page(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A portal page: signed-in users only (else to the sign-in page, back here after it);
    a refusal (403, 404, 422 …) becomes a page of its own in Chinese."""

    async def serve(request: web.Request) -> web.StreamResponse:
        try:
            me = await current_principal(request)
        except ApiError as exc:
            if exc.code in ("unauthorized", "session_expired"):
                return _to_login(request, expired=exc.code == "session_expired")
            return await _refusal(request, None, exc)
        try:
            return await handler(request, me)
        except ApiError as exc:
            return await _refusal(request, me, exc)

    return serve


async def render(
    request: web.Request,
    template: str,
    me: Principal | None,
    *,
    status: int = 200,
    **context: Any,
) -> web.Response:
    """A page (or, for an htmx request naming a fragment, the fragment) with the layout's
    values: the user, their menu, the CSRF token and the flash message."""
    menu: list[dict[str, Any]] = []
    department = None
    if me is not None:
        async with request.app[ENGINE].connect() as conn:
            menu = await menu_for(conn, me)
            department = await _department_name(conn, me.department_id)
    flash = FLASHES.get(request.query.get("msg", ""))
    values = {
        "me": me,
        "department": department,
        "menu": menu,
        "csrf_field": CSRF_FIELD,
        "csrf_token": me.csrf_token if me is not None else None,
        "flash": flash,
        "path": request.path,
        "query": request.query,
        **context,
    }
    html = request.app[TEMPLATES].get_template(template).render(values)
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


def redirect(location: str, msg: str | None = None) -> web.Response:
    """After a change: see the result (303, so that a reload does not post again)."""
    if msg is not None:
        location += ("&" if "?" in location else "?") + urlencode({"msg": msg})
    return web.Response(status=303, headers={"Location": location})


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def local_target(value: str | None, default: str = "/portal/") -> str:
    """A page of the portal to go back to: only a path of ours, never another site
    (`//evil.example`, `/\\evil.example`)."""
    if not value or not value.startswith("/portal") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 0x20 for c in value):
        return default
    return value


# ---------------------------------------------------------------------------- helpers


def _to_login(request: web.Request, *, expired: bool) -> web.Response:
    back = request.path_qs if request.method == "GET" else request.headers.get("HX-Current-URL")
    params = {"next": local_target(_path_of(back), "/portal/")}
    if expired:
        params["expired"] = "1"
    location = f"{LOGIN_PATH}?{urlencode(params)}"
    if is_htmx(request):
        # htmx follows a redirect inside its own request: tell it to load the page instead
        return web.Response(status=401, headers={"HX-Redirect": location})
    return web.Response(status=303, headers={"Location": location})


def _path_of(url: str | None) -> str | None:
    """The path and query of a full address (htmx sends the page's address in full)."""
    if not url:
        return None
    if url.startswith("/"):
        return url
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else None


async def _refusal(request: web.Request, me: Principal | None, exc: ApiError) -> web.Response:
    if exc.status >= 500:
        log.error("portal page %s refused with %s", request.path, exc.code)
    if is_htmx(request):
        return await render(
            request, "_refusal.html", me, status=exc.status, error=exc, fragment=True
        )
    return await render(request, "error.html", me, status=exc.status, error=exc)


async def _department_name(conn: AsyncConnection, department_id: str | None) -> str | None:
    if department_id is None:
        return None
    name = await conn.scalar(sa.select(org_units.c.name).where(org_units.c.id == department_id))
    return str(name) if name is not None else None


def _ms_time(value: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(value / 1000, SHANGHAI).strftime(fmt)


def _query(values: Mapping[str, Any], **changes: Any) -> str:
    """The query string `values` with `changes` (None removes a key): the links of a list's
    pages and sort headers keep its filters."""
    merged = {k: v for k, v in values.items() if k != "msg"}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return urlencode([(k, str(v)) for k, v in merged.items()], quote_via=quote)
