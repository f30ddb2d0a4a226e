"""The pages every declared resource gets (cloud/resources/): a list with the declared
filters combined, paging and sorting, and an Excel export of exactly the filtered rows; forms
to create and edit a record from its fields; deletion with confirmation.

Every page calls the resource service, which checks the user's rights and data scope: a user
without `<resource>.view` gets the 403 page however they reach the address. Buttons follow the
same rights, for convenience only.

A `file` / `image` field is a file input: the form is posted as multipart, the file checked by
its content and size by the uploads service (cloud/uploads.py) in the same request and recorded
in the transaction of the record's change — a refused file shows its reason next to the field
and nothing is saved. A stored value shows as its original name linked to the scope-checked
`GET /api/uploads/{id}` (a thumbnail for an image), with a "remove" option; lists show the same.
A resource may also show files kept apart from its fields on its edit page (`show_attached`),
and let its editors add more there (checked like a file field's) and remove some, in the
transaction of the record's change: the resource's own functions check the rights again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import Origin
from cloud.calls import origin
from cloud.context import CONFIG, ENGINE
from cloud.errors import ApiError
from cloud.identity.principal import Principal, authorize
from cloud.portal.forms import FormErrors, form_text
from cloud.portal.render import is_htmx, page, redirect, render
from cloud.resources.declare import RESOURCES, FieldError, Resource
from cloud.resources.query import MAX_PAGE_SIZE, Query
from cloud.resources.service import (
    create_row,
    delete_row,
    get_row,
    list_rows,
    parse_query,
    resource_of,
    update_row,
)
from cloud.resources.values import parse_value
from cloud.uploads import (
    ACCEPTED,
    IMAGE_TYPES,
    Received,
    UploadInfo,
    describe_uploads,
    discard,
    receive_field,
    record_upload,
)

__all__ = [
    "ATTACHED_FIELD",
    "REASON_FIELD",
    "REMOVE_SUFFIX",
    "Attached",
    "AttachedChange",
    "add_routes",
    "show_attached",
]

# the form field of a change's reason (the REST API's `_reason`)
REASON_FIELD = "_reason"
# a file field's "remove" checkbox: `<field>__remove`
REMOVE_SUFFIX = "__remove"
# the edit page's input of files to attach, and (with REMOVE_SUFFIX) of attached ones to remove
ATTACHED_FIELD = "_attached"
_FILE_KINDS = frozenset({"file", "image"})
# keys of a list's address that are the page's, not filters
_PAGE_KEYS = frozenset({"msg"})
_INPUT_TYPES = {
    "int": "number",
    "decimal": "text",
    "date": "date",
    "datetime": "datetime-local",
    "time": "time",
    "phone": "tel",
    "email": "email",
}


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


# adding or removing attached files: (conn, principal, origin, record id, upload ids), in the
# record change's transaction; checks the principal's right to edit the record itself and
# refuses with an ApiError
AttachedChange = Callable[[AsyncConnection, Principal, Origin, str, Sequence[str]], Awaitable[None]]


@dataclass(frozen=True)
class Attached:
    """Files a resource keeps apart from its fields (a staff record's signed documents),
    shown on its edit page: `load(conn, record id)` gives them in order. With `add`, its
    editors attach more files there — of the `types` given (cloud/uploads.py kinds), received
    and recorded as their uploads like a file field's; with `remove`, they take some off."""

    label: str
    load: Callable[[AsyncConnection, str], Awaitable[Sequence[UploadInfo]]]
    add: AttachedChange | None = None
    remove: AttachedChange | None = None
    types: frozenset[str] = frozenset()


_ATTACHED: dict[str, Attached] = {}


def show_attached(resource: str, attached: Attached) -> None:
    """Show `attached` on the edit page of `resource` (at import of the owning module)."""
    _ATTACHED[resource] = attached


def add_routes(app: web.Application) -> None:
    app.router.add_get("/portal/r/{resource}", page(_list))
    app.router.add_get("/portal/r/{resource}/new", page(_new))
    app.router.add_post("/portal/r/{resource}/new", page(_create))
    app.router.add_get("/portal/r/{resource}/{id}/edit", page(_edit))
    app.router.add_post("/portal/r/{resource}/{id}/edit", page(_update))
    app.router.add_post("/portal/r/{resource}/{id}/delete", page(_delete))


async def _list(request: web.Request, me: Principal) -> web.StreamResponse:
    resource = resource_of(request.match_info["resource"])
    filters = MultiDict((k, v) for k, v in request.query.items() if k not in _PAGE_KEYS)
    query = parse_query(resource, filters)
    async with request.app[ENGINE].connect() as conn:
        rows = await list_rows(conn, me, resource, query)
        choices = await _choices(conn, me, resource, resource.filters)
        files = await describe_uploads(
            conn,
            (
                str(r[f.name])
                for r in rows.rows
                for f in resource.list_columns
                if f.kind in _FILE_KINDS and r.get(f.name)
            ),
        )
    exported = urlencode([(k, v) for k, v in filters.items() if k not in ("page", "page_size")])
    context: dict[str, Any] = {
        "resource": resource,
        "rows": rows,
        "query_values": filters,
        "sort": _sort_text(query),
        "pages": max(1, -(-rows.total // rows.page_size)),
        "choices": choices,
        "input_types": _INPUT_TYPES,
        "can": {r: me.can(resource.permission(r)) for r in ("create", "edit", "delete", "read")},
        "export_url": f"/api/r/{resource.name}/export.xlsx" + (f"?{exported}" if exported else ""),
        "base": f"/portal/r/{resource.name}",
        "reason_field": REASON_FIELD,
        "files": files,
    }
    if is_htmx(request):
        return await render(request, "resource_rows.html", me, oob=True, **context)
    return await render(request, "resource_list.html", me, oob=False, **context)


async def _new(request: web.Request, me: Principal) -> web.StreamResponse:
    resource = resource_of(request.match_info["resource"])
    authorize(me, resource.permission("create"))
    values = {f.name: _shown(f.default) for f in resource.fields}
    return await _form(request, me, resource, None, values, FormErrors())


async def _create(request: web.Request, me: Principal) -> web.StreamResponse:
    resource = resource_of(request.match_info["resource"])
    authorize(me, resource.permission("create"))
    form = await request.post()
    body, errors = _read_form(resource, form, creating=True)
    received = await _receive_files(request, resource, form, errors)
    if not errors:
        try:
            async with request.app[ENGINE].begin() as conn:
                origin = _origin(request, me, form)
                body |= await _record_files(conn, me, origin, received)
                await create_row(conn, me, resource, body, origin)
        except ApiError as exc:
            _place(resource, exc, errors)
    if errors:
        return await _form(request, me, resource, None, _echo(form), errors, status=422)
    return redirect(f"/portal/r/{resource.name}", "created")


async def _edit(request: web.Request, me: Principal) -> web.StreamResponse:
    resource = resource_of(request.match_info["resource"])
    authorize(me, resource.permission("edit"))
    async with request.app[ENGINE].connect() as conn:
        row = await get_row(conn, me, resource, request.match_info["id"])
    values = {f.name: _shown(row.get(f.name)) for f in resource.fields}
    return await _form(request, me, resource, row["id"], values, FormErrors())


async def _update(request: web.Request, me: Principal) -> web.StreamResponse:
    resource = resource_of(request.match_info["resource"])
    record_id = request.match_info["id"]
    authorize(me, resource.permission("edit"))
    form = await request.post()
    body, errors = _read_form(resource, form, creating=False)
    attached = _ATTACHED.get(resource.name)
    removed = _removed_attachments(attached, form)
    attaching = await _receive_attachments(request, attached, form, errors)
    received = await _receive_files(request, resource, form, errors)
    if errors:
        discard(attaching)
        attaching = []
    if not errors:
        try:
            async with request.app[ENGINE].begin() as conn:
                origin = _origin(request, me, form)
                body |= await _record_files(conn, me, origin, received)
                await update_row(conn, me, resource, record_id, body, origin)
                if attached is not None and attached.remove is not None and removed:
                    await attached.remove(conn, me, origin, record_id, removed)
                if attached is not None and attached.add is not None and attaching:
                    added = [(await record_upload(conn, me, origin, g)).id for g in attaching]
                    await attached.add(conn, me, origin, record_id, added)
        except ApiError as exc:
            discard(attaching)
            if exc.status in (403, 404) and exc.code != "department_out_of_scope":
                raise
            if attached is not None and exc.message.startswith(f"{attached.label}："):
                errors.add(ATTACHED_FIELD, exc.message.removeprefix(f"{attached.label}："))
            else:
                _place(resource, exc, errors)
    if errors:
        return await _form(request, me, resource, record_id, _echo(form), errors, status=422)
    return redirect(f"/portal/r/{resource.name}", "saved")


async def _delete(request: web.Request, me: Principal) -> web.StreamResponse:
    resource = resource_of(request.match_info["resource"])
    form = await request.post()
    async with request.app[ENGINE].begin() as conn:
        await delete_row(conn, me, resource, request.match_info["id"], _origin(request, me, form))
    if is_htmx(request):
        # the row goes from the list in place; the rest of the page stays as it is
        return web.Response(text="", content_type="text/html")
    back = form_text(form, "back")
    target = back if back.startswith(f"/portal/r/{resource.name}") else f"/portal/r/{resource.name}"
    return redirect(target, "deleted")


# ---------------------------------------------------------------------------- helpers


async def _form(
    request: web.Request,
    me: Principal,
    resource: Resource,
    record_id: str | None,
    values: Mapping[str, Any],
    errors: FormErrors,
    *,
    status: int = 200,
) -> web.Response:
    fields = [f for f in resource.fields if not f.hidden and not f.secret]
    held = [f.name for f in fields if f.kind in _FILE_KINDS]
    attached = _ATTACHED.get(resource.name) if record_id is not None else None
    stored: Mapping[str, Any] = values
    async with request.app[ENGINE].connect() as conn:
        choices = await _choices(conn, me, resource, fields)
        if record_id is not None and held:
            # what the record holds now, whatever was posted
            stored = await get_row(conn, me, resource, record_id)
        files = await describe_uploads(conn, (str(stored.get(n) or "") for n in held))
        current = {n: files.get(str(stored.get(n) or "")) for n in held}
        attachments = await attached.load(conn, record_id) if attached and record_id else []
    editable = me.can(resource.permission("edit"))
    may_attach = editable and attached is not None and attached.add is not None
    may_detach = editable and attached is not None and attached.remove is not None
    kinds = sorted(attached.types if attached is not None and attached.types else ACCEPTED)
    return await render(
        request,
        "resource_form.html",
        me,
        status=status,
        resource=resource,
        record_id=record_id,
        fields=fields,
        values=values,
        errors=errors.by_field,
        choices=choices,
        input_types=_INPUT_TYPES,
        reason_field=REASON_FIELD,
        base=f"/portal/r/{resource.name}",
        multipart=bool(held) or may_attach,
        current=current,
        remove_suffix=REMOVE_SUFFIX,
        attached=attached,
        attachments=attachments,
        attached_field=ATTACHED_FIELD,
        may_attach=may_attach,
        may_detach=may_detach,
        attach_accept=",".join(f".{k}" for k in kinds),
        attach_kinds="、".join(kinds),
    )


def _read_form(
    resource: Resource, form: MultiDictProxy[Any], *, creating: bool
) -> tuple[dict[str, Any], FormErrors]:
    """The body for the service from the form's texts, and what is wrong with it by field:
    every field checked at once (the service stops at the first problem). A file field is in
    the body only when it is removed (None); a new file is received apart."""
    body: dict[str, Any] = {}
    errors = FormErrors()
    for field in resource.fields:
        if not field.writable or field.hidden or field.secret:
            continue
        if field.kind in _FILE_KINDS:
            chosen = _posted_file(form, field.name) is not None
            removed = bool(form_text(form, field.name + REMOVE_SUFFIX)) and not chosen
            if field.required and not chosen and (creating or removed):
                errors.add(field.name, "请选择文件")
            elif removed:
                body[field.name] = None
            continue
        if field.kind == "bool":
            raw: Any = "true" if form_text(form, field.name) else "false"
        else:
            value = form.get(field.name)
            raw = value if isinstance(value, str) else ""
            if field.kind != "textarea":
                raw = raw.strip()
        try:
            parsed = parse_value(field, raw)
        except FieldError as exc:
            errors.add(field.name, exc.message)
            continue
        if field.required and (parsed is None or parsed == ""):
            errors.add(field.name, "不能为空")
            continue
        body[field.name] = raw if raw != "" else None
    if resource.reason_required and not form_text(form, REASON_FIELD):
        errors.add(REASON_FIELD, "请填写修改原因")
    return body, errors


async def _receive_files(
    request: web.Request, resource: Resource, form: MultiDictProxy[Any], errors: FormErrors
) -> dict[str, Received]:
    """The files chosen in the form's file fields, checked and stored (not recorded), when
    the rest of the form is right; a refused file's reason goes next to its field."""
    received: dict[str, Received] = {}
    if errors:
        return received
    for field in resource.fields:
        posted = _posted_file(form, field.name) if field.kind in _FILE_KINDS else None
        if posted is None or not field.writable or field.hidden or field.secret:
            continue
        try:
            got = await receive_field(request.app[CONFIG], posted)
        except ApiError as exc:
            errors.add(field.name, exc.message)
            continue
        if field.kind == "image" and got.type not in IMAGE_TYPES:
            discard([got])
            errors.add(field.name, "只能上传 jpg、bmp、png 图片")
            continue
        received[field.name] = got
    if errors:
        discard(received.values())
        return {}
    return received


def _removed_attachments(attached: Attached | None, form: MultiDictProxy[Any]) -> list[str]:
    """The attached files ticked to be removed; a resource that takes none off refuses any."""
    ticked = [v for v in form.getall(ATTACHED_FIELD + REMOVE_SUFFIX, []) if isinstance(v, str)]
    ticked = [v.strip() for v in ticked if v.strip()]
    if ticked and (attached is None or attached.remove is None):
        raise ApiError("invalid_request", "该记录的附件不能删除")
    if any(len(v) > 64 for v in ticked):
        raise ApiError("invalid_request", "附件编号无效")
    return list(dict.fromkeys(ticked))


async def _receive_attachments(
    request: web.Request,
    attached: Attached | None,
    form: MultiDictProxy[Any],
    errors: FormErrors,
) -> list[Received]:
    """The files chosen to attach, checked by content and size and of the attached kinds,
    stored (not recorded), when the rest of the form is right; else none is kept and the
    reason goes next to the attached files."""
    chosen = [
        f for f in form.getall(ATTACHED_FIELD, []) if isinstance(f, web.FileField) and f.filename
    ]
    if not chosen:
        return []
    if attached is None or attached.add is None:
        raise ApiError("invalid_request", "该记录不能添加附件")
    if errors:
        return []
    received: list[Received] = []
    for file in chosen:
        try:
            got = await receive_field(request.app[CONFIG], file)
        except ApiError as exc:
            errors.add(ATTACHED_FIELD, f"{file.filename}：{exc.message}")
            break
        received.append(got)
        if attached.types and got.type not in attached.types:
            kinds = "、".join(sorted(attached.types))
            errors.add(ATTACHED_FIELD, f"{file.filename}：只能是 {kinds} 文件")
            break
    if errors:
        discard(received)
        return []
    return received


async def _record_files(
    conn: AsyncConnection, me: Principal, origin: Origin, received: Mapping[str, Received]
) -> dict[str, str]:
    """The received files recorded as the user's uploads: field name -> upload id."""
    return {name: (await record_upload(conn, me, origin, got)).id for name, got in received.items()}


def _posted_file(form: MultiDictProxy[Any], name: str) -> web.FileField | None:
    """The file chosen in a file input (an input left empty posts no file name)."""
    value = form.get(name)
    return value if isinstance(value, web.FileField) and value.filename else None


def _place(resource: Resource, exc: ApiError, errors: FormErrors) -> None:
    """Show the service's refusal next to the field it names (by its label), else above the
    form."""
    detail = exc.message.split("：", 1)[1] if "：" in exc.message else ""
    for field in resource.fields:
        if detail.startswith(f"{field.label}："):
            errors.add(field.name, detail.removeprefix(f"{field.label}："))
            return
        if exc.code == "duplicate_value" and detail.startswith(f"{field.label}「"):
            errors.add(field.name, f"{detail.removeprefix(field.label)}已被使用")
            return
    if exc.code == "reason_required":
        errors.add(REASON_FIELD, "请填写修改原因")
        return
    errors.add("", exc.message)


async def _choices(
    conn: AsyncConnection, me: Principal, resource: Resource, fields: Any
) -> dict[str, list[Choice]]:
    """The options of the choice and ref fields among `fields`: fixed options, a dictionary
    category's enabled items, or the referenced records the user may view."""
    from cloud.resources.catalog import dictionary_categories, dictionary_items

    found: dict[str, list[Choice]] = {}
    for field in fields:
        if field.kind == "choice" and field.options:
            found[field.name] = [Choice(v, label) for v, label in field.options]
        elif field.kind == "choice" and field.dictionary is not None:
            rows = await conn.execute(
                sa.select(dictionary_items.c.code, dictionary_items.c.label)
                .join(
                    dictionary_categories,
                    dictionary_categories.c.id == dictionary_items.c.category,
                )
                .where(dictionary_categories.c.code == field.dictionary, dictionary_items.c.enabled)
                .order_by(dictionary_items.c.sort, dictionary_items.c.code)
            )
            found[field.name] = [Choice(r.code, r.label) for r in rows]
        elif field.kind == "ref" and field.ref is not None:
            target = RESOURCES[field.ref]
            if not me.can(target.permission("view")):
                found[field.name] = []
                continue
            listed = await list_rows(conn, me, target, Query(page_size=MAX_PAGE_SIZE))
            found[field.name] = [
                Choice(r["id"], str(r.get(target.title) or r["id"])) for r in listed.rows
            ]
        elif field.kind == "bool":
            found[field.name] = [Choice("true", "是"), Choice("false", "否")]
    return found


def _origin(request: web.Request, me: Principal, form: Mapping[str, Any]) -> Origin:
    return origin(request, me).with_reason(form_text(form, "_reason", 500) or None)


def _echo(form: MultiDictProxy[Any]) -> dict[str, str]:
    """What the user typed, shown again with the errors."""
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _shown(value: Any) -> Any:
    """A stored value as a form input's value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    return str(value)


def _sort_text(query: Query) -> str:
    return ",".join(("-" if descending else "") + name for name, descending in query.sort)
