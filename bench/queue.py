"""The edge queue under load: a real edge node over HTTP, beside the floors of its parts.

    .venv/bin/python -m bench.queue [--seconds 10] [--sync NORMAL FULL] [--generators 1]

Starts `hall edge run` in a subprocess for a hall of 100 windows in one calling area, logs
every window in, and measures ticket issuance, call-next under background load, the staff
lists and the node's memory; then the floors (a bare SQLite transaction of an issuance's size,
the queue engine without HTTP, an aiohttp "hello" server). Prints one Markdown table per
measurement and writes them to bench/results/latest.md. What and why: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import platform
import pstats
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import aiohttp
import psutil

from bench.floors import engine_floor, sqlite_floor
from bench.hall import AREA, TYPES, TYPES_PER_WINDOW, WINDOWS, BenchHall, build_hall, seed_history
from bench.load import Call, LoadPlan, LoadResult, Stream, StreamResult, percentile, run_load
from bench.node import ROOT, Api, NodeProcess, running
from edge.db import Synchronous

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"
CALLED_AT_LIST_WINDOW = 100  # a busy window's day, for the 已呼叫 list

TARGET_ISSUE_PER_S = 2000.0
TARGET_CALL_P99_MS = 3.0
TARGET_LIST_MS = 50.0
TARGET_RSS_MB = 150.0

# ----------------------------------------------------------------------- running load


@dataclass
class Run:
    """What one load run measured: its streams merged over the generator processes."""

    streams: dict[str, StreamResult]
    seconds: float
    node_cpu: float  # percent of one core
    generator_cpu: list[float]  # percent of one core, per generator process
    other_cpu: float  # percent of one core used by everything else on the machine

    def rate(self, stream: str) -> float:
        return len(self.streams[stream].latencies) / self.seconds

    def ms(self, stream: str, q: float) -> float:
        return percentile(self.streams[stream].latencies, q) * 1000


class Runner:
    """Sends load plans to generator processes and watches the CPU meanwhile."""

    def __init__(self, pool: ProcessPoolExecutor, seconds: float, warmup: float = 1.0) -> None:
        self.pool = pool
        self.seconds = seconds
        self.warmup = warmup
        self.other_cpu: dict[str, float] = {}  # per run label, % of one core

    async def run(
        self,
        label: str,
        base_url: str,
        server: psutil.Process,
        plans: Sequence[tuple[Stream, ...]],
        seconds: float | None = None,
    ) -> Run:
        """Run each tuple of streams in its own generator process, all in the same window."""
        seconds = seconds or self.seconds
        start_at = time.time() + 0.3 + self.warmup
        loop = asyncio.get_running_loop()
        futures = [
            loop.run_in_executor(
                self.pool,
                run_load,
                LoadPlan(base_url, streams, start_at, seconds, self.warmup),
            )
            for streams in plans
        ]
        node_cpu, others = await _cpu_percent(server, start_at, seconds)
        results: list[LoadResult] = await asyncio.gather(*futures)
        merged: dict[str, StreamResult] = {}
        for result in results:
            for name, stream in result.streams.items():
                merged.setdefault(name, StreamResult(name)).merge(stream)
        for stream in merged.values():
            if stream.errors:
                _progress(f"  {stream.name}: {stream.errors} errors, first: {stream.first_error}")
        generators = [r.cpu_seconds / seconds * 100 for r in results]
        other = max(0.0, others - sum(generators))
        self.other_cpu[label] = other
        return Run(merged, seconds, node_cpu, generators, other)


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores)."""
    t = psutil.cpu_times()
    busy: float = t.user + t.nice + t.system + t.irq + t.softirq
    return busy


def _own_seconds(process: psutil.Process) -> float:
    t = process.cpu_times()
    used: float = t.user + t.system
    return used


async def _cpu_percent(
    server: psutil.Process, start_at: float, seconds: float
) -> tuple[float, float]:
    """CPU use in % of one core from `start_at` for `seconds`: the server's, all threads
    counted, and that of every process on the machine but the server and this one.
    """
    me = psutil.Process()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    before = (_own_seconds(server), _own_seconds(me), _busy_seconds())
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    after = (_own_seconds(server), _own_seconds(me), _busy_seconds())
    elapsed = time.perf_counter() - began
    server_cpu, mine, busy = ((a - b) / elapsed * 100 for a, b in zip(after, before, strict=True))
    return server_cpu, busy - server_cpu - mine


def _rss_mb(process: psutil.Process) -> float:
    rss: int = process.memory_info().rss
    return rss / 2**20


def _warm_worker() -> int:
    time.sleep(0.3)  # long enough that every worker process gets one
    return os.getpid()


