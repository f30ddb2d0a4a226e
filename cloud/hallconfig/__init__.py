"""A hall's configuration authored in the cloud (business types, windows, staff, calling areas,
hours, phrases), compiled to the hall setup the edge pulls."""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the hall configuration's routes to the cloud's app."""
