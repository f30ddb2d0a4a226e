"""Backups of the edge database: snapshots while the hall is busy, and restoring one.

A hall restored from a snapshot an hour old must not be taken for the database it replaced
(a new epoch, starting after the snapshot's last event) and must not hand out again a number
it gave out in the lost hour.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edge.backup import (
    DatabaseInUse,
    SnapshotError,
    hold_node_lock,
    prune,
    raise_numbering,
    restore,
    snapshots,
    take_snapshot,
)
from edge.clock import ManualClock
from edge.config import BackupConfig, EdgeConfig, MqttConfig, NodeConfig, VoiceConfig
from edge.db import migrations, open_database
from edge.node import EdgeNode
from edge.queue import QueueEngine
from tests.conftest import WORKDAY, until
from tests.edge.hall import PASSWORD, small_hall
from tests.edge.test_crash import (
    Journal,
    Kiosk,
    edge_nodes,
    hall_binary,
    sequence,
    start_node,
    take_ticket,
    write_config,
)


@pytest.fixture
def hall(tmp_path: Path, clock: ManualClock) -> Iterator[QueueEngine]:
    """A hall's database in `data/`, the way a node keeps it."""
    (tmp_path / "data").mkdir()
    conn = open_database(tmp_path / "data" / "edge.sqlite3")
    engine = QueueEngine(conn, clock)
    engine.apply_setup(small_hall())
    engine.window_login("w1", engine.hall.staff["s1"])  # license (A)
    engine.window_login("w3", engine.hall.staff["s3"])  # pension (C), in the annex
    yield engine
    conn.close()


def issue(engine: QueueEngine, count: int, business_type: str = "license") -> list[str]:
    area = "annex" if business_type == "pension" else "main"
    return [
        engine.issue_ticket(area=area, business_type=business_type, source="kiosk", actor="k")[
            "number"
        ]
        for _ in range(count)
    ]


def sync_state(path: Path) -> sqlite3.Row:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row: sqlite3.Row = conn.execute("SELECT * FROM sync_state").fetchone()
        return row
    finally:
        conn.close()


