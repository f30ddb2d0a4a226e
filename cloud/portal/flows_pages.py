"""The portal's pages of the workflow designer, supervision and the calendars (行事历)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
