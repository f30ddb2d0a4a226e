"""What a declared resource can do, for the REST API and for the portal alike: list, get,
create, update, delete — every call checked against the principal's rights and data scope,
every write one transaction (the caller's `conn`) with its audit row.

The portal calls these directly: open `engine.begin()`, call, and let the block commit; an
`ApiError` raised inside rolls the change and its audit row back together.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from cloud.audit import Origin, record
from cloud.db import is_postgresql
from cloud.errors import ApiError, register_errors
from cloud.identity.principal import Principal, authorize, check_record
from cloud.identity.tables import org_closure, org_units
from cloud.resources.declare import RESOURCES, Change, Field, FieldError, Resource
from cloud.resources.query import (
    Page,
    Query,
    conditions,
    parse_query,
    row_select,
    scoped_where,
)
from cloud.resources.values import parse_value, plain

__all__ = [
    "Page",
    "Query",
    "create_row",
    "delete_row",
    "get_row",
    "list_rows",
    "parse_query",
    "resource_of",
    "update_row",
]

register_errors(
    {
        "unknown_resource": (404, "没有这种数据"),
        "record_not_found": (404, "记录不存在"),
        "unknown_field": (422, "没有这个字段"),
        "invalid_field": (422, "填写的内容无效"),
        "duplicate_value": (409, "该值已被使用"),
        "in_use": (409, "该记录仍被其他数据引用，不能删除"),
        "department_out_of_scope": (403, "不能在该部门下新增或移入记录"),
    }
)


def resource_of(name: str) -> Resource:
    """The declared resource `name`; 404 `unknown_resource` when there is none."""
    resource = RESOURCES.get(name)
    if resource is None:
        raise ApiError("unknown_resource", name[:64])
    return resource


async def list_rows(
    conn: AsyncConnection, principal: Principal, resource: Resource, query: Query
) -> Page:
    """One page of the rows the principal may view (`<resource>.view`) matching `query`."""
    where = scoped_where(principal, resource, "view")
    statement = row_select(resource, query).where(*where)
    offset = (query.page - 1) * query.page_size
    rows = (await conn.execute(statement.limit(query.page_size).offset(offset))).all()
    count = (
        sa.select(sa.func.count())
        .select_from(resource.table)
        .where(*conditions(resource, query), *where)
    )
    total = int(await conn.scalar(count) or 0)
    return Page([_answer(resource, r._mapping) for r in rows], total, query.page, query.page_size)


async def get_row(
    conn: AsyncConnection, principal: Principal, resource: Resource, record_id: str
) -> dict[str, Any]:
    """One record the principal may read; 403 without the right, 404 when it is not there
    or out of the principal's view."""
    authorize(principal, resource.permission("read"))
    row = await _stored(conn, resource, record_id)
    await _check(conn, principal, resource, row, "read")
    return await _answer_of(conn, resource, record_id)


async def create_row(
    conn: AsyncConnection,
    principal: Principal,
    resource: Resource,
    body: Mapping[str, Any],
    origin: Origin,
) -> dict[str, Any]:
    """A new record from `body` (field name -> JSON value; the department column may name
    the record's org unit, by default the creator's, within their create scope)."""
    authorize(principal, resource.permission("create"))
    values = {f.name: f.default for f in resource.fields if f.writable}
    values |= _parsed(resource, body)
    department = values.pop(resource.department, None) if resource.department else None
    if resource.department is not None:
        department = department or principal.department_id
        await _may_place(conn, principal, resource, "create", department)
    record_id = str(ULID())
    change = Change(conn, principal, resource, "create", record_id, None, values, origin)
    await _prepare(change)
    now = _now_ms()
    stored = dict(values)
    stored[resource.id_column] = record_id
    if resource.department is not None:
        stored[resource.department] = department
    if resource.owner is not None:
        stored[resource.owner] = principal.id if not principal.id.startswith("admin:") else None
    stored |= {c: now for c in ("created_at", "updated_at") if c in resource.table.c}
    await _write(conn, resource, sa.insert(resource.table).values(stored))
    for hook in resource.after:
        await hook(change)
    await record(
        conn,
        origin,
        action="create",
        resource=resource.name,
        resource_id=record_id,
        hall=_hall(resource, stored),
        new=_audited(resource, stored),
        now_ms=now,
    )
    return await _answer_of(conn, resource, record_id)


