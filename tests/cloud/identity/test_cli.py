"""`hall cloud user add`: a user made from the command line, with a generated password shown
once or one read from stdin."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloud.db import audit_log, open_engine
from cloud.identity.accounts import verify_password
from cloud.identity.tables import users
from smarthall.cli import main


async def signs_in_with(url: str, username: str, password: str) -> tuple[bool, bool, list[str]]:
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.username == username))).one()
            actors = await conn.scalars(
                sa.select(audit_log.c.actor).where(audit_log.c.resource_id == row.id)
            )
            return await verify_password(row.password_hash, password), row.superuser, list(actors)
    finally:
        await engine.dispose()


def test_a_user_is_added_from_the_command_line(
    postgresql_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config = tmp_path / "cloud.toml"
    config.write_text(f'[database]\nurl = "{postgresql_url}"\n', encoding="utf-8")
    add = ["cloud", "user", "add", "--config", str(config)]
    assert main([*add, "--username", "root", "--name", "管理员", "--superuser"]) == 0
    out = capsys.readouterr().out
    password = out.split("password (shown once): ")[1].strip()
    right, superuser, actors = asyncio.run(signs_in_with(postgresql_url, "root", password))
    assert right and superuser and actors[0].startswith("cli:")
    assert main([*add, "--username", "root", "--name", "重名"]) == 1
    assert "登录账号已被使用" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("Chosen-pass-99\n"))
    assert main([*add, "--username", "clerk", "--name", "办事员", "--password-stdin"]) == 0
    assert "Chosen-pass-99" not in capsys.readouterr().out
    right, superuser, _ = asyncio.run(signs_in_with(postgresql_url, "clerk", "Chosen-pass-99"))
    assert right and not superuser
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main([*add, "--username", "weak", "--name", "弱", "--password-stdin"]) == 2
    assert main([*add, "--username", "lost", "--name", "无部门", "--department", "nowhere"]) == 1
