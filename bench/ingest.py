"""Sustained ingest into the cloud: 100 halls posting event batches over HTTP, and the floor.

    .venv/bin/python -m bench.ingest [--seconds 10] [--workers 1 2] [--halls 100] [--batch 500]

Starts `hall cloud run` worker processes (sharing one port, SO_REUSEPORT) on a fresh PostgreSQL
database (the local server, or a private one), registers the halls, and lets one client task
per hall post `POST /sync/v1/events` batches back to back over keep-alive HTTP, each chained
on the previous one's mark. Then the floor: the same rows written by raw asyncpg, COPY and
`executemany`, no HTTP, no validation. Prints Markdown tables and writes them to
bench/results/ingest.md. What and why: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import psutil

from cloud.db import migrate
from cloud.devdb import PostgresServer, create_database, drop_database, postgres_server

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_TOKEN = "bench-admin"
TARGET_EVENTS_PER_S = 20_000.0
HALL_MARK = b"@HALL@"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ingest", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cloud workers")
    parser.add_argument("--halls", type=int, default=100, help="concurrent hall clients")
    parser.add_argument("--batch", type=int, default=500, help="events per batch")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
        postgres_server(Path(tmp) / "pg") as server,
    ):
        lines = [
            "# Cloud ingest",
            "",
            f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{args.halls} halls, batches of {args.batch} events "
            f"(~{len(_event_json(1, 1)) - 6} bytes each), {args.seconds:g} s measured "
            f"after 1 s warm-up; target ≥ {TARGET_EVENTS_PER_S:,.0f} events/s",
            "",
            "| path | events/s | batches/s | batch p50 ms | batch p99 ms | errors | "
            "cloud CPU % | client CPU % | postgres CPU % |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for workers in args.workers:
            result = _http_run(server, Path(tmp), workers, args)
            lines.append(result.row(f"HTTP, {workers} worker{'s' if workers > 1 else ''}"))
            print(lines[-1], file=sys.stderr)
        for method in ("copy", "executemany"):
            result = _floor_run(server, method, args)
            lines.append(result.row(f"floor: asyncpg {method}, 8 connections, no HTTP"))
            print(lines[-1], file=sys.stderr)
    lines += [
        "",
        "CPU columns: percent of one core over the measured window (2 cores = 200%).",
        "",
    ]
    text = "\n".join(lines)
    sys.stdout.write(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.md").write_text(text, encoding="utf-8")
    return 0


@dataclass
class Result:
    events: int
    batches: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    cloud_cpu: float | None
    client_cpu: float | None
    postgres_cpu: float | None

    def row(self, name: str) -> str:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> str:
            return f"{lat[min(len(lat) - 1, int(p * len(lat)))]:.1f}" if lat else "–"

        def cpu(value: float | None) -> str:
            return "–" if value is None else f"{value:.0f}"

        return (
            f"| {name} | {self.events / self.seconds:,.0f} | {self.batches / self.seconds:,.1f} "
            f"| {pct(0.5)} | {pct(0.99)} | {self.errors} | {cpu(self.cloud_cpu)} "
            f"| {cpu(self.client_cpu)} | {cpu(self.postgres_cpu)} |"
        )


# ------------------------------------------------------------------------------ payloads


def _event_json(seq: int, ticket: int) -> bytes:
    """One event as the edge sends a call: the ticket as its events carry it."""
    payload = {
        "ticket": {
            "id": f"@HALL@-t{ticket}",
            "number": f"A{ticket % 1000:03d}",
            "business_type": "bt-03",
            "business_type_name": "不动产登记",
            "kind": "walk_in",
            "status": "called",
            "priority": False,
            "issued_at": 1_736_140_000_000 + seq,
            "order_at": 1_736_140_000_000 + seq,
            "phone_tail": "1234",
            "window_number": "12",
            "called_at": 1_736_141_000_000 + seq,
            "last_called_at": 1_736_141_000_000 + seq,
            "evaluation": None,
            "day": "2025-01-06",
            "area": "east",
            "category": "c1",
            "source": "kiosk",
            "issued_by": "kiosk-east",
            "waiting_at_issue": 12,
            "booking_id": None,
            "assigned_staff": None,
            "window": "w12",
            "staff": f"s{ticket % 40:02d}",
            "call_count": 1,
            "finished_at": None,
            "evaluation_requested": False,
            "transfers": 0,
        },
        "auto": False,
    }
    body = {
        "seq": seq,
        "id": f"@HALL@-{seq}",
        "type": "ticket.called",
        "at": 1_736_141_000_000 + seq,
        "payload": payload,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _batch_template(index: int, size: int) -> bytes:
    """Batch `index` of a hall, its id left as a mark: every hall's batch differs only there."""
    first = index * size + 1
    events = b",".join(_event_json(seq, seq) for seq in range(first, first + size))
    head = (
        f'{{"v":1,"hall":"@HALL@","epoch":"ep1","epoch_start":0,"after":{first - 1},'
        f'"sent_at":{int(time.time() * 1000)},"events":['
    ).encode()
    return head + events + b"]}"


