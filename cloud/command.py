"""`hall cloud run` and `hall cloud migrate`: what the commands do, behind smarthall/cli.py."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from cloud.config import CloudConfig, ConfigError, load_config

__all__ = ["migrate", "run"]


async def run(path: Path) -> int:
    """Run one cloud worker until SIGINT or SIGTERM."""
    from cloud.node import CloudNode
    from smarthall.running import until_stopped

    config = _config(path)
    if config is None:
        return 2
    logging.getLogger().setLevel(config.node.log_level)
    node = CloudNode(config)
    await node.start()
    sys.stdout.write(f"cloud running: http://{config.api.host}:{node.port}/api/health\n")
    sys.stdout.flush()
    await until_stopped()
    await node.stop()
    return 0


def migrate(path: Path) -> int:
    """Bring the configured database to the newest schema."""
    from cloud.db import migrate as migrate_database

    config = _config(path)
    if config is None:
        return 2
    migrate_database(config.database.url)
    sys.stdout.write("cloud database up to date\n")
    return 0


def _config(path: Path) -> CloudConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return None