def events_of(path: Path, type_: str) -> list[tuple[int, dict[str, object]]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT seq, payload FROM events WHERE type = ? ORDER BY seq", (type_,))
        return [(seq, json.loads(payload)) for seq, payload in rows]
    finally:
        conn.close()


def test_a_snapshot_is_named_by_its_epoch_and_last_event_and_opens_with_every_migration(
    tmp_path: Path, hall: QueueEngine
) -> None:
    issue(hall, 3)
    snapshot = take_snapshot(tmp_path / "data" / "edge.sqlite3", tmp_path / "backups")

    epoch, last = (
        sync_state(tmp_path / "data" / "edge.sqlite3")["epoch"],
        hall.conn.execute("SELECT max(seq) FROM events").fetchone()[0],
    )
    assert (snapshot.epoch, snapshot.seq) == (epoch, last)
    assert (
        snapshot.path.name.startswith("edge-") and f"-{epoch}-{last}.sqlite3" in snapshot.path.name
    )
    assert not Path(f"{snapshot.path}-wal").exists(), "a snapshot is one self-contained file"
    conn = open_database(snapshot.path)
    try:
        applied = {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")}
        assert applied == {m.name for m in migrations._migrations}
        assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 3
    finally:
        conn.close()
    assert [p.name for p in (tmp_path / "backups").iterdir()] == [snapshot.path.name]


def test_a_restored_hall_starts_a_new_epoch_and_never_reuses_a_number_of_the_lost_hour(
    tmp_path: Path, hall: QueueEngine, clock: ManualClock
) -> None:
    database = tmp_path / "data" / "edge.sqlite3"
    before = issue(hall, 3)
    old_epoch = sync_state(database)["epoch"]
    snapshot = take_snapshot(database, tmp_path / "backups")
    clock.advance(3600)
    lost = issue(hall, 4) + issue(hall, 2, "pension")  # the hour the snapshot does not hold
    hall.conn.close()

    restored = restore(database, snapshot.path, now_ms=clock.now_ms())

    state = sync_state(database)
    assert state["epoch"] == restored.new_epoch != old_epoch
    assert state["epoch_start"] == state["mark"] == snapshot.seq
    assert restored.replaced is not None and restored.replaced.name.startswith(
        "edge.sqlite3.replaced-"
    )
    kept = sqlite3.connect(restored.replaced)
    assert kept.execute("SELECT count(*) FROM tickets").fetchone()[0] == 9
    kept.close()
    [(seq, payload)] = events_of(database, "edge.restored")
    assert seq == snapshot.seq + 1, "the restore is the new epoch's first event"
    assert payload["old_epoch"] == old_epoch and payload["new_epoch"] == restored.new_epoch
    assert payload["snapshot"] == snapshot.path.name

    conn = open_database(database)
    try:
        again = QueueEngine(conn, clock)
        after = issue(again, 2) + issue(again, 1, "pension")
        meta = conn.execute("SELECT value FROM meta WHERE key = 'sync.previous_epochs'")
        [previous] = json.loads(meta.fetchone()[0])
    finally:
        conn.close()
    assert after == ["A008", "A009", "C003"]
    assert len(set(before + lost + after)) == len(before + lost + after)
    assert previous == {"epoch": old_epoch, "epoch_start": 0, "end": snapshot.seq, "mark": 0}


def test_without_the_old_database_todays_numbers_jump_by_the_margin(
    tmp_path: Path, hall: QueueEngine, clock: ManualClock
) -> None:
    database = tmp_path / "data" / "edge.sqlite3"
    issue(hall, 3)
    snapshot = take_snapshot(database, tmp_path / "backups")
    hall.conn.close()
    for suffix in ("", "-wal", "-shm"):  # the disk is gone
        Path(f"{database}{suffix}").unlink(missing_ok=True)

    restored = restore(database, snapshot.path, margin=50, now_ms=clock.now_ms())

    assert restored.replaced is None and restored.numbers_from == "margin"
    day = WORKDAY.isoformat()
    assert restored.numbering == {(day, "A"): 53, (day, "B"): 50, (day, "C"): 50, (day, "D"): 50}
    conn = open_database(database)
    try:
        again = QueueEngine(conn, clock)
        assert issue(again, 1) + issue(again, 1, "pension") == ["A054", "C051"]
    finally:
        conn.close()


def test_the_cloud_can_raise_numbering_but_never_lower_it(hall: QueueEngine) -> None:
    issue(hall, 5)
    day = WORKDAY.isoformat()
    hall.conn.execute("BEGIN IMMEDIATE")
    raised = raise_numbering(hall.conn, {(day, "A"): 2, (day, "B"): 7, ("2026-11-26", "A"): 1})
    hall.conn.execute("COMMIT")
    assert raised == {(day, "B"): 7, ("2026-11-26", "A"): 1}
    assert issue(hall, 1) == ["A006"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not an edge database"])
def test_a_damaged_snapshot_is_refused_and_the_hall_keeps_its_database(
    tmp_path: Path, hall: QueueEngine, clock: ManualClock, damage: str
) -> None:
    database = tmp_path / "data" / "edge.sqlite3"
    issue(hall, 30)
    snapshot = take_snapshot(database, tmp_path / "backups").path
    data = snapshot.read_bytes()
    if damage == "truncated":
        snapshot.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        snapshot.write_bytes(data[:100] + b"\x5a" * (len(data) - 100))
    else:
        snapshot.write_bytes(b"")
    epoch = sync_state(database)["epoch"]
    hall.conn.close()

    with pytest.raises(SnapshotError) as refused:
        restore(database, snapshot, now_ms=clock.now_ms())

    assert str(snapshot) in str(refused.value)
    assert ("damaged" in str(refused.value)) or ("not" in str(refused.value))
    assert sync_state(database)["epoch"] == epoch
    assert sorted(p.name for p in database.parent.iterdir() if "edge.sqlite3." in p.name) == [
        "edge.sqlite3.lock"
    ]


async def test_a_running_node_takes_snapshots_keeps_the_newest_and_blocks_a_restore(
    tmp_path: Path,
) -> None:
    config = EdgeConfig(
        node=NodeConfig(data_dir="data"),
        mqtt=MqttConfig(enabled=False),
        voice=VoiceConfig(enabled=False),
        backup=BackupConfig(interval_minutes=0.004, keep=2),  # every 0.24 s
    )
    config.api.port = 0
    node = EdgeNode(config, tmp_path, setup=small_hall())
    await node.start()
    folder, database = tmp_path / "data" / "backups", tmp_path / "data" / "edge.sqlite3"
    try:
        await until(lambda: len(snapshots(folder)) == 2)
        first = snapshots(folder)[0]
        await until(lambda: first not in snapshots(folder))
        assert len(snapshots(folder)) == 2
        with pytest.raises(DatabaseInUse, match="running"):
            restore(database, snapshots(folder)[-1])
    finally:
        await node.stop()
    assert not list(folder.glob(".*.partial")), "a stopped node leaves no half copy"
    assert restore(database, snapshots(folder)[-1]).replaced is not None


def test_a_node_does_not_start_while_a_restore_holds_its_database(tmp_path: Path) -> None:
    config = EdgeConfig(mqtt=MqttConfig(enabled=False), voice=VoiceConfig(enabled=False))
    lock = hold_node_lock(tmp_path / "data" / "edge.sqlite3", exclusive=True)
    try:
        with pytest.raises(DatabaseInUse, match="being restored"):
            asyncio.run(EdgeNode(config, tmp_path).start())
    finally:
        lock.release()


def test_prune_keeps_the_newest_snapshots(tmp_path: Path, hall: QueueEngine) -> None:
    database = tmp_path / "data" / "edge.sqlite3"
    taken = []
    for _ in range(5):
        issue(hall, 1)
        taken.append(take_snapshot(database, tmp_path / "backups").path)
        time.sleep(0.002)
    (tmp_path / "backups" / "notes.txt").write_text("not a snapshot")
    assert prune(tmp_path / "backups", "edge", keep=2) == taken[:3]
    assert snapshots(tmp_path / "backups") == taken[3:]
    assert (tmp_path / "backups" / "notes.txt").exists()


def hall_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hall_binary(), "edge", *args], capture_output=True, text=True, timeout=120
    )


def test_restoring_an_hour_old_snapshot_of_a_busy_hall(tmp_path: Path) -> None:
    """The proof: kiosks take tickets while `hall edge backup` copies the database; more
    tickets are taken after it (the lost hour); the node is stopped and `hall edge restore`
    puts the snapshot back; the hall goes on with no number given twice."""
    config = write_config(tmp_path)
    journal = Journal()
    database = tmp_path / "data" / "edge.sqlite3"
    with edge_nodes(config) as nodes:
        node = start_node(config, nodes)
        login = {"staff_no": "101", "password": PASSWORD}
        opened = requests.post(f"{node.api}/windows/w1/login", json=login, timeout=30)
        assert opened.status_code == 200, opened.text
        kiosks = [Kiosk(node.api, journal) for _ in range(3)]
        for kiosk in kiosks:
            kiosk.start()
        until_tickets(journal, 30)
        made = hall_cli("backup", "--config", str(config))
        assert made.returncode == 0, made.stderr
        [snapshot] = snapshots(tmp_path / "data" / "backups")
        assert str(snapshot) in made.stdout
        until_tickets(journal, journal.answered() + 30)  # the lost hour

        running = hall_cli("restore", "--config", str(config), "--from", str(snapshot))
        assert running.returncode == 2 and "running" in running.stderr, running.stderr
        node.proc.send_signal(signal.SIGTERM)
        node.proc.wait(timeout=30)
        for kiosk in kiosks:
            kiosk.join(timeout=30)

        # The snapshot is consistent: every issued ticket has its event and the other way round.
        conn = open_database(snapshot)
        try:
            ids = {r[0] for r in conn.execute("SELECT id FROM tickets")}
            logged = {
                json.loads(p)["ticket"]["id"]
                for (p,) in conn.execute("SELECT payload FROM events WHERE type = 'ticket.issued'")
            }
            last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        finally:
            conn.close()
        assert ids == logged and 30 <= len(ids) < len(journal.tickets)
        assert snapshot.name.endswith(f"-{last}.sqlite3")

        done = hall_cli("restore", "--config", str(config), "--from", str(snapshot))
        assert done.returncode == 0, done.stderr
        assert "new epoch" in done.stdout and "replaced-" in done.stdout
        state = sync_state(database)
        assert state["epoch_start"] == state["mark"] == last
        assert events_of(database, "edge.restored")[0][0] == last + 1
        assert list(database.parent.glob("edge.sqlite3.replaced-*"))

        node = start_node(config, nodes)
        for _ in range(5):
            answer = take_ticket(node.api, uuid.uuid4().hex)
            assert answer.status_code == 201, answer.text
            journal.tickets[uuid.uuid4().hex] = answer.json()["ticket"]
    given = [sequence(t) for t in journal.tickets.values()]
    assert len(set(given)) == len(given), "a number was given twice on the same day"


def test_the_cli_refuses_a_partial_snapshot_with_a_clear_message(
    tmp_path: Path, hall: QueueEngine
) -> None:
    issue(hall, 20)
    hall.conn.close()
    config = write_config(tmp_path)
    partial = tmp_path / "half.sqlite3"
    made = hall_cli("backup", "--config", str(config), "--to", str(partial))
    assert made.returncode == 0, made.stderr
    partial.write_bytes(partial.read_bytes()[:5000])
    refused = hall_cli("restore", "--config", str(config), "--from", str(partial))
    assert refused.returncode == 2
    assert str(partial) in refused.stderr and "Traceback" not in refused.stderr


def until_tickets(journal: Journal, count: int) -> None:
    deadline = time.monotonic() + 60
    while journal.answered() < count:
        assert time.monotonic() < deadline, "the kiosks got no answers"
        time.sleep(0.005)
    assert not journal.refused, journal.refused
