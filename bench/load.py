"""An HTTP load generator: keep-alive aiohttp clients, closed loop or paced, in its own process.

A `LoadPlan` is plain data so that it can be sent to a worker process; `run_load` is the
worker's entry point. Every plan starts measuring at the same wall-clock moment (`start_at`),
after `warmup` seconds of unmeasured traffic that opens the connections, so that several
worker processes can add up their load.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Call", "LoadPlan", "LoadResult", "Stream", "StreamResult", "percentile", "run_load"]


@dataclass(frozen=True)
class Call:
    """One HTTP request of a stream and the status that counts as success."""

    method: str
    path: str
    token: str
    body: dict[str, Any] | None = None
    expect: int = 200


@dataclass(frozen=True)
class Stream:
    """Requests cycled through in order, by `clients` closed-loop clients or at `rate` per second.

    Closed loop (`rate` == 0): each client sends its next request when the previous answer
    has arrived. Open loop (`rate` > 0): requests leave on a fixed schedule whatever the answers
    do, as devices in a hall would send them.
    """

    name: str
    calls: tuple[Call, ...]
    clients: int = 1
    rate: float = 0.0


@dataclass(frozen=True)
class LoadPlan:
    base_url: str
    streams: tuple[Stream, ...]
    start_at: float  # time.time() when measuring starts
    seconds: float
    warmup: float = 1.0
    timeout: float = 5.0  # a device gives up on an answer after this long; counts as an error


@dataclass
class StreamResult:
    """Latencies (seconds) of the requests that started inside the measured window."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def merge(self, other: StreamResult) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error


@dataclass
class LoadResult:
    streams: dict[str, StreamResult]
    cpu_seconds: float  # this generator process's CPU time inside the measured window
    seconds: float


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0–100) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def run_load(plan: LoadPlan) -> LoadResult:
    """Run `plan` to the end of its window (the worker process's entry point)."""
    return asyncio.run(_run(plan))


# (method, url, headers, body, expected status), built once before the clock starts
_Prepared = tuple[str, str, dict[str, str], bytes | None, int]


def _prepare(base_url: str, call: Call) -> _Prepared:
    headers = {"Authorization": f"Bearer {call.token}"}
    body = None
    if call.body is not None:
        body = json.dumps(call.body).encode()
        headers["Content-Type"] = "application/json"
    return call.method, base_url + call.path, headers, body, call.expect


async def _run(plan: LoadPlan) -> LoadResult:
    results = {s.name: StreamResult(s.name) for s in plan.streams}
    now = time.perf_counter()
    begin = now + (plan.start_at - time.time())
    end = begin + plan.seconds
    launch = begin - plan.warmup
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=plan.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, launch - time.perf_counter()))
        tasks: list[asyncio.Task[None]] = []
        for stream in plan.streams:
            calls = [_prepare(plan.base_url, c) for c in stream.calls]
            result = results[stream.name]
            if stream.rate > 0:
                tasks.append(
                    asyncio.create_task(
                        _paced(session, calls, stream.rate, launch, begin, end, result)
                    )
                )
            else:
                tasks += [
                    asyncio.create_task(
                        _closed(session, calls, i, stream.clients, begin, end, result)
                    )
                    for i in range(stream.clients)
                ]
        cpu = asyncio.create_task(_cpu_between(begin, end))
        await asyncio.gather(*tasks)
        cpu_seconds = await cpu
    return LoadResult(results, cpu_seconds, plan.seconds)


async def _send(session: aiohttp.ClientSession, call: _Prepared) -> str | None:
    """Send one request and read the whole answer; the error, or None when it succeeded."""
    method, url, headers, body, expect = call
    try:
        async with session.request(method, url, headers=headers, data=body) as response:
            answer = await response.read()
            status = response.status
    except (aiohttp.ClientError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if status != expect:
        return f"{method} {url} -> {status}: {answer[:300].decode(errors='replace')}"
    return None


def _record(result: StreamResult, elapsed: float, error: str | None) -> None:
    if error is not None:
        result.errors += 1
        result.first_error = result.first_error or error
    else:
        result.latencies.append(elapsed)


async def _closed(
    session: aiohttp.ClientSession,
    calls: list[_Prepared],
    client: int,
    clients: int,
    begin: float,
    end: float,
    result: StreamResult,
) -> None:
    """One closed-loop client; the clients of a stream stride through `calls` together."""
    index = client
    while (started := time.perf_counter()) < end:
        error = await _send(session, calls[index % len(calls)])
        elapsed = time.perf_counter() - started
        index += clients
        if started >= begin:
            _record(result, elapsed, error)


async def _paced(
    session: aiohttp.ClientSession,
    calls: list[_Prepared],
    rate: float,
    launch: float,
    begin: float,
    end: float,
    result: StreamResult,
) -> None:
    """Send `calls` in turn at `rate` per second, each on its schedule whatever came back."""
    pending: set[asyncio.Task[None]] = set()

    async def one(call: _Prepared, due: float) -> None:
        started = time.perf_counter()
        error = await _send(session, call)
        if due >= begin:
            _record(result, time.perf_counter() - started, error)

    n = 0
    while (due := launch + n / rate) < end:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(calls[n % len(calls)], due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
    if pending:
        await asyncio.gather(*pending)


async def _cpu_between(begin: float, end: float) -> float:
    await asyncio.sleep(max(0.0, begin - time.perf_counter()))
    start = time.process_time()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    return time.process_time() - start
