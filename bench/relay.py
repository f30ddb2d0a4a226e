"""From a staff "call next" over HTTP to the number arriving at screens on the live relay.

    .venv/bin/python -m bench.relay [--seconds 10] [--watchers 1 50] [--rate 20]

Starts `hall edge run` in a subprocess (MQTT off) for the benchmark hall of 100 windows in one
calling area (bench/hall.py), with the live relay `GET /api/live` (edge/api/relay.py). In this
process: N watchers, aiohttp WebSocket clients standing in for browser screens, each subscribed
to the area's status (the central display's data) and to the windows being called (the window
displays' data). Call-next goes to 10 windows in rotation, paced at --rate per second, with
1,000 tickets waiting; for each call it measures, from just before the HTTP request left: the
HTTP answer, the called window's update with the number at each watcher, and the first area
status listing the number at each watcher. Beside them, the floors: a relay ping → pong round
trip with the same watchers connected, and `GET /api/health`. Prints Markdown tables and writes
them to bench/results/relay.md.

The watchers share this one process and its event loop: with many of them, their own JSON
parsing is part of what the slowest watcher waits for (a browser has a process of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.devices import _machine
from bench.hall import AREA, WINDOWS, BenchHall, build_hall
from bench.load import percentile
from bench.node import ROOT, Api, NodeProcess, running

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"
TARGET_P99_MS = 150.0  # issue 5: the caller's click to the central display, on loopback
CALLED_WINDOWS = 10
WAITING = 1000
WARMUP = 1.0
DRAIN = 2.0  # seconds after the last call that late updates may still arrive
FLOOR_SAMPLES = 200


# ----------------------------------------------------------------------- the node


# ----------------------------------------------------------------------- the watchers


@dataclass
class Watcher:
    """One screen on the relay: when it first saw each number, per channel kind."""

    ws: aiohttp.ClientWebSocketResponse
    window_seen: dict[str, float] = field(default_factory=dict)
    area_seen: dict[str, float] = field(default_factory=dict)
    pongs: asyncio.Queue[float] = field(default_factory=asyncio.Queue)

    async def run(self) -> None:
        async for message in self.ws:
            now = time.perf_counter()
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            body = json.loads(message.data)
            channel, data = body["channel"] or "", body["data"]
            if body["type"] == "pong":
                self.pongs.put_nowait(now)
            elif channel.startswith("window:") and data["current"]:
                self.window_seen.setdefault(data["current"]["number"], now)
            elif channel.startswith("area:"):
                for call in data["latest_calls"]:
                    self.area_seen.setdefault(call["number"], now)


async def connect(
    session: aiohttp.ClientSession, node: NodeProcess, windows: list[str]
) -> tuple[Watcher, asyncio.Task[None]]:
    token = node.hall.admin_token
    ws = await session.ws_connect(f"{node.base_url}/api/live?token={token}", max_msg_size=0)
    welcome = await ws.receive_json(timeout=10)
    assert welcome["type"] == "welcome", welcome
    channels = [f"area:{AREA}", *(f"window:{w}" for w in windows)]
    await ws.send_json({"type": "subscribe", "channels": channels})
    for _ in channels:
        snapshot = await ws.receive_json(timeout=10)
        assert snapshot["type"] == "snapshot", snapshot
    watcher = Watcher(ws)
    return watcher, asyncio.create_task(watcher.run())


# ----------------------------------------------------------------------- one run


@dataclass
class RunResult:
    watchers: int
    calls: int
    http: list[float]
    window: list[float]
    area: list[float]
    slowest: list[float]
    missing: int


async def run_calls(
    api: Api, tokens: dict[str, str], windows: list[str], rate: float, seconds: float
) -> dict[str, tuple[float, float]]:
    """Paced call-next on `windows` in rotation: number → (sent at, answered at)."""
    sent: dict[str, tuple[float, float]] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def call(window: str) -> None:
        began = time.perf_counter()
        answer = await api.checked("POST", f"/api/windows/{window}/call-next", tokens[window])
        current = answer["window"]["current"]
        if current is not None:
            sent[current["number"]] = (began, time.perf_counter())

    tasks = []
    n = 0
    while (due := start + n / rate) < start + seconds:
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(call(windows[n % len(windows)])))
        n += 1
    await asyncio.gather(*tasks)
    return sent


async def measure(
    session: aiohttp.ClientSession,
    node: NodeProcess,
    api: Api,
    tokens: dict[str, str],
    count: int,
    options: Options,
) -> tuple[RunResult, list[float]]:
    windows = node.hall.windows[:CALLED_WINDOWS]
    connected = [await connect(session, node, windows) for _ in range(count)]
    watchers = [w for w, _ in connected]
    try:
        await api.fill(WAITING)
        await run_calls(api, tokens, windows, options.rate, WARMUP)
        sent = await run_calls(api, tokens, windows, options.rate, options.seconds)
        await asyncio.sleep(DRAIN)
        result = _result(count, sent, watchers)
        pings = await _ping_floor(watchers[0])
    finally:
        for watcher, task in connected:
            await watcher.ws.close()
            task.cancel()
    return result, pings


def _result(count: int, sent: dict[str, tuple[float, float]], watchers: list[Watcher]) -> RunResult:
    http: list[float] = []
    window: list[float] = []
    area: list[float] = []
    slowest: list[float] = []
    missing = 0
    for number, (began, answered) in sent.items():
        http.append(answered - began)
        arrivals = []
        for watcher in watchers:
            for seen, into in ((watcher.window_seen, window), (watcher.area_seen, area)):
                if number in seen:
                    into.append(seen[number] - began)
                else:
                    missing += 1
            if number in watcher.window_seen:
                arrivals.append(watcher.window_seen[number] - began)
        if arrivals:
            slowest.append(max(arrivals))
    return RunResult(count, len(sent), http, window, area, slowest, missing)


async def _ping_floor(watcher: Watcher) -> list[float]:
    """The relay's own round trip: ping → pong, nothing read from the database."""
    times = []
    for _ in range(FLOOR_SAMPLES):
        began = time.perf_counter()
        await watcher.ws.send_json({"type": "ping"})
        arrived = await asyncio.wait_for(watcher.pongs.get(), timeout=5)
        times.append(arrived - began)
    return times


