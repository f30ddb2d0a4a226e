"""A resource described for forms and list pages: its fields with their labels, kinds,
limits and options, its filters and columns, and the rights the caller holds."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.identity.permissions import RIGHTS
from cloud.identity.principal import Principal
from cloud.resources.declare import RESOURCES, Field, Resource

__all__ = ["describe"]


async def describe(
    conn: AsyncConnection, principal: Principal, resource: Resource
) -> dict[str, Any]:
    """The resource as JSON for a form or a list page; a dictionary choice's options are its
    category's enabled items, in their order."""
    fields = [await _field(conn, f) for f in resource.fields if not f.secret]
    return {
        "name": resource.name,
        "label": resource.label,
        "title": resource.title,
        "scoped": resource.scoped,
        "department": resource.department if resource.scoped else None,
        "reason_required": resource.reason_required,
        "fields": fields,
        "columns": [f.name for f in resource.list_columns],
        "filters": [{"name": f.name, "label": f.label, "kind": f.filter} for f in resource.filters],
        "order": list(resource.order),
        "rights": [r for r in RIGHTS if principal.can(resource.permission(r))],
        "menu": (
            {"parent": resource.menu.parent, "title": resource.menu.title}
            if resource.menu is not None
            else None
        ),
    }


async def _field(conn: AsyncConnection, field: Field) -> dict[str, Any]:
    described: dict[str, Any] = {
        "name": field.name,
        "label": field.label,
        "kind": field.kind,
        "required": field.required,
        "readonly": field.readonly,
        "hidden": field.hidden,
        "unique": field.unique,
        "max_length": field.max_length,
        "min": str(field.min) if field.min is not None else None,
        "max": str(field.max) if field.max is not None else None,
        "default": field.default,
        "filter": field.filter,
    }
    if field.kind == "choice":
        described["options"] = (
            [{"value": v, "label": label} for v, label in field.options]
            if field.options
            else await _dictionary_options(conn, field)
        )
    if field.kind == "ref" and field.ref is not None:
        described["ref"] = {"resource": field.ref, "label": RESOURCES[field.ref].label}
    return described


async def _dictionary_options(conn: AsyncConnection, field: Field) -> list[dict[str, str]]:
    from cloud.resources.catalog import dictionary_categories, dictionary_items

    rows = await conn.execute(
        sa.select(dictionary_items.c.code, dictionary_items.c.label)
        .join(dictionary_categories, dictionary_categories.c.id == dictionary_items.c.category)
        .where(dictionary_categories.c.code == field.dictionary, dictionary_items.c.enabled)
        .order_by(dictionary_items.c.sort_no, dictionary_items.c.code)
    )
    return [{"value": code, "label": label} for code, label in rows]
