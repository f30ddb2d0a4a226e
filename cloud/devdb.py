"""A PostgreSQL for tests, benchmarks and trials: the local server when one answers on
127.0.0.1:5432, otherwise a private one started from the installed binaries
(`/usr/lib/postgresql/*/bin`) in a folder of its own, as the `postgres` user when run as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

__all__ = ["PostgresServer", "create_database", "drop_database", "postgres_server"]


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


@contextlib.contextmanager
def postgres_server(folder: Path) -> Iterator[PostgresServer]:
    """The local server, or a private one in `folder` for as long as the context lasts."""
    for user in ("postgres", "root"):
        server = PostgresServer("127.0.0.1", 5432, user)
        if asyncio.run(_answers(server)):
            yield server
            return
    with _private_server(folder) as server:
        yield server


def create_database(server: PostgresServer, prefix: str = "smarthall") -> str:
    """A new empty database with a random name; its name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    return name


def drop_database(server: PostgresServer, name: str) -> None:
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _answers(server: PostgresServer) -> bool:
    try:
        conn = await asyncpg.connect(server.dsn("postgres"), timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def _admin(server: PostgresServer, sql: str) -> None:
    conn = await asyncpg.connect(server.dsn("postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def _private_server(folder: Path) -> Iterator[PostgresServer]:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        raise RuntimeError("no PostgreSQL server answers and none is installed (postgresql)")
    bin_dir = Path(binaries[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; its own user may not reach into root's temporary
        # folders, so the cluster lives in a folder of its own under the system's temp dir
        as_user = ["runuser", "-u", "postgres", "--"]
        folder = Path(tempfile.mkdtemp(prefix="smarthall-pg-"))
        shutil.chown(folder, "postgres")
    else:
        folder.mkdir(parents=True, exist_ok=True)
    data = folder / "pgdata"
    port = _free_port()
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(folder / "postgres.log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer("127.0.0.1", port, "postgres")
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        if as_user:
            shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
