"""Edge fixtures: a queue engine over a real SQLite file at a controllable hall time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.clock import ManualClock
from edge.db import open_database
from edge.queue import QueueEngine
from tests.conftest import WORKDAY, hall_time
from tests.edge.hall import small_hall


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(hall_time(WORKDAY, 9, 0))


@pytest.fixture
def engine(tmp_path: Path, clock: ManualClock) -> Iterator[QueueEngine]:
    conn = open_database(tmp_path / "edge.sqlite3")
    queue = QueueEngine(conn, clock)
    queue.apply_setup(small_hall())
    yield queue
    conn.close()
