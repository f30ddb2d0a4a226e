"""A node killed in the middle of the morning rush comes back with every ticket it answered for.

A real `hall edge run` process serves kiosks that keep taking tickets; it is killed with SIGKILL
mid-stream, restarted on the same data folder, and the hall must still hold every ticket a kiosk
was given, continue its numbering without reuse, and take a resent request (same Idempotency-Key)
at most once.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from edge.config import token_digest
from tests.edge.hall import PASSWORD, small_hall

KIOSK_TOKEN = "kiosk-main-" + "k" * 24
ADMIN_TOKEN = "admin-" + "a" * 24
KIOSK = {"Authorization": f"Bearer {KIOSK_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROUNDS = 3
KIOSKS = 3


def hall_binary() -> str:
    beside = Path(sys.executable).with_name("hall")
    return str(beside) if beside.exists() else "hall"


def write_config(folder: Path) -> Path:
    """A hall open all day every day, its setup as JSON, a kiosk of `main` and an admin."""
    setup = small_hall(
        hours=[{"start": "00:00", "end": "23:59:59.999999"}],
        working_weekdays=[1, 2, 3, 4, 5, 6, 7],
    )
    (folder / "hall.json").write_text(setup.model_dump_json(), encoding="utf-8")
    config = folder / "edge.toml"
    config.write_text(
        f"""
[node]
data_dir = "data"
setup_file = "hall.json"
log_level = "WARNING"

[api]
host = "127.0.0.1"
port = 0

[[api.clients]]
id = "kiosk-main"
kind = "kiosk"
area = "main"
token_sha256 = "{token_digest(KIOSK_TOKEN)}"

[[api.clients]]
id = "admin"
kind = "admin"
token_sha256 = "{token_digest(ADMIN_TOKEN)}"

[mqtt]
enabled = false
""",
        encoding="utf-8",
    )
    return config


@dataclass
class Node:
    proc: subprocess.Popen[bytes]
    api: str


@contextmanager
def edge_nodes(config: Path) -> Iterator[list[Node]]:
    """Every node started in the test; whatever is still running is stopped at the end."""
    nodes: list[Node] = []
    try:
        yield nodes
    finally:
        for node in nodes:
            if node.proc.poll() is None:
                node.proc.kill()
            node.proc.wait(timeout=30)


def start_node(config: Path, nodes: list[Node]) -> Node:
    """`hall edge run --config FILE`, and wait until it answers on the port it printed."""
    log = config.parent / f"node-{len(nodes)}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [hall_binary(), "edge", "run", "--config", str(config)],
            cwd=config.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    node = Node(proc, "")
    nodes.append(node)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"edge node running: (http://[\d.]+:\d+)/api/health", log.read_text())
        if found:
            node.api = f"{found[1]}/api"
            assert requests.get(f"{node.api}/health", timeout=10).json()["configured"] is True
            return node
        if proc.poll() is not None:
            raise AssertionError(f"the node exited: {log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"the node never started: {log.read_text()}")


def kill(node: Node) -> None:
    """Pull the plug: SIGKILL, no chance to close anything."""
    os.kill(node.proc.pid, signal.SIGKILL)
    node.proc.wait(timeout=30)


@dataclass
class Journal:
    """What the kiosks sent and what they were told, per Idempotency-Key."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → ticket answered
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)  # sent, answer never came

    def answered(self) -> int:
        with self.lock:
            return len(self.tickets) + len(self.refused)


def take_ticket(api: str, key: str) -> requests.Response:
    return requests.post(
        f"{api}/tickets",
        json={"business_type": "license"},
        headers={**KIOSK, "Idempotency-Key": key},
        timeout=30,
    )


class Kiosk(threading.Thread):
    """A kiosk in a rush: one citizen after the other until the node stops answering."""

    def __init__(self, api: str, journal: Journal) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.journal = journal

    def run(self) -> None:
        while True:
            key = uuid.uuid4().hex
            try:
                answer = take_ticket(self.api, key)
            except requests.RequestException:
                with self.journal.lock:
                    self.journal.lost.append(key)
                return
            with self.journal.lock:
                if answer.status_code == 201:
                    self.journal.tickets[key] = answer.json()["ticket"]
                else:
                    self.journal.refused[key] = (answer.status_code, answer.text)


