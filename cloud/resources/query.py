"""A resource's list query: filters, sort and page read from a query string's mapping, and
the SELECT that answers it — scope, labels of choices and refs, order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import sqlalchemy as sa

from cloud.errors import ApiError, register_errors
from cloud.identity.principal import Principal, authorize, scope_clause
from cloud.resources.declare import RESOURCES, Field, FieldError, Resource
from cloud.resources.values import TEXT_KINDS, parse_value

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Filter",
    "Page",
    "Query",
    "conditions",
    "parse_query",
    "row_select",
    "scoped_where",
    "sort_keys",
]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
_MAX_IN = 100  # values of one `in` filter
_MAX_TEXT = 200  # characters of one filter value

register_errors({"invalid_filter": (400, "查询条件无效")})

Op = Literal["eq", "like", "in", "from", "to"]


@dataclass(frozen=True)
class Filter:
    column: str
    op: Op
    value: Any


@dataclass(frozen=True)
class Query:
    """Every filter must hold (AND); `sort` is (column, descending) pairs."""

    filters: tuple[Filter, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Page:
    """One page of a list: the rows as JSON (each with `id` and, for choices and refs, their
    `_labels`), and the number of rows of every page."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def parse_query(resource: Resource, mapping: Mapping[str, Any]) -> Query:
    """The query of a list's query string (a mapping; several values of one key where it
    has `getall`): `<field>=` for the field's filter (comma-separated or repeated values for
    `in`), `<field>__from` / `<field>__to` for a range, the department column (eq or
    comma-separated in), `sort=a,-b`, `page`, `page_size` (≤ 200). Empty values are no
    filter. Anything else is refused, 400 `invalid_filter` naming it."""
    filters: list[Filter] = []
    page, page_size, sort = 1, DEFAULT_PAGE_SIZE, ""
    by_name = {f.name: f for f in resource.filters}
    for key in dict.fromkeys(mapping.keys()):
        values = _values(mapping, key)
        if key == "page":
            page = _number(key, values, 1, 1_000_000)
        elif key == "page_size":
            page_size = _number(key, values, 1, MAX_PAGE_SIZE)
        elif key == "sort":
            sort = values[-1]
        elif key == resource.department and resource.scoped:
            units = _split(key, values)
            if units:
                filters.append(Filter(key, "in", tuple(units)))
        else:
            name, _, bound = key.partition("__")
            field = by_name.get(name)
            if field is None or (
                bound and (field.filter != "range" or bound not in ("from", "to"))
            ):
                raise ApiError("invalid_filter", f"没有查询条件 {key}")
            filters.extend(_filters(field, bound, values))
    return Query(tuple(filters), sort_keys(resource, sort), page, page_size)


def sort_keys(resource: Resource, text: str) -> tuple[tuple[str, bool], ...]:
    """`a,-b` as (column, descending) pairs, over the sortable columns only; the resource's
    default order when empty."""
    allowed = {f.name for f in resource.fields if f.listed}
    allowed |= {c for c in ("created_at", "updated_at") if c in resource.table.c}
    keys: list[tuple[str, bool]] = []
    for part in (p.strip() for p in (text or ",".join(resource.order)).split(",")):
        if not part:
            continue
        name = part.lstrip("-")
        if name not in allowed:
            raise ApiError("invalid_filter", f"不能按 {name} 排序")
        keys.append((name, part.startswith("-")))
    return tuple(keys)


def scoped_where(
    principal: Principal, resource: Resource, *rights: str
) -> list[sa.ColumnElement[bool]]:
    """The conditions that keep rows to the principal's scope for each of `rights` (403 when
    one is not held at all); none for a global resource."""
    where: list[sa.ColumnElement[bool]] = []
    for right in rights:
        authorize(principal, resource.permission(right))
        if resource.scoped:
            where.append(
                scope_clause(
                    principal,
                    resource.permission(right),
                    department=_column(resource, resource.department),
                    owner=_column(resource, resource.owner),
                )
            )
    return where