# ----------------------------------------------------------------------------- HTTP run


def _http_run(server: PostgresServer, tmp: Path, workers: int, args: argparse.Namespace) -> Result:
    name = create_database(server, "bench_ingest")
    url = server.url(name)
    try:
        migrate(url)
        port = _free_port()
        config = tmp / f"cloud-{workers}.toml"
        digest = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
        config.write_text(
            f'[node]\nlog_level = "WARNING"\n'
            f'[database]\nurl = "{url}"\npool_size = 20\nmigrate_on_start = false\n'
            f"[api]\nport = {port}\nreuse_port = true\n"
            f'[[api.admins]]\nid = "bench"\ntoken_sha256 = "{digest}"\n'
        )
        with _workers(config, port, workers) as pids:
            return asyncio.run(_drive(port, pids, args))
    finally:
        drop_database(server, name)


@contextmanager
def _workers(config: Path, port: int, count: int) -> Iterator[list[int]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "smarthall", "cloud", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        _wait_for_port(port)
        time.sleep(0.5)  # every worker listening
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


async def _drive(port: int, pids: list[int], args: argparse.Namespace) -> Result:
    base = f"http://127.0.0.1:{port}"
    rate_guess = 40_000 * (args.seconds + 2)
    batches_per_hall = int(rate_guess / args.halls / args.batch) + 2
    templates = [_batch_template(i, args.batch) for i in range(batches_per_hall)]
    connector = aiohttp.TCPConnector(limit=args.halls)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tokens = await asyncio.gather(
            *(_register(session, base, f"bench-hall-{h:03d}") for h in range(args.halls))
        )
        # as an edge does when it starts: ask where the cloud stands (the worker verifies the
        # hall's secret once and remembers it)
        await asyncio.gather(*(_mark(session, base, token) for _, token in tokens))
        start = time.monotonic() + 1.0
        end = start + args.seconds
        cpu = _CpuMeter(pids)
        results = await asyncio.gather(
            *(
                _hall_client(session, base, hall, token, templates, start, end, cpu)
                for hall, token in tokens
            )
        )
    events = sum(r[0] for r in results)
    latencies = [ms for r in results for ms in r[1]]
    errors = sum(r[2] for r in results)
    cloud_cpu, client_cpu, pg_cpu = cpu.result()
    return Result(
        events, len(latencies), args.seconds, latencies, errors, cloud_cpu, client_cpu, pg_cpu
    )


async def _register(session: aiohttp.ClientSession, base: str, hall: str) -> tuple[str, str]:
    async with session.post(
        f"{base}/api/halls",
        json={"id": hall, "name": hall},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as response:
        body = await response.json()
        return hall, body["token"]


async def _mark(session: aiohttp.ClientSession, base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{base}/sync/v1/mark?epoch=ep1", headers=headers) as response:
        assert response.status == 200, await response.text()


async def _hall_client(
    session: aiohttp.ClientSession,
    base: str,
    hall: str,
    token: str,
    templates: list[bytes],
    start: float,
    end: float,
    cpu: _CpuMeter,
) -> tuple[int, list[float], int]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    marker = hall.encode()
    events = errors = 0
    latencies: list[float] = []
    for template in templates:
        began = time.monotonic()
        if began >= end:
            break
        body = template.replace(HALL_MARK, marker)
        async with session.post(f"{base}/sync/v1/events", data=body, headers=headers) as r:
            answer = await r.read()
        done = time.monotonic()
        if done < start or done > end:  # throughput: the batches answered in the window
            continue
        cpu.start()
        if r.status != 200:
            errors += 1
            continue
        cpu.stop_at(done)
        events += json.loads(answer)["stored"]
        latencies.append((done - began) * 1000)
    return events, latencies, errors


class _CpuMeter:
    """CPU seconds of the cloud workers, this client and PostgreSQL over the measured window."""

    def __init__(self, pids: list[int]) -> None:
        self.cloud = [psutil.Process(p) for p in pids]
        self.client = psutil.Process()
        self.started: float | None = None
        self.begin: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.last: float = 0.0
        self.end_sample: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()
            self.begin = self._sample()

    def stop_at(self, now: float) -> None:
        if now > self.last:
            self.last = now
            self.end_sample = self._sample()

    def result(self) -> tuple[float | None, float | None, float | None]:
        if self.started is None or self.last <= self.started:
            return None, None, None
        span = self.last - self.started
        a, b = self.begin, self.end_sample
        return tuple((b[i] - a[i]) / span * 100 for i in range(3))  # type: ignore[return-value]

    def _sample(self) -> tuple[float, float, float]:
        def used(p: psutil.Process) -> float:
            try:
                t = p.cpu_times()
                return float(t.user + t.system)
            except psutil.Error:
                return 0.0

        return sum(used(p) for p in self.cloud), used(self.client), _postgres_cpu()


def _postgres_cpu() -> float:
    total = 0.0
    for p in psutil.process_iter(["name", "cpu_times"]):
        if p.info["name"] == "postgres" and p.info["cpu_times"] is not None:
            total += p.info["cpu_times"].user + p.info["cpu_times"].system
    return total


# ---------------------------------------------------------------------------- the floor


def _floor_run(server: PostgresServer, method: str, args: argparse.Namespace) -> Result:
    name = create_database(server, "bench_floor")
    url = server.url(name)
    try:
        migrate(url)
        return asyncio.run(_floor(server.dsn(name), method, args))
    finally:
        drop_database(server, name)


async def _floor(dsn: str, method: str, args: argparse.Namespace) -> Result:
    connections = 8
    size = args.batch
    payload = json.loads(_event_json(1, 1))["payload"]
    text = json.dumps(payload, ensure_ascii=False)
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    columns = ["hall", "epoch", "seq", "id", "type", "at", "offset_ms", "received_at", "payload"]
    insert = (
        f"INSERT INTO events ({', '.join(columns)}) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) ON CONFLICT DO NOTHING"
    )
    start = time.monotonic() + 1.0
    end = start + args.seconds
    pg_begin: list[float] = []

    async def writer(w: int) -> tuple[int, list[float]]:
        events = 0
        latencies: list[float] = []
        n = 0
        while True:
            began = time.monotonic()
            if began >= end:
                return events, latencies
            if began >= start and not pg_begin:
                pg_begin.append(_postgres_cpu())
            hall = f"floor-{w}"
            now = int(time.time() * 1000)
            rows = [
                (hall, "ep1", seq, f"{hall}-{seq}", "ticket.called", now, 0, now, text)
                for seq in range(n * size + 1, (n + 1) * size + 1)
            ]
            n += 1
            async with pool.acquire() as conn, conn.transaction():
                if method == "copy":
                    await conn.copy_records_to_table("events", records=rows, columns=columns)
                else:
                    await conn.executemany(insert, rows)
            done = time.monotonic()
            if began >= start and done <= end:
                events += size
                latencies.append((done - began) * 1000)

    results = await asyncio.gather(*(writer(w) for w in range(connections)))
    pg_cpu = (_postgres_cpu() - pg_begin[0]) / args.seconds * 100 if pg_begin else None
    await pool.close()
    latencies = [ms for r in results for ms in r[1]]
    return Result(
        sum(r[0] for r in results), len(latencies), args.seconds, latencies, 0, None, None, pg_cpu
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no cloud worker listens on port {port}")


if __name__ == "__main__":
    raise SystemExit(main())
