"""Workflow test helpers: principals of test people, roles, flows and department heads."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.identity.principal import Principal, load_principal
from cloud.identity.tables import org_units, roles, user_roles
from cloud.workflow import flows
from tests.cloud.people import Person, now_ms

DESIGNER = Principal(id="admin:ops", username="ops", name="ops", superuser=True)


async def principal(engine: AsyncEngine, who: Person) -> Principal:
    async with engine.connect() as conn:
        found = await load_principal(conn, who.id)
    assert found is not None
    return found


async def role(engine: AsyncEngine, *members: Person) -> str:
    """A new role whose members are `members`; its code."""
    code = f"r{secrets.token_hex(4)}"
    async with engine.begin() as conn:
        await conn.execute(roles.insert().values(id=code, code=code, name=code, created_at=0))
        for m in members:
            await conn.execute(user_roles.insert().values(user_id=m.id, role_id=code))
    return code


async def head(engine: AsyncEngine, unit: str, who: Person | None) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            org_units.update()
            .where(org_units.c.id == unit)
            .values(head_user_id=who.id if who else None)
        )


def user(who: Person) -> dict[str, Any]:
    return {"type": "user", "user": who.id}


async def flow(engine: AsyncEngine, *steps: dict[str, Any]) -> str:
    """A new flow of `steps` for a business key of its own; the business key."""
    key = f"test.{secrets.token_hex(4)}"
    definition = flows.FlowDefinition.model_validate(
        {"code": key, "name": "测试流程", "business_key": key, "steps": list(steps)}
    )
    await flows.create_flow(engine, DESIGNER, definition, now_ms=now_ms())
    return key