def sequence(ticket: dict[str, Any]) -> tuple[str, int]:
    return ticket["day"], int(ticket["number"][1:])


@pytest.mark.slow
def test_a_killed_node_keeps_every_ticket_it_answered_for(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    journal = Journal()
    with edge_nodes(config) as nodes:
        node = start_node(config, nodes)
        login = requests.post(
            f"{node.api}/windows/w1/login",
            json={"staff_no": "101", "password": PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        staff = {"Authorization": f"Bearer {login.json()['token']}"}

        for round_ in range(ROUNDS):
            # The rush: kiosks take tickets until the node is killed under them.
            target = journal.answered() + 20 + 15 * round_
            kiosks = [Kiosk(node.api, journal) for _ in range(KIOSKS)]
            for kiosk in kiosks:
                kiosk.start()
            deadline = time.monotonic() + 120
            while journal.answered() < target and time.monotonic() < deadline:
                time.sleep(0.005)
            assert journal.answered() >= target, "the kiosks got no answers"
            kill(node)
            for kiosk in kiosks:
                kiosk.join(timeout=60)
                assert not kiosk.is_alive()
            assert not journal.refused, f"a kiosk was refused: {journal.refused}"

            node = start_node(config, nodes)
            answered_before = list(journal.tickets.items())

            # Every ticket a citizen holds is in the hall, as it was printed.
            for _, ticket in answered_before:
                stored = requests.get(
                    f"{node.api}/tickets/{ticket['id']}", headers=ADMIN, timeout=30
                )
                assert stored.status_code == 200, f"{ticket['number']} was lost in the crash"
                assert stored.json()["ticket"]["number"] == ticket["number"]

            # A citizen who pressed again after the crash gets one ticket for that press: the
            # one stored before the crash, or a new one; pressing once more changes nothing.
            known = {t["id"] for t in journal.tickets.values()}
            for key in journal.lost:
                first = take_ticket(node.api, key)
                assert first.status_code == 201, first.text
                again = take_ticket(node.api, key)
                assert again.status_code == 201 and again.json() == first.json()
                ticket = first.json()["ticket"]
                assert ticket["id"] not in known, "two presses share a ticket"
                journal.tickets[key] = ticket
                known.add(ticket["id"])
            journal.lost.clear()

            # A press answered before the crash still gets the very same ticket.
            for key, ticket in answered_before[-3:]:
                assert take_ticket(node.api, key).json()["ticket"]["id"] == ticket["id"]

            # Numbering goes on after the highest number the hall ever gave, with no repeat.
            highest = max(sequence(t) for t in journal.tickets.values())
            fresh = []
            for _ in range(3):
                key = uuid.uuid4().hex
                answer = take_ticket(node.api, key)
                assert answer.status_code == 201, answer.text
                journal.tickets[key] = answer.json()["ticket"]
                fresh.append(sequence(journal.tickets[key]))
            assert len(set(fresh)) == len(fresh)
            assert all(n > highest for n in fresh if n[0] == highest[0]), (highest, fresh)

        # After the crashes, window 1 calls every citizen exactly once, first come first served.
        called = []
        while True:
            answer = requests.post(f"{node.api}/windows/w1/call-next", headers=staff, timeout=30)
            if answer.status_code != 200:
                assert answer.json()["error"]["code"] == "queue_empty", answer.text
                break
            called.append(answer.json()["window"]["current"]["id"])
        by_number = sorted(journal.tickets.values(), key=sequence)
        assert called == [t["id"] for t in by_number]

        node.proc.send_signal(signal.SIGTERM)
        node.proc.wait(timeout=30)

    # The database itself: exactly the tickets the kiosks were given, one per press, numbered
    # 1, 2, 3 … with no gap and no repeat.
    conn = sqlite3.connect(tmp_path / "data" / "edge.sqlite3")
    try:
        rows = conn.execute("SELECT id, day, number FROM tickets").fetchall()
        assert {r[0] for r in rows} == {t["id"] for t in journal.tickets.values()}
        for day in {r[1] for r in rows}:
            numbers = sorted(int(r[2][1:]) for r in rows if r[1] == day)
            assert numbers == list(range(1, len(numbers) + 1))
        presses = conn.execute(
            "SELECT count(*) FROM idempotency WHERE principal = 'kiosk:kiosk-main'"
        ).fetchone()[0]
        assert presses == len(journal.tickets)
    finally:
        conn.close()
