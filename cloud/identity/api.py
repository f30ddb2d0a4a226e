"""The identity API: signing in and out, captchas, the signed-in user, and the management of
the organisation, users, roles, role groups, grants and menus."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from cloud.context import ENGINE
from cloud.identity import login, menus, org_api, roles_api, users_api

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the identity routes to the cloud's app, and bring the contributed menu entries into
    the database when it starts (after the database is opened: `cloud/app.py` adds its
    database context first)."""
    app.router.add_routes(login.routes())
    app.router.add_routes(menus.routes())
    app.router.add_routes(org_api.routes())
    app.router.add_routes(users_api.routes())
    app.router.add_routes(roles_api.routes())
    app.cleanup_ctx.append(_install_menus)


async def _install_menus(app: web.Application) -> AsyncIterator[None]:
    async with app[ENGINE].begin() as conn:
        await menus.install_menus(conn)
    yield
