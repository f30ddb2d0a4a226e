"""The organisation tree (§3.9, §21.3.7–21.3.9): regions, departments and sites, kept with a
closure table so that "a department and everything below it" is one indexed lookup."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from cloud.errors import ApiError
from cloud.identity.tables import org_closure, org_units

__all__ = ["Kind", "create_unit", "descendants", "move_unit"]

Kind = Literal["region", "department", "site"]


async def create_unit(
    conn: AsyncConnection,
    *,
    kind: Kind,
    name: str,
    parent_id: str | None,
    now_ms: int,
    id: str | None = None,
    code: str | None = None,
    short_name: str | None = None,
    hall: str | None = None,
    head_user_id: str | None = None,
    sort: int = 0,
) -> str:
    """A new unit under `parent_id` (None: a root); its id. Refuses an unknown parent."""
    unit_id = id or str(ULID())
    if parent_id is not None:
        exists = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.id == parent_id))
        if exists is None:
            raise ApiError("unknown_org_unit", parent_id)
    await conn.execute(
        org_units.insert().values(
            id=unit_id,
            parent_id=parent_id,
            kind=kind,
            name=name,
            short_name=short_name,
            code=code,
            hall=hall,
            head_user_id=head_user_id,
            sort=sort,
            created_at=now_ms,
        )
    )
    await conn.execute(org_closure.insert().values(ancestor=unit_id, descendant=unit_id, depth=0))
    if parent_id is not None:
        above = sa.select(
            org_closure.c.ancestor,
            sa.literal(unit_id).label("descendant"),
            (org_closure.c.depth + 1).label("depth"),
        ).where(org_closure.c.descendant == parent_id)
        await conn.execute(
            org_closure.insert().from_select(["ancestor", "descendant", "depth"], above)
        )
    return unit_id


async def move_unit(conn: AsyncConnection, unit_id: str, new_parent_id: str | None) -> None:
    """Hang a unit and its subtree under another parent (None: make it a root). Refuses a move
    under the unit itself or one of its descendants."""
    if new_parent_id is not None:
        if new_parent_id in await descendants(conn, unit_id):
            raise ApiError("org_cycle")
        exists = await conn.scalar(sa.select(org_units.c.id).where(org_units.c.id == new_parent_id))
        if exists is None:
            raise ApiError("unknown_org_unit", new_parent_id)
    subtree = sa.select(org_closure.c.descendant).where(org_closure.c.ancestor == unit_id)
    # cut the links from the subtree to everything above the unit
    above = sa.select(org_closure.c.ancestor).where(
        org_closure.c.descendant == unit_id, org_closure.c.ancestor != unit_id
    )
    await conn.execute(
        org_closure.delete().where(
            org_closure.c.descendant.in_(subtree), org_closure.c.ancestor.in_(above)
        )
    )
    if new_parent_id is not None:
        sup = org_closure.alias("sup")
        sub = org_closure.alias("sub")
        links = sa.select(
            sup.c.ancestor, sub.c.descendant, (sup.c.depth + sub.c.depth + 1).label("depth")
        ).select_from(sup.join(sub, sa.true()))
        links = links.where(sup.c.descendant == new_parent_id, sub.c.ancestor == unit_id)
        await conn.execute(
            org_closure.insert().from_select(["ancestor", "descendant", "depth"], links)
        )
    await conn.execute(
        org_units.update().where(org_units.c.id == unit_id).values(parent_id=new_parent_id)
    )


async def descendants(conn: AsyncConnection, unit_id: str) -> set[str]:
    """The unit and every unit below it."""
    rows = await conn.execute(
        sa.select(org_closure.c.descendant).where(org_closure.c.ancestor == unit_id)
    )
    return {r[0] for r in rows}
