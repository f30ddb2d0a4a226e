"""Floors without the node: an issuance-sized SQLite transaction, and the engine in-process."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.hall import AREA, TYPES, BenchHall
from edge.db import Synchronous, open_database
from edge.queue import QueueEngine
from sync.ids import new_id

__all__ = ["engine_floor", "sqlite_floor"]


def _floor_ticket(n: int, day: str, now: int) -> tuple[tuple[Any, ...], str]:
    """A ticket row as issuance writes it, and its event payload."""
    windows = json.dumps([str(w) for w in range(1, 31)])
    row = (
        new_id(),
        day,
        f"A{n:06d}",
        AREA,
        "type-0",
        "commerce",
        "kiosk",
        "normal",
        0,
        now,
        now,
        n % 300,
        windows,
        None,
        None,
        "",
        "",
        "kiosk:kiosk-1",
    )
    view = {
        "id": row[0],
        "number": row[2],
        "day": day,
        "area": AREA,
        "business_type": "type-0",
        "business_type_name": "业务0",
        "category": "commerce",
        "source": "kiosk",
        "kind": "normal",
        "status": "waiting",
        "priority": False,
        "order_at": now,
        "issued_at": now,
        "waiting_at_issue": n % 300,
        "serving_windows": json.loads(windows),
        "booking_id": None,
        "assigned_staff": None,
        "phone_tail": "",
        "window": None,
        "window_number": None,
        "staff": None,
        "called_at": None,
        "call_count": 0,
        "finished_at": None,
        "evaluation_requested": False,
        "evaluation": None,
        "transfers": 0,
    }
    return row, json.dumps({"ticket": view}, ensure_ascii=False)


def _timed_loop(seconds: float, step: Callable[[int], object]) -> list[float]:
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    n = 0
    while (started := time.perf_counter()) < end:
        step(n)
        latencies.append(time.perf_counter() - started)
        n += 1
    return latencies


def sqlite_floor(path: Path, synchronous: Synchronous, seconds: float) -> list[float]:
    """One issuance-sized transaction in a loop, on the edge's own schema and indexes.

    Number sequence upsert, ticket INSERT (six indexes), daily count upsert, event INSERT of
    the ticket's JSON, COMMIT: the writes an issuance makes, without its reads or Python.
    """
    conn = open_database(path, synchronous)
    day, now = "2024-01-01", int(time.time() * 1000)

    def transaction(n: int) -> None:
        row, payload = _floor_ticket(n, day, now)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO number_sequences (day, prefix, last) VALUES (?, 'A', 1) "
            "ON CONFLICT (day, prefix) DO UPDATE SET last = last + 1",
            (day,),
        )
        conn.execute(
            "INSERT INTO tickets (id, day, number, area, business_type, category, source, kind, "
            "status, priority, order_at, issued_at, waiting_at_issue, serving_windows, "
            "booking_id, assigned_staff, phone, id_number, issued_by) "
            "VALUES (?,?,?,?,?,?,?,?,'waiting',?,?,?,?,?,?,?,?,?,?)",
            row,
        )
        conn.execute(
            "INSERT INTO daily_counts (day, business_type, committed) VALUES (?, 'type-0', 1) "
            "ON CONFLICT (day, business_type) DO UPDATE SET committed = committed + 1",
            (day,),
        )
        conn.execute(
            "INSERT INTO events (id, type, at, payload) VALUES (?, 'ticket.issued', ?, ?)",
            (new_id(), now, payload),
        )
        conn.execute("COMMIT")

    try:
        return _timed_loop(seconds, transaction)
    finally:
        conn.close()


def engine_floor(
    path: Path, hall: BenchHall, synchronous: Synchronous, seconds: float
) -> list[float]:
    """`QueueEngine.issue_ticket` called in-process: the node's issuance without HTTP."""
    conn = open_database(path, synchronous)
    engine = QueueEngine(conn)
    engine.apply_setup(hall.setup)
    for window in hall.windows:
        engine.window_login(window, hall.staff_of(window))
    types = hall.types

    def issue(n: int) -> None:
        engine.issue_ticket(
            area=AREA, business_type=types[n % TYPES], source="kiosk", actor="kiosk:kiosk-1"
        )

    try:
        return _timed_loop(seconds, issue)
    finally:
        conn.close()
