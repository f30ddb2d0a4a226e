"""Who reaches a hall's configuration: the function permission `hall_config.<right>` and the
hall's site unit (网点) within the caller's data scope — for one hall, and as the list of the
halls a user may see."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.db import hall_setups, halls
from cloud.errors import ApiError
from cloud.hallconfig.tables import hall_settings
from cloud.identity.principal import (
    Principal,
    authorize,
    check_record,
    hall_unit,
    scope_clause,
)
from cloud.identity.tables import org_units

__all__ = ["RESOURCE", "HallEntry", "check_hall", "halls_in_scope"]

RESOURCE = "hall_config"  # the permissions: hall_config.view, .read, .create, .edit, .delete,
# .publish, .import


@dataclass(frozen=True)
class HallEntry:
    """A hall as the list of halls shows it: its name (the authored one, else the registered
    one), its site unit and newest stored version."""

    id: str
    name: str
    disabled: bool
    unit_name: str | None
    version: int | None
    published_at: int | None


async def check_hall(
    conn: AsyncConnection, principal: Principal, hall: str, right: str
) -> str | None:
    """The hall's site unit (the department of its pieces) when the principal holds
    `hall_config.<right>` over it: 403 without the permission, 404 `unknown_hall` for a hall
    that is not there or lies outside the principal's scope."""
    authorize(principal, f"{RESOURCE}.{right}")
    if await conn.scalar(sa.select(halls.c.id).where(halls.c.id == hall)) is None:
        raise ApiError("unknown_hall", hall)
    department = await hall_unit(conn, hall)
    await check_record(conn, principal, RESOURCE, right, department=department, owner=None,
                       not_found="unknown_hall")  # fmt: skip
    return department


async def halls_in_scope(conn: AsyncConnection, principal: Principal) -> list[HallEntry]:
    """The halls whose configuration the principal may view (403 without `hall_config.view`),
    by name, each with its newest stored version."""
    authorize(principal, f"{RESOURCE}.view")
    # correlated subqueries, not LATERAL joins: the same statement runs on SQLite
    first_unit = (
        sa.select(org_units.c.id)
        .where(org_units.c.hall == halls.c.id)
        .order_by(org_units.c.id)
        .limit(1)
        .scalar_subquery()
    )
    named = org_units.alias("named")  # apart from the subquery's own org_units
    unit_name = sa.select(named.c.name).where(named.c.id == first_unit).scalar_subquery()
    newest_version = (
        sa.select(sa.func.max(hall_setups.c.version))
        .where(hall_setups.c.hall == halls.c.id)
        .scalar_subquery()
    )
    newest_at = (
        sa.select(hall_setups.c.created_at)
        .where(hall_setups.c.hall == halls.c.id)
        .order_by(hall_setups.c.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    reach = sa.or_(
        *(
            scope_clause(principal, f"{RESOURCE}.{right}", department=first_unit, owner=None)
            for right in ("view", "read")
        )
    )
    rows = await conn.execute(
        sa.select(
            halls.c.id,
            sa.func.coalesce(hall_settings.c.name, halls.c.name).label("name"),
            halls.c.disabled,
            unit_name.label("unit_name"),
            newest_version.label("version"),
            newest_at.label("created_at"),
        )
        .select_from(halls)
        .outerjoin(hall_settings, hall_settings.c.hall == halls.c.id)
        .where(reach)
        .order_by(sa.func.coalesce(hall_settings.c.name, halls.c.name), halls.c.id)
    )
    return [
        HallEntry(r.id, r.name, bool(r.disabled), r.unit_name, r.version, r.created_at)
        for r in rows
    ]
