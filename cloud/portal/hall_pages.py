"""The portal's pages of the halls' configuration: settings, areas, categories, business
types, windows, staff; preview and publish."""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
