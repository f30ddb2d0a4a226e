"""The portal's identity pages: the organisation tree, users, roles and their grants, role
groups, the menu and the audit log, one module per page area."""

from __future__ import annotations

from aiohttp import web

from cloud.portal.identity import audit, menus, org, roles, users

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add the identity pages to the app."""
    org.add_routes(app)
    users.add_routes(app)
    roles.add_routes(app)
    menus.add_routes(app)
    audit.add_routes(app)
