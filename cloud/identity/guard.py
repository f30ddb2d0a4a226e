"""The check in front of the hall-bound admin calls (halls, setups, bookings, calendars, sync
status, counts, penalties): the caller holds the permission, and the hall is in its data scope
— the hall's org unit (网点) within the scope, or any hall for the scope `all`. A hall that
belongs to no unit is reachable with the scope `all` only."""

from __future__ import annotations

from aiohttp import web

from cloud.audit import Origin
from cloud.calls import origin
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.identity.principal import (
    Principal,
    authorize,
    current_principal,
    hall_unit,
    in_scope,
)

__all__ = ["guard"]


async def guard(
    request: web.Request, permission: str, hall: str | None = None, *, whole: bool = False
) -> tuple[Principal, Origin]:
    """The caller, refused unless they hold `permission` (403 `forbidden_operation`) over
    `hall` (403 `forbidden`, whether or not the hall exists) — or over every record, `whole`:
    calls that reach all halls at once or make a new one; with the origin of their changes."""
    principal = await current_principal(request)
    scope = authorize(principal, permission)
    if whole and scope != "all":
        raise ApiError("forbidden_operation", f"{permission}（需要全部数据范围）")
    if hall is not None and scope != "all":
        async with request.app[ENGINE].connect() as conn:
            unit = await hall_unit(conn, hall)
            if unit is None or not await in_scope(
                conn, principal, permission, department=unit, owner=None
            ):
                raise ApiError("forbidden", hall)
    return principal, origin(request, principal)
