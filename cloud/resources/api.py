"""The REST API of every declared resource, `/api/r/{resource}`, each call with the right it
needs:

- `GET /api/r/{r}` (view): a page — `rows`, `total`, `page`, `page_size`; filters, `sort`,
  `page`, `page_size` (≤ 200) as query parameters (cloud/resources/query.py);
- `GET /api/r/{r}/schema` (any of the five): fields, filters, columns, the caller's rights;
- `GET /api/r/{r}/export.xlsx` (view and read): the .xlsx of every row the same filters list;
- `POST /api/r/{r}` (create): 201 and the record;
- `GET /api/r/{r}/{id}` (read), `PATCH /api/r/{r}/{id}` (edit): the record;
- `DELETE /api/r/{r}/{id}` (delete): 204.

A change's reason (for resources that require one) is the body's `_reason`, else the
`X-Change-Reason` header (percent-encoded UTF-8), as cloud/audit.py describes; a DELETE may
carry `{"reason": …}`.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any
from urllib.parse import quote

from aiohttp import web

from cloud import uploads
from cloud.audit import Origin
from cloud.calls import answer, origin
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.identity.permissions import RIGHTS
from cloud.identity.principal import Principal, current_principal
from cloud.resources.export import export_rows
from cloud.resources.schema import describe
from cloud.resources.service import (
    create_row,
    delete_row,
    get_row,
    list_rows,
    parse_query,
    resource_of,
    update_row,
)

__all__ = ["setup"]

_CHUNK = 256 * 1024
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def setup(app: web.Application) -> None:
    """Add the resources' routes (and the uploads', which their file fields use)."""
    app.router.add_get("/api/r/{resource}", _list)
    app.router.add_post("/api/r/{resource}", _create)
    app.router.add_get("/api/r/{resource}/schema", _schema)
    app.router.add_get("/api/r/{resource}/export.xlsx", _export)
    app.router.add_get("/api/r/{resource}/{id}", _get)
    app.router.add_patch("/api/r/{resource}/{id}", _update)
    app.router.add_delete("/api/r/{resource}/{id}", _delete)
    uploads.setup(app)


async def _list(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    resource = resource_of(request.match_info["resource"])
    query = parse_query(resource, request.query)
    async with request.app[ENGINE].connect() as conn:
        page = await list_rows(conn, principal, resource, query)
    return answer(
        {"rows": page.rows, "total": page.total, "page": page.page, "page_size": page.page_size}
    )


async def _schema(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    resource = resource_of(request.match_info["resource"])
    if not any(principal.can(resource.permission(r)) for r in RIGHTS):
        raise ApiError("forbidden_operation", resource.permission("view"))
    async with request.app[ENGINE].connect() as conn:
        return answer(await describe(conn, principal, resource))


async def _export(request: web.Request) -> web.StreamResponse:
    principal = await current_principal(request)
    resource = resource_of(request.match_info["resource"])
    query = parse_query(resource, request.query)
    handle, name = tempfile.mkstemp(prefix="export-", suffix=".xlsx")
    os.close(handle)
    try:
        async with request.app[ENGINE].connect() as conn:
            await export_rows(conn, principal, resource, query, name)
        response = web.StreamResponse(
            headers={
                "Content-Type": _XLSX,
                "Content-Disposition": 'attachment; filename="export.xlsx"; '
                f"filename*=UTF-8''{quote(resource.label + '.xlsx', safe='')}",
                "Content-Length": str(os.path.getsize(name)),
            }
        )
        await response.prepare(request)
        with open(name, "rb") as sheet:
            while chunk := sheet.read(_CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        os.unlink(name)


async def _get(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    resource = resource_of(request.match_info["resource"])
    async with request.app[ENGINE].connect() as conn:
        return answer(await get_row(conn, principal, resource, request.match_info["id"]))


async def _create(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    resource = resource_of(request.match_info["resource"])
    body = await _object(request)
    origin = _origin(request, principal, body.pop("_reason", None))
    async with request.app[ENGINE].begin() as conn:
        result = await create_row(conn, principal, resource, body, origin)
    return answer(result, status=201)


async def _update(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    resource = resource_of(request.match_info["resource"])
    body = await _object(request)
    origin = _origin(request, principal, body.pop("_reason", None))
    record_id = request.match_info["id"]
    async with request.app[ENGINE].begin() as conn:
        result = await update_row(conn, principal, resource, record_id, body, origin)
    return answer(result)


async def _delete(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    resource = resource_of(request.match_info["resource"])
    origin = _origin(request, principal, None).with_body_reason(await request.read())
    async with request.app[ENGINE].begin() as conn:
        await delete_row(conn, principal, resource, request.match_info["id"], origin)
    return web.Response(status=204)


async def _object(request: web.Request) -> dict[str, Any]:
    """The JSON object of the body; 400 for anything else."""
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_request", "请求体应为 JSON 对象") from None
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "请求体应为 JSON 对象")
    return body


def _origin(request: web.Request, principal: Principal, reason: Any) -> Origin:
    return origin(request, principal).with_reason(reason if isinstance(reason, str) else None)
