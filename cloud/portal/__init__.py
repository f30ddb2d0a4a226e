"""The admin portal: server-rendered pages (Jinja2, htmx, Alpine.js) over the cloud's
capabilities."""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the portal's pages and static files to the cloud's app."""