async def _health_floor(session: aiohttp.ClientSession, node: NodeProcess) -> list[float]:
    times = []
    for _ in range(FLOOR_SAMPLES):
        began = time.perf_counter()
        async with session.get(f"{node.base_url}/api/health") as response:
            await response.read()
        times.append(time.perf_counter() - began)
    return times


# ----------------------------------------------------------------------- the tables


def _ms(values: list[float], q: float) -> str:
    value = percentile(values, q) * 1000
    return "–" if math.isnan(value) else f"{value:.1f}"


def _pair(values: list[float]) -> str:
    return f"{_ms(values, 50)} / {_ms(values, 99)}"


def latency_table(runs: Sequence[RunResult]) -> str:
    lines = [
        "### call-next → the number at the screens (ms, p50 / p99)",
        "",
        "| watchers | calls | HTTP answer | window update | area status | slowest watcher "
        f"(p99) | missing | area p99 < {TARGET_P99_MS:g} ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        met = percentile(run.area, 99) * 1000 < TARGET_P99_MS if run.area else False
        lines.append(
            f"| {run.watchers} | {run.calls} | {_pair(run.http)} | {_pair(run.window)} | "
            f"{_pair(run.area)} | {_ms(run.slowest, 99)} | {run.missing} | "
            f"{'met' if met else '**not met**'} |"
        )
    return "\n".join(lines) + "\n"


def floors_table(rows: Sequence[tuple[str, int, list[float]]]) -> str:
    lines = [
        "### floors (ms)",
        "",
        "| floor | watchers connected | samples | p50 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, watchers, values in rows:
        lines.append(
            f"| {name} | {watchers} | {len(values)} | {_ms(values, 50)} | {_ms(values, 99)} |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- main


@dataclass(frozen=True)
class Options:
    seconds: float
    watchers: tuple[int, ...]
    rate: float
    output: Path


async def run(options: Options) -> str:
    began = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    hall: BenchHall = build_hall()
    runs: list[RunResult] = []
    floors: list[tuple[str, int, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as folder:
        node = NodeProcess(Path(folder), hall, "NORMAL")
        async with running(node), aiohttp.ClientSession() as session:
            api = Api(session, node)
            tokens = await api.login_all()
            floors.append(("GET /api/health", 0, await _health_floor(session, node)))
            for count in options.watchers:
                sys.stderr.write(f"· {count} watcher(s)\n")
                result, pings = await measure(session, node, api, tokens, count, options)
                runs.append(result)
                floors.append(("relay ping → pong", count, pings))
    head = [
        "## Live relay benchmark: call-next → WebSocket screens",
        "",
        f"- when: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"took {time.monotonic() - began:.0f} s",
        f"- machine: {_machine()}",
        f"- hall: {WINDOWS} windows in one calling area, all staff logged in, {WAITING:,} "
        "tickets waiting; the node with MQTT off, `database.synchronous = NORMAL`",
        f"- load: call-next on {CALLED_WINDOWS} windows in rotation at {options.rate:g}/s, "
        f"{options.seconds:g} s measured after {WARMUP:g} s warm-up; every watcher watches "
        f"`area:{AREA}` and the {CALLED_WINDOWS} windows (aiohttp clients in one process)",
        "",
    ]
    text = "\n".join(head) + "\n" + latency_table(runs) + "\n" + floors_table(floors)
    options.output.write_text(text, "utf-8")
    return text


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument(
        "--watchers", type=int, nargs="+", default=[1, 50], help="watchers of each run"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="call-next per second")
    parser.add_argument("--output", type=Path, default=RESULTS / "relay.md")
    args = parser.parse_args(argv)
    return Options(args.seconds, tuple(args.watchers), args.rate, args.output)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    text = asyncio.run(run(parse_args(args)))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