def _split(total: int, parts: int) -> list[int]:
    return [n for n in (total // parts + (i < total % parts) for i in range(parts)) if n]


# ----------------------------------------------------------------------- the tables


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _num(value: float) -> str:
    return f"{value:,.0f}"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _cpus(values: list[float]) -> str:
    return " + ".join(f"{v:.0f}%" for v in values)


@dataclass
class Report:
    issuance: Table = field(
        default_factory=lambda: Table(
            "Ticket issuance — POST /api/tickets, kiosk token, keep-alive HTTP on loopback",
            [
                "synchronous",
                "clients",
                "tickets/s",
                "target",
                "met",
                "p50 ms",
                "p99 ms",
                "errors",
                "node CPU",
                "generator CPU",
                "waiting after",
            ],
        )
    )
    call_next: Table = field(
        default_factory=lambda: Table(
            "Call-next — POST /api/windows/{w}/call-next, ~1,000 waiting, under background load",
            notes=[
                "- The floor under these latencies is the paced `/hello` row of the floors table: "
                "a request that does nothing, sent at the same pace, pays for waking the machine.",
            ],
            header=[
                "synchronous",
                "history",
                "calls",
                "p50 ms",
                "p99 ms",
                "target",
                "met",
                "max ms",
                "waiting before → after",
                "background req/s",
                "services p50 / p99 ms",
                "issuance p50 / p99 ms",
                "errors",
                "node CPU",
            ],
        )
    )
    lists: Table = field(
        default_factory=lambda: Table(
            "Staff list reload — one staff client, 1,000 waiting",
            [
                "synchronous",
                "list",
                "tickets",
                "answer KB",
                "requests",
                "p50 ms",
                "p99 ms",
                "target",
                "met",
            ],
        )
    )
    memory: Table = field(
        default_factory=lambda: Table(
            "Edge node memory — RSS after the runs",
            [
                "synchronous",
                "RSS MB",
                "target",
                "met",
                "at start",
                "after logins",
                "tickets in database",
                "database MB",
            ],
        )
    )
    floors: Table = field(
        default_factory=lambda: Table(
            "Floors — the same machine without the edge node",
            ["floor", "synchronous", "clients", "ops/s", "p50 ms", "p99 ms", "server CPU"],
        )
    )
    profiles: list[str] = field(default_factory=list)
    other_cpu: dict[str, float] = field(default_factory=dict)  # per load run, % of one core

    def tables(self) -> list[Table]:
        return [self.issuance, self.call_next, self.lists, self.memory, self.floors]


# ----------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Options:
    seconds: float
    sync: list[Synchronous]
    clients: int
    generators: int
    call_rate: float
    background_rate: float
    waiting: int
    history_days: int
    history_per_day: int
    profile: bool
    output: Path
    keep: bool


async def bench_node(
    options: Options, hall: BenchHall, synchronous: Synchronous, folder: Path, runner: Runner
) -> Report:
    report = Report()
    profile = RESULTS / f"profile-{synchronous}.pstats" if options.profile else None
    node = NodeProcess(folder / f"node-{synchronous}", hall, synchronous, profile)
    async with running(node), aiohttp.ClientSession() as session:
        api = Api(session, node)
        _progress(f"{synchronous}: node at {node.base_url}, logging {WINDOWS} windows in")
        rss_start = _rss_mb(node.process)
        tokens = await api.login_all()
        rss_logins = _rss_mb(node.process)
        await call_next(options, api, node, runner, tokens, report, history="none")
        await staff_lists(options, api, node, runner, tokens, report)
        if options.history_days > 0:
            days = options.history_days
            history = f"{days} day{'s' if days > 1 else ''} × {_num(options.history_per_day)}"
            _progress(f"{synchronous}: adding {history} finished tickets of past days")
            seed_history(node.database, hall, options.history_days, options.history_per_day)
            await asyncio.sleep(3)  # the node's first ticks after it read the new pages cold
            await call_next(options, api, node, runner, tokens, report, history=history)
        for clients in sorted({1, options.clients}):
            await issuance(options, api, node, runner, clients, report)
        rss = _rss_mb(node.process)
    db_mb = sum(f.stat().st_size for f in node.database.parent.glob("edge.sqlite3*")) / 2**20
    with contextlib.closing(sqlite3.connect(node.database)) as conn:
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    report.memory.rows.append(
        [
            synchronous,
            f"{rss:.1f}",
            f"< {TARGET_RSS_MB:.0f} MB",
            _met(rss < TARGET_RSS_MB),
            f"{rss_start:.1f}",
            f"{rss_logins:.1f}",
            _num(tickets),
            f"{db_mb:.1f}",
        ]
    )
    if profile is not None:
        report.profiles.append(summarize_profile(profile, synchronous))
    return report


async def issuance(
    options: Options,
    api: Api,
    node: NodeProcess,
    runner: Runner,
    clients: int,
    report: Report,
) -> None:
    _progress(f"{node.synchronous}: issuance, {clients} client(s)")
    calls = tuple(
        Call("POST", "/api/tickets", api.hall.kiosk_token, {"business_type": t}, 201)
        for t in api.hall.types
    )
    generators = min(options.generators, clients)
    plans = [(Stream("issue", calls, clients=n),) for n in _split(clients, generators)]
    run = await runner.run(
        f"{node.synchronous} issuance, {clients} clients", node.base_url, node.process, plans
    )
    rate = run.rate("issue")
    target = clients > 1
    shape = f"{clients} in {len(plans)} process{'es' if len(plans) > 1 else ''}"
    if clients > 1:
        report.issuance.notes.append(f"- {node.synchronous}, {shape}: {_verdict(run)}")
    report.issuance.rows.append(
        [
            node.synchronous,
            shape,
            _num(rate),
            f"≥ {_num(TARGET_ISSUE_PER_S)}/s" if target else "—",
            _met(rate >= TARGET_ISSUE_PER_S) if target else "—",
            _ms(run.ms("issue", 50)),
            _ms(run.ms("issue", 99)),
            str(run.streams["issue"].errors),
            f"{run.node_cpu:.0f}%",
            _cpus(run.generator_cpu),
            _num(await api.waiting()),
        ]
    )


def _verdict(run: Run) -> str:
    """Who limits a closed-loop run: a saturated generator, or else the node."""
    generators = _cpus(run.generator_cpu)
    if max(run.generator_cpu) >= 90:
        return f"a load generator is saturated ({generators}): rerun with more --generators."
    if run.node_cpu >= 90:
        return (
            f"the node is the limit: its one thread is busy ({run.node_cpu:.0f}%), "
            f"the generator is not ({generators})."
        )
    return (
        f"the node is the limit, though its thread is busy only {run.node_cpu:.0f}% "
        f"(generator {generators}): the rest of the time it waits on the disk (commits, WAL "
        "checkpoints) or for a core the machine's other load holds."
    )


async def call_next(
    options: Options,
    api: Api,
    node: NodeProcess,
    runner: Runner,
    tokens: dict[str, str],
    report: Report,
    *,
    history: str,
) -> None:
    hall = api.hall
    before = await api.fill(options.waiting)
    _progress(f"{node.synchronous}: call-next with {before} waiting")
    calls = tuple(Call("POST", f"/api/windows/{w}/call-next", tokens[w]) for w in hall.windows)
    issue = tuple(
        Call("POST", "/api/tickets", hall.kiosk_token, {"business_type": t}, 201)
        for t in hall.types
    )
    services = (Call("GET", f"/api/areas/{AREA}/services", hall.kiosk_token),)
    background = (
        # one ticket issued for each one called keeps the waiting count where it is
        Stream("issuance", issue, rate=options.call_rate),
        Stream("services", services, rate=options.background_rate - options.call_rate),
    )
    run = await runner.run(
        f"{node.synchronous} call-next, history {history}",
        node.base_url,
        node.process,
        [(Stream("call-next", calls, rate=options.call_rate),), background],
    )
    after = await api.waiting()
    background_rate = sum(run.rate(s.name) for s in background)
    p99 = run.ms("call-next", 99)
    report.call_next.rows.append(
        [
            node.synchronous,
            history,
            _num(len(run.streams["call-next"].latencies)),
            _ms(run.ms("call-next", 50)),
            _ms(p99),
            f"p99 < {TARGET_CALL_P99_MS:.0f} ms",
            _met(p99 < TARGET_CALL_P99_MS),
            _ms(run.ms("call-next", 100)),
            f"{_num(before)} → {_num(after)}",
            f"{background_rate:.0f}",
            f"{_ms(run.ms('services', 50))} / {_ms(run.ms('services', 99))}",
            f"{_ms(run.ms('issuance', 50))} / {_ms(run.ms('issuance', 99))}",
            str(sum(stream.errors for stream in run.streams.values())),
            f"{run.node_cpu:.0f}%",
        ]
    )


async def staff_lists(
    options: Options,
    api: Api,
    node: NodeProcess,
    runner: Runner,
    tokens: dict[str, str],
    report: Report,
) -> None:
    window = api.hall.windows[0]
    token = tokens[window]
    called_path = f"/api/windows/{window}/called"
    called = len((await api.checked("GET", called_path, token))["tickets"])
    for _ in range(CALLED_AT_LIST_WINDOW - called):
        await api.checked("POST", f"/api/windows/{window}/call-next", token)
    waiting = await api.fill(options.waiting)
    _progress(f"{node.synchronous}: staff lists with {waiting} waiting")
    for name, path in (
        ("waiting 等候列表", f"/api/windows/{window}/waiting"),
        ("called 已呼叫", called_path),
    ):
        status, answer = await api.request("GET", path, token)
        count = len(json.loads(answer)["tickets"]) if status == 200 else 0
        run = await runner.run(
            f"{node.synchronous} {name.split()[0]} list",
            node.base_url,
            node.process,
            [(Stream(name, (Call("GET", path, token),)),)],
            seconds=options.seconds / 2,
        )
        p99 = run.ms(name, 99)
        report.lists.rows.append(
            [
                node.synchronous,
                name,
                _num(count),
                f"{len(answer) / 1024:.0f}",
                _num(len(run.streams[name].latencies)),
                _ms(run.ms(name, 50)),
                _ms(p99),
                f"< {TARGET_LIST_MS:.0f} ms",
                _met(p99 < TARGET_LIST_MS),
            ]
        )


def summarize_profile(path: Path, synchronous: Synchronous) -> str:
    """The profile's top functions, written beside it as text; the text file's path."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs()
    out.write(f"# edge node under cProfile, synchronous={synchronous}\n\n## by own time\n")
    stats.sort_stats("tottime").print_stats(35)
    out.write("\n## by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(45)
    text_path = path.with_suffix(".txt")
    text_path.write_text(out.getvalue(), "utf-8")
    return str(text_path.relative_to(ROOT))


# ----------------------------------------------------------------------- floors


@contextlib.contextmanager
def _hello_server() -> Iterator[tuple[str, psutil.Process]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.hello"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}", psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def floors(options: Options, hall: BenchHall, folder: Path, runner: Runner) -> Table:
    table = Report().floors
    seconds = options.seconds / 2
    for synchronous in options.sync:
        _progress(f"floor: SQLite and engine, synchronous={synchronous}")
        sqlite = sqlite_floor(folder / f"floor-{synchronous}.sqlite3", synchronous, seconds)
        engine = engine_floor(folder / f"engine-{synchronous}.sqlite3", hall, synchronous, seconds)
        for name, latencies in (
            ("SQLite: issuance-sized write transaction (WAL)", sqlite),
            ("QueueEngine.issue_ticket in-process, no HTTP", engine),
        ):
            table.rows.append(
                [
                    name,
                    synchronous,
                    "1",
                    _num(len(latencies) / seconds),
                    _ms(percentile(latencies, 50) * 1000),
                    _ms(percentile(latencies, 99) * 1000),
                    "—",
                ]
            )
    _progress("floor: aiohttp hello server")
    hello = (Call("GET", "/hello", ""),)
    with _hello_server() as (base_url, server):
        for clients in sorted({1, options.clients}):
            run = await runner.run(
                f"hello, {clients} clients",
                base_url,
                server,
                [(Stream("hello", hello, clients=clients),)],
                seconds=seconds,
            )
            table.rows.append(_hello_row("keep-alive HTTP on loopback", str(clients), run))
            if max(run.generator_cpu) >= 90:
                table.notes.append(
                    f"- `/hello` with {clients} clients: the generator is saturated "
                    f"({_cpus(run.generator_cpu)}), so the server's floor is higher still."
                )
        # the call-next run's shape: a paced client beside paced background traffic
        paced = Stream("hello", hello, rate=options.call_rate)
        background = Stream("background", hello, rate=options.background_rate)
        run = await runner.run(
            "hello, paced", base_url, server, [(paced,), (background,)], seconds=seconds
        )
        shape = f"paced {options.call_rate:g}/s beside {options.background_rate:g} req/s"
        table.rows.append(_hello_row(shape, "1 + background", run))
    return table


def _hello_row(shape: str, clients: str, run: Run) -> list[str]:
    generators = _cpus(run.generator_cpu)
    return [
        f"aiohttp GET /hello, {shape}",
        "—",
        clients,
        _num(run.rate("hello")),
        _ms(run.ms("hello", 50)),
        _ms(run.ms("hello", 99)),
        f"{run.node_cpu:.0f}% (generator {generators})",
    ]


# ----------------------------------------------------------------------- main


def _progress(message: str) -> None:
    sys.stderr.write(f"· {message}\n")
    sys.stderr.flush()


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, aiohttp {aiohttp.__version__}, "
        f"{platform.system()} {platform.release()}"
    )


def render(options: Options, report: Report, started: float) -> str:
    head = [
        "## Edge queue benchmark",
        "",
        f"- when: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"took {time.perf_counter() - started:.0f} s",
        f"- machine: {_machine()}",
        f"- hall: {WINDOWS} windows in one calling area, {TYPES} business types "
        f"({TYPES_PER_WINDOW} at each window, in its own order), {WINDOWS} staff logged in, "
        "MQTT off",
        f"- load: {options.seconds:g} s per run (lists and floors {options.seconds / 2:g} s), "
        f"1 s warm-up; call-next {options.call_rate:g}/s beside "
        f"{options.background_rate:g} background req/s; "
        f"{options.generators} generator process(es) for the concurrent issuance",
        "- CPU columns are % of one core over the measured window; the node is one Python "
        "thread, so ~100% node CPU means the node is the bottleneck",
        _disturbance(report.other_cpu),
        "",
    ]
    body = [t.markdown() for t in report.tables() if t.rows]
    if report.profiles:
        body.append(
            "Profiles (cProfile; its overhead slows the node): " + ", ".join(report.profiles)
        )
    return "\n".join(head) + "\n" + "\n".join(body)


def _disturbance(other_cpu: dict[str, float]) -> str:
    """The header line on what the rest of the machine did during the measured windows."""
    if not other_cpu:
        return "- other processes: not measured"
    mean = sum(other_cpu.values()) / len(other_cpu)
    line = f"- other processes on the machine: {mean:.0f}% of a core on average"
    disturbed = [f"{label} ({cpu:.0f}%)" for label, cpu in other_cpu.items() if cpu > 25]
    if disturbed:
        line += (
            " — **the machine was not quiet during: " + ", ".join(disturbed) + "; "
            "those numbers are disturbed, rerun when it is quiet**"
        )
    return line


async def run(options: Options) -> str:
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="smarthall-bench-"))
    _progress(f"working in {folder}; hashing {WINDOWS} staff passwords")
    hall = build_hall()
    report = Report()
    workers = max(2, options.generators)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        with pool:
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(loop.run_in_executor(pool, _warm_worker) for _ in range(workers))
            )
            runner = Runner(pool, options.seconds)
            for synchronous in options.sync:
                part = await bench_node(options, hall, synchronous, folder, runner)
                for mine, theirs in zip(report.tables(), part.tables(), strict=True):
                    mine.rows += theirs.rows
                    mine.notes += [note for note in theirs.notes if note not in mine.notes]
                report.profiles += part.profiles
            report.floors = await floors(options, hall, folder, runner)
            report.other_cpu = runner.other_cpu
    finally:
        if options.keep:
            _progress(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    text = render(options, report, started)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text, "utf-8")
    return text


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.queue", description="Benchmark the edge queue over HTTP."
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured seconds of each load run (10)"
    )
    parser.add_argument(
        "--sync",
        nargs="+",
        default=["NORMAL", "FULL"],
        choices=["NORMAL", "FULL", "EXTRA"],
        help="database.synchronous levels to run, one node each (NORMAL FULL)",
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent clients for issuance (8)"
    )
    parser.add_argument(
        "--generators",
        type=int,
        default=1,
        help="load-generator processes the concurrent issuance is split over (1)",
    )
    parser.add_argument("--call-rate", type=float, default=50.0, help="call-next per second (50)")
    parser.add_argument(
        "--background-rate",
        type=float,
        default=200.0,
        help="other requests per second during call-next: issuance + services (200)",
    )
    parser.add_argument("--waiting", type=int, default=1000, help="tickets waiting (1000)")
    parser.add_argument(
        "--history-days",
        type=int,
        default=30,
        help="past days of finished tickets added before the second call-next run (30; 0: none)",
    )
    parser.add_argument(
        "--history-per-day", type=int, default=2000, help="finished tickets a past day (2000)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the node under cProfile; writes bench/results/profile-*.txt",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "latest.md", help="bench/results/latest.md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.background_rate < args.call_rate:
        parser.error("--background-rate includes the issuance that matches --call-rate")
    return Options(
        seconds=args.seconds,
        sync=list(dict.fromkeys(args.sync)),
        clients=args.clients,
        generators=max(1, args.generators),
        call_rate=args.call_rate,
        background_rate=args.background_rate,
        waiting=args.waiting,
        history_days=max(0, args.history_days),
        history_per_day=max(1, args.history_per_day),
        profile=args.profile,
        output=args.output,
        keep=args.keep,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    text = asyncio.run(run(options))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
