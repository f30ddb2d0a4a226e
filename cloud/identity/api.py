"""The identity API: signing in and out, captchas, the signed-in user, and the management of
the organisation, users, roles, role groups, grants and menus."""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the identity routes to the cloud's app."""
