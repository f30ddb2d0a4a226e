"""Catch-up after an outage: an edge with 50,000 events the cloud has not seen, sent to it.

    .venv/bin/python -m bench.catchup [--events 50000] [--batch 500 2000]

A hall's edge database is filled by the real queue engine with a working day that the cloud
never got (issued, called, finished, evaluated: about four events a citizen), and a `hall cloud
run` worker is started on a fresh PostgreSQL database (the local server, or a private one).
Then the edge's sync client (edge/cloudsync.py), in this process as in the node, sends the
backlog; the time runs from its start to the moment the cloud's mark reaches the edge's last
event. Issue 6's target: under 10 s for 50,000 events on loopback. Beside it, the floor: the
same batches, already serialized, posted straight to the same cloud with no edge reads.

Prints Markdown tables and writes them to bench/results/catchup.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.ingest import _free_port, _wait_for_port
from cloud.db import migrate
from cloud.devdb import create_database, drop_database, postgres_server
from edge.clock import ManualClock
from edge.cloudsync import CloudSync, sync_state
from edge.db import open_database
from edge.queue import QueueEngine
from sync.protocol import EventBatch, SyncEvent
from tests.conftest import WORKDAY, hall_time
from tests.edge.hall import small_hall

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_TOKEN = "bench-catchup-admin"
TARGET_SECONDS = 10.0


def fill(engine: QueueEngine, events: int) -> int:
    """A day of citizens until the log holds `events` events; how many it holds."""
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    engine.window_login("w1", engine.hall.staff["s1"])
    engine.window_login("w3", engine.hall.staff["s3"])
    levels = ("very_satisfied", "satisfied", "basic", "dissatisfied")
    i = 0
    while engine.conn.execute("SELECT max(seq) FROM events").fetchone()[0] < events:
        window, area, kind = (("w1", "main", "license"), ("w3", "annex", "pension"))[i % 2]
        engine.issue_ticket(area=area, business_type=kind, source="kiosk", actor="kiosk:k1")
        ticket = engine.call_next(window, "staff:x")["window"]["current"]["id"]
        engine.finish(window, "staff:x", request_evaluation=True)
        engine.evaluate(ticket, levels[i % 4], "pad:x")
        clock.advance(0.1)
        i += 1
    return int(engine.conn.execute("SELECT count(*) FROM events").fetchone()[0])


async def register(base: str, hall: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/api/halls",
            json={"id": hall, "name": "基准大厅"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as response,
    ):
        body = await response.json()
        assert response.status == 201, body
        return str(body["token"]).rpartition(".")[2]


async def catch_up(engine: QueueEngine, base: str, secret: str, batch: int) -> float:
    sync = CloudSync(
        engine, url=base, hall=engine.hall.hall.id, secret=secret, batch_size=batch,
        min_backoff=0.05, max_backoff=0.5,
    )  # fmt: skip
    last = int(engine.conn.execute("SELECT max(seq) FROM events").fetchone()[0])
    began = time.perf_counter()
    task = asyncio.create_task(sync.run())
    try:
        while sync_state(engine).mark < last:
            await asyncio.sleep(0.005)
        return time.perf_counter() - began
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def floor(engine: QueueEngine, base: str, hall: str, secret: str, batch: int) -> float:
    """The same events, batches built beforehand, posted one after the other."""
    rows = engine.store.events_after(0, limit=10**7)
    bodies = []
    after = 0
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        bodies.append(
            EventBatch(
                hall=hall, epoch="floor-" + secrets.token_hex(4), epoch_start=0, after=after,
                sent_at=0,
                events=[SyncEvent(seq=e.seq, id=f"f{e.id}", type=e.type, at=e.at,
                                  payload=e.payload) for e in chunk],
            )
        )  # fmt: skip
        after = chunk[-1].seq
    epoch = bodies[0].epoch
    payloads = [b.model_copy(update={"epoch": epoch}).model_dump_json() for b in bodies]
    headers = {"Authorization": f"Bearer {hall}.{secret}", "Content-Type": "application/json"}
    began = time.perf_counter()
    async with aiohttp.ClientSession(headers=headers) as session:
        for payload in payloads:
            async with session.post(f"{base}/sync/v1/events", data=payload) as response:
                assert response.status == 200, await response.text()
    return time.perf_counter() - began


async def run(args: argparse.Namespace, database_url: str, tmp: Path) -> str:
    port = _free_port()
    config = tmp / "cloud.toml"
    digest = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    config.write_text(
        f'[node]\nlog_level = "WARNING"\n\n[database]\nurl = "{database_url}"\n\n'
        f'[api]\nhost = "127.0.0.1"\nport = {port}\n\n'
        f'[[api.admins]]\nid = "bench"\ntoken_sha256 = "{digest}"\n',
        encoding="utf-8",
    )
    hall_binary = str(Path(sys.executable).with_name("hall"))
    cloud = subprocess.Popen([hall_binary, "cloud", "run", "--config", str(config)])
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        _wait_for_port(port)
        for batch in args.batch:
            database = tmp / f"edge-{batch}.sqlite3"
            engine = QueueEngine(open_database(database), ManualClock(hall_time(WORKDAY, 9, 0)))
            engine.apply_setup(small_hall(id=f"bench-{secrets.token_hex(4)}",
                                          hours=[{"start": "00:00", "end": "23:59"}]))  # fmt: skip
            count = fill(engine, args.events)
            secret = await register(base, engine.hall.hall.id)
            seconds = await catch_up(engine, base, secret, batch)
            floor_seconds = await floor(engine, base, engine.hall.hall.id, secret, batch)
            met = "met" if seconds < TARGET_SECONDS else "**not met**"
            rows.append(
                f"| {batch} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} | "
                f"{floor_seconds:.2f} | {count / floor_seconds:,.0f} | "
                f"< {TARGET_SECONDS:g} s: {met} |"
            )
            engine.conn.close()
    finally:
        cloud.terminate()
        cloud.wait(timeout=30)
    return "\n".join(
        [
            "## bench.catchup: an edge's backlog after an outage, to the cloud",
            "",
            "- one `hall cloud run` worker on PostgreSQL, the edge's sync client in this "
            "process, loopback, 2 cores",
            "",
            "| batch | events | catch-up s | events/s | floor s (prebuilt batches) | floor "
            "events/s | target |",
            "|---:|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.catchup", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="the backlog (50,000)")
    parser.add_argument("--batch", type=int, nargs="+", default=[500, 2000])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-catchup-") as folder:
        tmp = Path(folder)
        with postgres_server(tmp / "pg") as server:
            name = create_database(server, "bench_catchup")
            url = server.url(name)
            migrate(url)
            try:
                text = asyncio.run(run(args, url, tmp))
            finally:
                drop_database(server, name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "catchup.md").write_text(text, "utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
