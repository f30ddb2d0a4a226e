"""One cloud worker process: the API on its port until the operator stops it."""

from __future__ import annotations

import logging

from aiohttp import web

from cloud.app import create_app
from cloud.config import CloudConfig

__all__ = ["CloudNode"]

log = logging.getLogger(__name__)


class CloudNode:
    def __init__(self, config: CloudConfig) -> None:
        self.config = config
        self._runner: web.AppRunner | None = None
        self.port = config.api.port

    async def start(self) -> None:
        api = self.config.api
        self._runner = web.AppRunner(
            create_app(self.config), access_log=None, shutdown_timeout=10.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, api.host, api.port, reuse_port=api.reuse_port or None)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info("cloud worker listening on %s:%s", api.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
