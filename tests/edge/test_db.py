"""The edge database: WAL mode, migrations, checkpoints kept off the writer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.clock import ManualClock
from edge.db import Checkpointer, open_database
from edge.queue import QueueEngine
from tests.edge.hall import small_hall


def test_the_database_is_in_wal_mode_and_fully_migrated(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "edge.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied[-1] == "m008_sync_state" and len(applied) == 8
    reopened = open_database(tmp_path / "edge.sqlite3")
    assert reopened.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == 8


def test_the_checkpointer_moves_the_wal_into_the_database(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    writer = open_database(path, autocheckpoint=False)
    for i in range(2000):
        writer.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "x" * 500))
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 1_000_000, "the writer itself never checkpoints"
    checkpointer = Checkpointer(path, interval=0.05)
    checkpointer.start()
    time.sleep(0.3)
    checkpointer.stop()
    assert wal.stat().st_size == 0, "the last checkpoint truncates the WAL"
    assert writer.execute("SELECT count(*) FROM meta").fetchone()[0] == 2000


def test_the_queries_of_every_second_use_indexes(engine: QueueEngine, clock: ManualClock) -> None:
    """The timers run each second over a database holding months of tickets: no table scans."""
    engine.apply_setup(small_hall(version=2, auto_call_seconds=5))
    engine.window_login("w1", engine.hall.staff["s1"])
    engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="k")
    statements: list[str] = []
    engine.conn.set_trace_callback(statements.append)
    clock.advance(10)
    engine.tick()
    engine.conn.set_trace_callback(None)
    queries = [s for s in statements if s.split()[0].upper() in ("SELECT", "UPDATE", "DELETE")]
    assert len(queries) >= 4
    for sql in queries:
        plan = " ".join(r[3] for r in engine.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "SCAN tickets" not in plan and "SCAN idempotency" not in plan, (sql, plan)


def test_the_queries_of_the_counter_and_the_kiosk_use_indexes(engine: QueueEngine) -> None:
    engine.window_login("w1", engine.hall.staff["s1"])
    engine.window_login("w4", engine.hall.staff["s2"])
    statements: list[str] = []
    engine.conn.set_trace_callback(statements.append)
    engine.list_services("main", search="zz")
    engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="k", key="1")
    engine.issue_ticket(area="main", business_type="tax", source="kiosk", actor="k")
    engine.call_next("w1", "s1", key="2")
    engine.recall("w1", "s1")
    engine.transfer("w1", "s1", business_type="tax", priority=True)
    engine.call_next("w4", "s2")
    code = engine.supplement("w4", "s2")["supplement"]["code"]
    engine.return_for_supplement(area="main", code=code, actor="k")
    engine.call_next("w4", "s2")
    engine.finish("w4", "s2", request_evaluation=True)
    engine.waiting_for_window("w1", search="A0")
    engine.called_by_window("w4")
    engine.queue_status("main")
    engine.conn.set_trace_callback(None)
    queries = [s for s in statements if s.split()[0].upper() in ("SELECT", "UPDATE", "DELETE")]
    assert len(queries) > 30
    for sql in queries:
        plan = " ".join(r[3] for r in engine.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "SCAN tickets" not in plan and "SCAN calls" not in plan, (sql, plan)


def test_a_pre_release_database_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    import sqlite3

    from edge.db import IncompatibleDatabase

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE _sqlite_migrations "
        "(id INTEGER PRIMARY KEY, migration_set TEXT, name TEXT, applied_at TEXT)"
    )
    old.execute("INSERT INTO _sqlite_migrations VALUES (1, 'smarthall.edge', 'm001_queue', 'x')")
    old.commit()
    old.close()
    with pytest.raises(IncompatibleDatabase, match="before the first release"):
        open_database(path)


def test_the_wal_starts_over_under_steady_writes(tmp_path: Path) -> None:
    """Passive checkpoints alone never catch up with a busy writer; past a size the WAL is
    checkpointed in full and starts over."""
    path = tmp_path / "edge.sqlite3"
    writer = open_database(path, autocheckpoint=False)
    checkpointer = Checkpointer(path, interval=0.02, restart_bytes=256 * 1024)
    checkpointer.start()
    wal = Path(f"{path}-wal")
    largest = 0
    try:
        # a fixed number of commits, each at least one 4 KiB page of WAL (12 MB in all
        # without a restart), however fast or slow this machine is today
        for i in range(3000):
            writer.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "x" * 500))
            time.sleep(0.0002)  # the node answers its requests between commits
            if i % 200 == 0:
                largest = max(largest, wal.stat().st_size)
    finally:
        checkpointer.stop()
    assert largest < 8 * 1024 * 1024, f"the WAL grew to {largest} bytes over {i} commits"
