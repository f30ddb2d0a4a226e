"""The application keys every part of the cloud's web app reads: its configuration and its
database engine (kept apart from `cloud.app` so that the parts need not import the app)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.config import CloudConfig

__all__ = ["CONFIG", "ENGINE"]

CONFIG = web.AppKey("config", CloudConfig)
ENGINE = web.AppKey("engine", AsyncEngine)