async def update_row(
    conn: AsyncConnection,
    principal: Principal,
    resource: Resource,
    record_id: str,
    body: Mapping[str, Any],
    origin: Origin,
) -> dict[str, Any]:
    """The record with the fields of `body` changed; only the fields that differ are written
    and audited (old and new)."""
    authorize(principal, resource.permission("edit"))
    old = await _stored(conn, resource, record_id, lock=True)
    await _check(conn, principal, resource, old, "edit")
    changes = _parsed(resource, body)
    column = resource.department
    department = old[column] if column is not None else None
    if column is not None and column in changes:
        department = changes.pop(column) or old[column]
        if department != old[column]:
            await _may_place(conn, principal, resource, "edit", department)
    new = {f.name: old[f.name] for f in resource.fields} | changes
    change = Change(conn, principal, resource, "update", record_id, old, new, origin)
    await _prepare(change)
    differs = {k: v for k, v in new.items() if v != old[k]}
    if column is not None and department != old[column]:
        differs[column] = department
    if not differs:
        return await _answer_of(conn, resource, record_id)
    now = _now_ms()
    written = differs | ({"updated_at": now} if "updated_at" in resource.table.c else {})
    id_column = resource.table.c[resource.id_column]
    await _write(
        conn, resource, sa.update(resource.table).where(id_column == record_id).values(written)
    )
    for hook in resource.after:
        await hook(change)
    await record(
        conn,
        origin,
        action="update",
        resource=resource.name,
        resource_id=record_id,
        hall=_hall(resource, {**old, **differs}),
        old=_audited(resource, {k: old[k] for k in differs}),
        new=_audited(resource, differs),
        now_ms=now,
    )
    return await _answer_of(conn, resource, record_id)


async def delete_row(
    conn: AsyncConnection,
    principal: Principal,
    resource: Resource,
    record_id: str,
    origin: Origin,
) -> None:
    """Delete the record; 409 `in_use` while another record refers to it."""
    authorize(principal, resource.permission("delete"))
    old = await _stored(conn, resource, record_id, lock=True)
    await _check(conn, principal, resource, old, "delete")
    change = Change(conn, principal, resource, "delete", record_id, old, None, origin)
    for hook in resource.before:
        await hook(change)
    await _refuse_if_referenced(conn, resource, record_id)
    id_column = resource.table.c[resource.id_column]
    try:
        async with conn.begin_nested():
            await conn.execute(sa.delete(resource.table).where(id_column == record_id))
    except sa.exc.IntegrityError:
        raise ApiError("in_use") from None
    for hook in resource.after:
        await hook(change)
    await record(
        conn,
        origin,
        action="delete",
        resource=resource.name,
        resource_id=record_id,
        hall=_hall(resource, old),
        old=_audited(resource, old),
        now_ms=_now_ms(),
    )


