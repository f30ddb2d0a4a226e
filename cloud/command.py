"""`hall cloud run`, `hall cloud migrate` and `hall cloud user add`: what the commands do, behind
smarthall/cli.py."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from cloud.config import CloudConfig, ConfigError, load_config

__all__ = ["add_user", "ensure_user", "migrate", "run"]


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


async def add_user(
    path: Path,
    *,
    username: str,
    name: str,
    superuser: bool = False,
    department: str | None = None,
    password_stdin: bool = False,
) -> int:
    """Make a back-office user; print the generated password once (or take one from stdin)."""
    from cloud.db import migrate_async
    from cloud.errors import ApiError
    from cloud.identity.accounts import initial_password, password_problem

    config = _config(path)
    if config is None:
        return 2
    password = sys.stdin.readline().strip() if password_stdin else initial_password()
    problem = password_problem(password, username)
    if problem is not None:
        sys.stderr.write(f"密码不符合要求：{problem}\n")
        return 2
    if config.database.migrate_on_start:
        await migrate_async(config.database.url)
    try:
        await ensure_user(config.database.url, username=username, name=name,
                          password=password, superuser=superuser, department=department,
                          replace=False)  # fmt: skip
    except ApiError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 1
    sys.stdout.write(f"user {username} added{' (superuser)' if superuser else ''}\n")
    if not password_stdin:
        sys.stdout.write(f"password (shown once): {password}\n")
    return 0


async def ensure_user(
    url: str,
    *,
    username: str,
    name: str,
    password: str,
    superuser: bool = False,
    department: str | None = None,
    replace: bool = True,
) -> str:
    """Make the user (or, `replace`, give an existing one this password), with its audit row;
    their id. Refuses a taken username without `replace` (`username_taken`) and an unknown
    department."""
    import getpass
    import time

    import sqlalchemy as sa

    from cloud.audit import Origin, record
    from cloud.db import open_engine
    from cloud.errors import ApiError
    from cloud.identity import login  # noqa: F401  (declares the audit policy of users)
    from cloud.identity.accounts import create_user, set_password
    from cloud.identity.tables import org_units, users

    now = time.time_ns() // 1_000_000
    who = Origin(actor=f"cli:{getpass.getuser()}")
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            if (
                department is not None
                and await conn.scalar(sa.select(org_units.c.id).where(org_units.c.id == department))
                is None
            ):
                raise ApiError("unknown_org_unit", department)
            known = await conn.scalar(sa.select(users.c.id).where(users.c.username == username))
            if known is not None and replace:
                await set_password(conn, known, password, now, keep_session=None)
                await record(conn, who, action="update", resource="user", resource_id=known,
                             hall=None, new={"password_changed_at": now}, now_ms=now)  # fmt: skip
                return str(known)
            user_id = await create_user(
                conn,
                username=username,
                name=name,
                department_id=department,
                password=password,
                now_ms=now,
                created_by=None,
                superuser=superuser,
            )
            await record(conn, who, action="create", resource="user", resource_id=user_id,
                         hall=None, new={"username": username, "name": name,
                                         "superuser": superuser, "department_id": department},
                         now_ms=now)  # fmt: skip
            return user_id
    finally:
        await engine.dispose()


def _config(path: Path) -> CloudConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return None
