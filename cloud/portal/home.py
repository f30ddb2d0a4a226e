"""The work table (工作台), the portal's home: the user's to-dos, the counts of the work
table's lists and quick links to the pages their rights open."""

from __future__ import annotations

from aiohttp import web

from cloud.context import ENGINE
from cloud.identity.principal import Principal
from cloud.portal.render import page, render
from cloud.portal.work import LISTS
from cloud.workflow import lists

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/portal", _to_home)
    app.router.add_get("/portal/", page(_home))


async def _to_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/portal/")


async def _home(request: web.Request, me: Principal) -> web.StreamResponse:
    engine = request.app[ENGINE]
    counts: dict[str, int] = {}
    todos = []
    for key, (_, service) in LISTS.items():
        found = await service(engine, me, lists.Page(1, 10))
        counts[key] = found["total"]
        if key == "todo":
            todos = found["items"]
    return await render(request, "home.html", me, todos=todos, counts=counts)
