"""Alembic's entry: runs the migrations on the connection `cloud.db.migrate` hands it."""

from __future__ import annotations

from alembic import context

from cloud.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations through cloud.db.migrate(url) or `hall cloud migrate`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
