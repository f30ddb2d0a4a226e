"""The workflow engine: approval flows as data, and the seed's onboarding flows on it."""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the workflow's routes to the cloud's app."""
