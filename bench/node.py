"""The edge node in a subprocess, and the orchestrator's own calls to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.hall import AREA, PASSWORD, TYPES, BenchHall
from edge.config import token_digest
from edge.db import Synchronous

__all__ = ["ROOT", "Api", "NodeProcess", "running"]

ROOT = Path(__file__).resolve().parent.parent


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


class NodeProcess:
    """`hall edge run --config FILE` in a subprocess, with its files in `folder`."""

    def __init__(
        self,
        folder: Path,
        hall: BenchHall,
        synchronous: Synchronous,
        profile: Path | None = None,
        extra_clients: Sequence[tuple[str, str, str, str]] = (),
    ) -> None:
        self.folder = folder
        self.extra_clients = list(extra_clients)  # (id, kind, area, token)
        self.hall = hall
        self.synchronous = synchronous
        self.profile = profile
        self.base_url = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._process: psutil.Process | None = None

    @property
    def process(self) -> psutil.Process:
        assert self._process is not None, "the node is not running"
        return self._process

    @property
    def database(self) -> Path:
        return self.folder / "data" / "edge.sqlite3"

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "hall.json").write_text(self.hall.setup.model_dump_json(), "utf-8")
        clients = [
            ("kiosk-1", "kiosk", AREA, self.hall.kiosk_token),
            ("admin", "admin", "", self.hall.admin_token),
            *self.extra_clients,
        ]
        lines = [
            "[node]",
            'data_dir = "data"',
            'setup_file = "hall.json"',
            'log_level = "WARNING"',
            "",
            "[database]",
            f"synchronous = {_toml(self.synchronous)}",
            "",
            "[api]",
            'host = "127.0.0.1"',
            "port = 0",
            "",
            *self.mqtt_lines(),
        ]
        for client_id, kind, area, token in clients:
            lines += [
                "",
                "[[api.clients]]",
                f"id = {_toml(client_id)}",
                f"kind = {_toml(kind)}",
                f"area = {_toml(area)}",
                f"token_sha256 = {_toml(token_digest(token))}",
            ]
        config = self.folder / "edge.toml"
        config.write_text("\n".join(lines) + "\n", "utf-8")
        return config

    def mqtt_lines(self) -> list[str]:
        """The [mqtt] section: off, the queue is measured alone."""
        return ["[mqtt]", "enabled = false"]

    def command(self, config: Path) -> list[str]:
        """`hall edge run`, or the same under cProfile."""
        if self.profile is not None:
            return [
                *(sys.executable, "-m", "cProfile", "-o", str(self.profile)),
                *("-m", "smarthall", "edge", "run", "--config", str(config)),
            ]
        hall = Path(sys.executable).with_name("hall")
        return [str(hall), "edge", "run", "--config", str(config)]

    async def start(self) -> None:
        config = self.write_config()
        log = (self.folder / "node.log").open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            *self.command(config), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=log
        )
        log.close()
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout=60)
        except TimeoutError:
            line = b""
        match = re.search(rb"http://([\d.]+):(\d+)/api/health", line)
        if match is None:
            await self.stop()
            tail = (self.folder / "node.log").read_text("utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"the edge node did not start: {line!r}\n{tail}")
        self.base_url = f"http://{match[1].decode()}:{int(match[2])}"
        self._process = psutil.Process(self._proc.pid)

    async def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def running(node: NodeProcess) -> AsyncIterator[NodeProcess]:
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


class Api:
    """The orchestrator's own calls to the node: logins, filling the queue, counting it."""

    def __init__(self, session: aiohttp.ClientSession, node: NodeProcess) -> None:
        self.session = session
        self.base = node.base_url
        self.hall = node.hall

    async def request(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            return response.status, await response.read()

    async def checked(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None
    ) -> Any:
        status, answer = await self.request(method, path, token, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status}: {answer[:500]!r}")
        return json.loads(answer)

    async def login_all(self) -> dict[str, str]:
        """Log every window's staff member in; the session token of each window."""
        tokens: dict[str, str] = {}

        async def login(window: str) -> None:
            staff = self.hall.staff_of(window)
            answer = await self.checked(
                "POST",
                f"/api/windows/{window}/login",
                "",
                {"staff_no": staff.staff_no, "password": PASSWORD},
            )
            tokens[window] = answer["token"]

        await _bounded(8, [login(w) for w in self.hall.windows])
        return tokens

    async def waiting(self) -> int:
        answer = await self.checked("GET", f"/api/areas/{AREA}/services", self.hall.kiosk_token)
        return sum(int(s["waiting"]) for s in answer["services"])

    async def fill(self, target: int) -> int:
        """Issue tickets (types in turn) until `target` wait; how many wait then."""
        missing = target - await self.waiting()
        types = self.hall.types

        async def issue(i: int) -> None:
            await self.checked(
                "POST", "/api/tickets", self.hall.kiosk_token, {"business_type": types[i % TYPES]}
            )

        await _bounded(8, [issue(i) for i in range(max(0, missing))])
        return await self.waiting()


async def _bounded(limit: int, jobs: Sequence[Awaitable[None]]) -> None:
    """Await `jobs` with at most `limit` of them running at a time."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[None]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(job) for job in jobs))
