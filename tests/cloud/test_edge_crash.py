"""kill -9 on both sides while a hall is busy and syncing: the edge (`hall edge run`) and the
cloud (`hall cloud run`, on a real PostgreSQL) are killed at random points, mid-batch, and
restarted; in the end the cloud holds exactly the edge's events, each once, and every ticket a
kiosk was given."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from cloud.db import events, open_engine
from tests.conftest import free_port
from tests.edge.hall import PASSWORD
from tests.edge.test_crash import (
    ADMIN,
    Journal,
    Kiosk,
    Node,
    edge_nodes,
    hall_binary,
    kill,
    start_node,
    write_config,
)

CLOUD_ADMIN = "cloud-admin-" + "c" * 24


class CloudProcess:
    def __init__(self, folder: Path, database_url: str) -> None:
        self.port = free_port()
        self.config = folder / "cloud.toml"
        digest = hashlib.sha256(CLOUD_ADMIN.encode()).hexdigest()
        self.config.write_text(
            f'[node]\nlog_level = "WARNING"\n\n[database]\nurl = "{database_url}"\n\n'
            f'[api]\nhost = "127.0.0.1"\nport = {self.port}\n\n'
            f'[[api.admins]]\nid = "ops"\ntoken_sha256 = "{digest}"\n',
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = self.config.parent / f"cloud-{self.starts}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [hall_binary(), "cloud", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"the cloud exited: {log.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"the cloud never answered: {log.read_text()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@contextmanager
def cloud_process(folder: Path, url: str) -> Iterator[CloudProcess]:
    cloud = CloudProcess(folder, url)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.kill()


def syncing_config(folder: Path, cloud: CloudProcess) -> tuple[Path, str]:
    """tests/edge/test_crash.py's node, as a hall of its own that syncs with `cloud`."""
    config = write_config(folder)
    hall = f"hall-{secrets.token_hex(4)}"
    setup = (folder / "hall.json").read_text(encoding="utf-8")
    (folder / "hall.json").write_text(setup.replace('"test-hall"', f'"{hall}"', 1), "utf-8")
    answer = requests.post(
        f"{cloud.url}/api/halls",
        json={"id": hall, "name": "测试大厅"},
        headers={"Authorization": f"Bearer {CLOUD_ADMIN}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    (folder / "hall.secret").write_text(answer.json()["token"].rpartition(".")[2])
    with config.open("a", encoding="utf-8") as out:
        out.write(
            f'\n[cloud]\nurl = "{cloud.url}"\nsecret_file = "hall.secret"\nbatch_size = 50\n'
            "max_backoff_seconds = 0.5\n\n[voice]\nenabled = false\n\n"
            "[backup]\nenabled = false\n"
        )
    return config, hall


def rush(node: Node, journal: Journal, seconds: float) -> None:
    """Kiosks take tickets for about `seconds`, then the node is killed under them."""
    kiosks = [Kiosk(node.api, journal) for _ in range(2)]
    for kiosk in kiosks:
        kiosk.start()
    time.sleep(seconds)
    kill(node)
    for kiosk in kiosks:
        kiosk.join(timeout=30)


def synced(node: Node, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = requests.get(f"{node.api}/sync", headers=ADMIN, timeout=10).json()
        if status["lag_events"] == 0:
            return status
        time.sleep(0.1)
    raise AssertionError(f"never caught up: {status}")


async def cloud_event_ids(url: str, hall: str) -> list[str]:
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(events.c.id).where(events.c.hall == hall))
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_killing_edge_and_cloud_mid_batch_loses_and_doubles_nothing(
    tmp_path: Path, postgresql_url: str
) -> None:
    rng = random.Random(5)
    journal = Journal()
    with cloud_process(tmp_path, postgresql_url) as cloud:
        config, hall = syncing_config(tmp_path, cloud)
        with edge_nodes(config) as nodes:
            node = start_node(config, nodes)
            login = requests.post(
                f"{node.api}/windows/w1/login",
                json={"staff_no": "101", "password": PASSWORD},
                timeout=30,
            )
            assert login.status_code == 200, login.text
            for round_ in range(4):
                if round_ == 1:  # the cloud dies too, in the middle of the traffic
                    threading.Timer(rng.uniform(0.1, 0.4), cloud.kill).start()
                rush(node, journal, rng.uniform(0.4, 1.2))
                if round_ == 2:
                    cloud.start()
                node = start_node(config, nodes)
            status = synced(node)
            database = config.parent / "data" / "edge.sqlite3"
            kill(node)
    edge = sqlite3.connect(database)
    edge_ids = [r[0] for r in edge.execute("SELECT id FROM events ORDER BY seq")]
    edge.close()
    cloud_ids = asyncio.run(cloud_event_ids(postgresql_url, hall))
    assert len(cloud_ids) == len(set(cloud_ids)), "an event stored twice"
    assert sorted(cloud_ids) == sorted(edge_ids), "the cloud's events are not the edge's"
    issued = set(edge_ids)
    assert len(journal.tickets) > 50 and issued and status["last_error"] == ""
    tickets = asyncio.run(_issued_tickets(postgresql_url, hall))
    assert {t["id"] for t in journal.tickets.values()} <= tickets  # every answered ticket


async def _issued_tickets(url: str, hall: str) -> set[str]:
    engine = open_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(events.c.payload).where(
                    events.c.hall == hall, events.c.type == "ticket.issued"
                )
            )
            return {r[0]["ticket"]["id"] for r in rows}
    finally:
        await engine.dispose()
