"""Declarative resources: a resource declared once gets its REST API, filtered lists, forms
and Excel export (issue 7)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the resources' routes to the cloud's app."""
