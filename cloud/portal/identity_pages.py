"""The portal's identity pages: organisation, users, roles and grants, role groups, menus,
the audit log."""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
