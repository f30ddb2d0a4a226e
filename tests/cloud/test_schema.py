"""The tables the code declares are the tables the migrations make: Alembic's comparison of a
freshly migrated database against every table module finds nothing to change."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import cloud
from cloud.db import metadata, open_engine


def test_migrations_make_the_declared_tables(database_url: str) -> None:
    # every module of the cloud, so every table it declares, is in `metadata`
    for module in pkgutil.walk_packages(cloud.__path__, "cloud."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    assert asyncio.run(_differences(database_url)) == []


async def _differences(url: str) -> list[Any]:
    engine = open_engine(url)

    def differences(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        found: list[Any] = compare_metadata(context, metadata)
        # Alembic's own bookkeeping table is not ours to declare
        return [d for d in found if "alembic_version" not in repr(d)]

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(differences)
    finally:
        await engine.dispose()