# ---------------------------------------------------------------------------- helpers


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _parsed(resource: Resource, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's values, parsed; 422 naming an unknown or read-only field or a bad value."""
    values: dict[str, Any] = {}
    for key, raw in body.items():
        if key == resource.department and resource.department is not None:
            if raw is not None and (not isinstance(raw, str) or len(raw) > 64):
                raise ApiError("invalid_field", "所属部门：不是有效的编号")
            values[key] = raw or None
            continue
        try:
            field = resource.field(key)
        except KeyError:
            raise ApiError("unknown_field", str(key)[:64]) from None
        if not field.writable:
            raise ApiError("invalid_field", f"{field.label}：只读，不能填写")
        values[key] = _field_value(resource, field, raw)
    return values


def _field_value(resource: Resource, field: Field, raw: Any) -> Any:
    try:
        return parse_value(field, raw)
    except FieldError as exc:
        raise _refusal(resource, exc) from None


def _refusal(resource: Resource, exc: FieldError) -> ApiError:
    try:
        label = resource.field(exc.field).label
    except KeyError:
        label = exc.field
    return ApiError("invalid_field", f"{label}：{exc.message}")


async def _prepare(change: Change) -> None:
    """The before hooks, then the checks of the whole new record: required fields, the
    referenced records, dictionary items and uploads, uniqueness."""
    resource, new = change.resource, change.new
    assert new is not None
    try:
        for hook in resource.before:
            await hook(change)
    except FieldError as exc:
        raise _refusal(resource, exc) from None
    changed = {k for k in new if change.old is None or new[k] != change.old.get(k)}
    for field in resource.fields:
        value = new.get(field.name)
        if field.required and (value is None or value == ""):
            raise ApiError("invalid_field", f"{field.label}：不能为空")
        if value is None or field.name not in changed:
            continue
        if field.kind == "ref":
            await _check_ref(change, field, value)
        elif field.kind == "choice" and field.dictionary is not None:
            await _check_dictionary(change.conn, field, value)
        elif field.kind in ("file", "image"):
            await _check_upload(change, field, value)
    for field in resource.fields:
        together = (field.name, *field.unique_with)
        if field.unique and changed & set(together):
            await _check_unique(change, together, field)


async def _check_ref(change: Change, field: Field, value: str) -> None:
    """A ref names a record of its resource that exists and, for a scoped one, that the
    principal may view: a record out of their reach is not revealed."""
    assert field.ref is not None
    target = RESOURCES[field.ref]
    statement = sa.select(sa.literal(1)).where(target.table.c[target.id_column] == value)
    if target.scoped:
        if not change.principal.can(target.permission("view")):
            raise ApiError("invalid_field", f"{field.label}：没有查看{target.label}的权限")
        statement = statement.where(*scoped_where(change.principal, target, "view"))
    if await change.conn.scalar(statement) is None:
        raise ApiError("invalid_field", f"{field.label}：所选的{target.label}不存在")


async def _check_dictionary(conn: AsyncConnection, field: Field, value: str) -> None:
    from cloud.resources.catalog import dictionary_categories, dictionary_items

    found = await conn.scalar(
        sa.select(sa.literal(1))
        .select_from(dictionary_items)
        .join(dictionary_categories, dictionary_categories.c.id == dictionary_items.c.category)
        .where(
            dictionary_categories.c.code == field.dictionary,
            dictionary_items.c.code == value,
            dictionary_items.c.enabled,
        )
    )
    if found is None:
        raise ApiError("invalid_field", f"{field.label}：不是可选的值")


async def _check_upload(change: Change, field: Field, value: str) -> None:
    """A file newly set on a record is one the principal uploaded: a record holding a file
    lets its viewers read it (cloud/uploads.py), so naming someone else's upload would hand
    it out. Another's upload answers as one that does not exist."""
    from cloud.uploads import IMAGE_TYPES, uploads

    row = (
        await change.conn.execute(
            sa.select(uploads.c.type, uploads.c.uploaded_by).where(uploads.c.id == value)
        )
    ).first()
    principal = change.principal
    if row is None or (row.uploaded_by != principal.id and not principal.superuser):
        raise ApiError("invalid_field", f"{field.label}：文件不存在，请重新上传")
    kind = row.type
    if field.kind == "image" and kind not in IMAGE_TYPES:
        raise ApiError("invalid_field", f"{field.label}：应为图片")


async def _check_unique(change: Change, together: tuple[str, ...], field: Field) -> None:
    assert change.new is not None
    table = change.resource.table
    statement = sa.select(sa.literal(1)).where(
        *(table.c[name] == change.new.get(name) for name in together)
    )
    if change.old is not None:
        statement = statement.where(table.c[change.resource.id_column] != change.id)
    if await change.conn.scalar(statement.limit(1)) is not None:
        raise ApiError("duplicate_value", f"{field.label}「{change.new.get(field.name)}」")


async def _write(conn: AsyncConnection, resource: Resource, statement: sa.Executable) -> None:
    """Run the insert or update; a unique key taken by a concurrent change since the check is
    409 all the same, a foreign key to nothing 422."""
    try:
        async with conn.begin_nested():
            await conn.execute(statement)
    except sa.exc.IntegrityError as exc:
        text = str(exc.orig).lower()
        if "unique" in text or "duplicate" in text:
            raise ApiError("duplicate_value", resource.label) from None
        raise ApiError("invalid_field", "引用的数据不存在") from None


async def _refuse_if_referenced(conn: AsyncConnection, resource: Resource, record_id: str) -> None:
    for other in RESOURCES.values():
        for field in other.fields:
            if field.kind == "ref" and field.ref == resource.name:
                found = await conn.scalar(
                    sa.select(sa.literal(1)).where(other.table.c[field.name] == record_id).limit(1)
                )
                if found is not None:
                    raise ApiError("in_use", f"{other.label}中仍有引用")


async def _may_place(
    conn: AsyncConnection, principal: Principal, resource: Resource, right: str, unit: str | None
) -> None:
    """Refuse (403) putting a record into org unit `unit` beyond the principal's scope for
    `right`; 422 for a unit that does not exist."""
    scope = principal.scope(resource.permission(right))
    if unit is not None:
        exists = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.id == unit))
        if exists is None:
            raise ApiError("invalid_field", "所属部门：部门不存在")
    if scope == "all":
        return
    mine = principal.department_id
    if unit is None or mine is None:
        raise ApiError("department_out_of_scope", "未指定部门")
    if scope in ("own", "dept") and unit == mine:
        return
    if scope == "dept_tree":
        below = await conn.scalar(
            sa.select(sa.literal(1)).where(
                org_closure.c.ancestor == mine, org_closure.c.descendant == unit
            )
        )
        if below is not None:
            return
    raise ApiError("department_out_of_scope")