def row_select(resource: Resource, query: Query | None) -> sa.Select[Any]:
    """The rows of the resource with the labels of their choices and refs (`_label_<field>`),
    filtered and ordered by `query` (id last, so pages are stable), not yet scoped or paged."""
    table = resource.table
    columns: list[sa.ColumnElement[Any]] = [
        c for c in table.c if c.name not in resource.secret_fields
    ]
    source: sa.FromClause = table
    for field in resource.fields:
        if field.kind == "ref" and field.ref is not None:
            target = RESOURCES[field.ref]
            other = target.table.alias(f"ref_{field.name}")
            source = source.outerjoin(other, other.c[target.id_column] == table.c[field.name])
            columns.append(other.c[target.title].label(f"_label_{field.name}"))
        elif field.kind == "choice" and field.dictionary is not None:
            columns.append(_dictionary_label(field, table.c[field.name]))
    statement = sa.select(*columns).select_from(source)
    if query is not None:
        statement = statement.where(*conditions(resource, query))
        order = [
            table.c[name].desc() if descending else table.c[name].asc()
            for name, descending in query.sort
        ]
        statement = statement.order_by(*order, table.c[resource.id_column])
    return statement


def conditions(resource: Resource, query: Query) -> list[sa.ColumnElement[bool]]:
    """The query's filters as conditions on the resource's table."""
    return [_condition(resource, f) for f in query.filters]


# ---------------------------------------------------------------------------- helpers


def _column(resource: Resource, name: str | None) -> sa.ColumnElement[Any] | None:
    return resource.table.c[name] if name is not None else None


def _dictionary_label(field: Field, column: sa.ColumnElement[Any]) -> sa.Label[Any]:
    from cloud.resources.catalog import dictionary_categories, dictionary_items

    return (
        sa.select(dictionary_items.c.label)
        .join(dictionary_categories, dictionary_categories.c.id == dictionary_items.c.category)
        .where(
            dictionary_categories.c.code == field.dictionary,
            dictionary_items.c.code == column,
        )
        .limit(1)
        .scalar_subquery()
        .label(f"_label_{field.name}")
    )


def _condition(resource: Resource, f: Filter) -> sa.ColumnElement[bool]:
    column = resource.table.c[f.column]
    if f.op == "eq":
        return cast(sa.ColumnElement[bool], column == f.value)
    if f.op == "in":
        return column.in_(f.value)
    if f.op == "from":
        return cast(sa.ColumnElement[bool], column >= f.value)
    if f.op == "to":
        return cast(sa.ColumnElement[bool], column <= f.value)
    escaped = str(f.value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def _filters(field: Field, bound: str, values: list[str]) -> list[Filter]:
    if field.filter == "in":
        parsed = [_parse(field, v) for v in _split(field.name, values)]
        return [Filter(field.name, "in", tuple(parsed))] if parsed else []
    text = values[-1]
    if not text.strip():
        return []
    if len(text) > _MAX_TEXT:
        raise ApiError("invalid_filter", f"{field.label} 的查询值过长")
    if field.filter == "like" and field.kind in TEXT_KINDS:
        return [Filter(field.name, "like", text.strip())]
    op: Op = "from" if bound == "from" else "to" if bound == "to" else "eq"
    return [Filter(field.name, op, _parse(field, text))]


def _parse(field: Field, text: str) -> Any:
    try:
        value = parse_value(field, text)
    except FieldError as exc:
        raise ApiError("invalid_filter", f"{field.label}{exc.message}") from None
    return value


def _values(mapping: Mapping[str, Any], key: str) -> list[str]:
    getall = getattr(mapping, "getall", None)
    raw = getall(key) if getall is not None else [mapping[key]]
    values: list[str] = []
    for value in raw:
        if isinstance(value, list | tuple):
            values.extend(str(v) for v in value)
        elif isinstance(value, str | int):
            values.append(str(value))
        else:
            raise ApiError("invalid_filter", f"{key} 的值无效")
    return values or [""]


def _split(key: str, values: list[str]) -> list[str]:
    parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
    if len(parts) > _MAX_IN:
        raise ApiError("invalid_filter", f"{key} 最多 {_MAX_IN} 个值")
    if any(len(p) > _MAX_TEXT for p in parts):
        raise ApiError("invalid_filter", f"{key} 的值过长")
    return parts


def _number(key: str, values: list[str], low: int, high: int) -> int:
    try:
        value = int(values[-1])
    except ValueError:
        raise ApiError("invalid_filter", f"{key} 应为整数") from None
    if not low <= value <= high:
        raise ApiError("invalid_filter", f"{key} 应在 {low} 到 {high} 之间")
    return value
