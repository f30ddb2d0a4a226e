"""The admin portal: server-rendered pages (Jinja2, htmx, Alpine.js) over the cloud's
capabilities, in Chinese, every page checking its rights on the server."""

from __future__ import annotations

from aiohttp import web

from cloud.portal import (
    flows_pages,
    hall_pages,
    home,
    identity,
    login,
    onboarding,
    resources,
    work,
)
from cloud.portal.render import TEMPLATES, environment
from cloud.portal.static import add_static_routes

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the portal's pages and static files to the cloud's app."""
    app[TEMPLATES] = environment()
    add_static_routes(app)
    login.add_routes(app)
    home.add_routes(app)
    resources.add_routes(app)
    work.add_routes(app)
    onboarding.add_routes(app)
    identity.add_routes(app)
    flows_pages.add_routes(app)
    hall_pages.add_routes(app)
