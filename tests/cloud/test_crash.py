"""kill -9 of the cloud at random points while a hall sends batches: after restarts and
resuming from `GET /sync/v1/mark`, the cloud holds exactly what was sent."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from cloud.db import events, open_engine
from tests.cloud.conftest import ADMIN, ADMIN_TOKEN, batch, event
from tests.conftest import free_port, wait_for_port

pytestmark = pytest.mark.slow


def start_cloud(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "smarthall", "cloud", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_the_cloud_killed_mid_batch_loses_and_doubles_nothing(
    postgresql_url: str, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "cloud.toml"
    digest = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    config.write_text(
        f'[database]\nurl = "{postgresql_url}"\npool_size = 4\n'
        f'[api]\nport = {port}\n[[api.admins]]\nid = "ops"\ntoken_sha256 = "{digest}"\n'
    )
    base = f"http://127.0.0.1:{port}"
    sent = [event(seq) for seq in range(1, 8001)]
    rng = random.Random(6)
    kills = 0
    auth: dict[str, str] = {}
    hall = "hall-crash"
    while True:
        cloud = start_cloud(config)
        try:
            wait_for_port(port, timeout=20)
            if not auth:
                answer = requests.post(f"{base}/api/halls", json={"id": hall, "name": "崩溃"},
                                       headers=ADMIN, timeout=10).json()  # fmt: skip
                auth = {"Authorization": f"Bearer {answer['token']}"}
            mark = requests.get(f"{base}/sync/v1/mark", params={"epoch": "ep1"}, headers=auth,
                                timeout=10).json()["mark"]  # fmt: skip
            after = mark
            # the first six lives end after a few batches, during the next one (or just after
            # it: then the one after finds the cloud dead); the seventh sends the rest
            doomed_after = rng.randint(1, 3) if kills < 6 else None
            posted = 0
            while after < len(sent):
                if posted == doomed_after:
                    threading.Timer(rng.uniform(0.0, 0.01), os.kill,
                                    (cloud.pid, signal.SIGKILL)).start()  # fmt: skip
                chunk = sent[after : after + rng.choice((50, 100, 250))]
                response = requests.post(f"{base}/sync/v1/events", headers=auth, timeout=10,
                                         json=batch(hall, chunk, after=after))  # fmt: skip
                assert response.status_code == 200, response.text
                after = response.json()["mark"]
                posted += 1
            break
        except requests.ConnectionError:
            kills += 1
        finally:
            cloud.kill()
            cloud.wait()
    assert kills == 6
    assert held(postgresql_url, hall) == [(e["seq"], e["id"]) for e in sent]


def held(url: str, hall: str) -> list[tuple[int, str]]:
    async def query() -> list[tuple[int, str]]:
        engine = open_engine(url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(events.c.seq, events.c.id).where(events.c.hall == hall).order_by("seq")
            )
            result = [(r.seq, r.id) for r in rows]
        await engine.dispose()
        return result

    return asyncio.run(query())