async def _stored(
    conn: AsyncConnection, resource: Resource, record_id: str, *, lock: bool = False
) -> dict[str, Any]:
    if len(record_id) > 64:
        raise ApiError("record_not_found")
    statement = sa.select(resource.table).where(resource.table.c[resource.id_column] == record_id)
    if lock and is_postgresql(conn):
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    if row is None:
        raise ApiError("record_not_found")
    return dict(row._mapping)


async def _check(
    conn: AsyncConnection,
    principal: Principal,
    resource: Resource,
    row: Mapping[str, Any],
    right: str,
) -> None:
    if not resource.scoped:
        return
    await check_record(
        conn,
        principal,
        resource.name,
        right,
        department=row[resource.department] if resource.department else None,
        owner=row[resource.owner] if resource.owner else None,
        not_found="record_not_found",
    )


async def _answer_of(conn: AsyncConnection, resource: Resource, record_id: str) -> dict[str, Any]:
    statement = row_select(resource, None).where(resource.table.c[resource.id_column] == record_id)
    row = (await conn.execute(statement)).one()
    return _answer(resource, row._mapping)


def _answer(resource: Resource, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON: `id`, the fields, the department, owner and times, and `_labels`."""
    answer: dict[str, Any] = {"id": row[resource.id_column]}
    labels: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith("_label_"):
            labels[key.removeprefix("_label_")] = value
            continue
        if key in resource.secret_fields:
            continue
        answer[key] = plain(value)
        field = _field_or_none(resource, key)
        if field is not None and field.kind == "choice" and field.options:
            labels[key] = dict(field.options).get(value) if value is not None else None
    answer["_labels"] = labels
    return answer


def _field_or_none(resource: Resource, name: str) -> Field | None:
    try:
        return resource.field(name)
    except KeyError:
        return None


def _audited(resource: Resource, values: Mapping[str, Any]) -> dict[str, Any]:
    # as JSON already: the audit log knows dates, not decimals
    return {k: plain(v) for k, v in values.items() if k not in resource.secret_fields}


def _hall(resource: Resource, values: Mapping[str, Any]) -> str | None:
    if resource.hall is None:
        return None
    hall = values.get(resource.hall)
    return str(hall) if hall is not None else None
