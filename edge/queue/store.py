"""Writes to the edge database: one transaction per operation, with its events and its key."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from edge.queue.errors import QueueError
from sync.ids import new_id

__all__ = ["Event", "EventFeed", "Store", "Transaction"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One row of the event log: what changed, in the order it was committed."""

    seq: int
    id: str
    type: str
    at: int
    payload: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.id, "type": self.type, "at": self.at, **self.payload}


@dataclass
class Transaction:
    """An open write transaction; `event` adds a row to the log inside it."""

    conn: sqlite3.Connection
    now_ms: int
    events: list[Event] = field(default_factory=list)

    def event(self, type_: str, payload: dict[str, Any]) -> None:
        event_id = new_id()
        cursor = self.conn.execute(
            "INSERT INTO events (id, type, at, payload) VALUES (?, ?, ?, ?)",
            (event_id, type_, self.now_ms, json.dumps(payload, ensure_ascii=False)),
        )
        assert cursor.lastrowid is not None
        self.events.append(Event(cursor.lastrowid, event_id, type_, self.now_ms, payload))

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount


class Store:
    """The single writer of one edge database (Datasette's shape: one writer, BEGIN IMMEDIATE).

    With group commit on (the node's HTTP API turns it on), the operations that run in one turn
    of the event loop share one SQLite transaction, each inside its own savepoint so that a
    refused operation undoes only itself; one COMMIT ends the turn, and `durable()` lets a
    request wait for it before it answers. Without it, each operation commits on its own.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._listeners: list[Callable[[list[Event]], None]] = []
        self._undo_listeners: list[Callable[[], None]] = []
        self.group_commit = False
        self._group: list[Event] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def subscribe(self, listener: Callable[[list[Event]], None]) -> None:
        """Call `listener` with the events of every committed transaction, in order."""
        self._listeners.append(listener)

    def on_undo(self, listener: Callable[[], None]) -> None:
        """Call `listener` when a group commit fails and everything in it is undone."""
        self._undo_listeners.append(listener)

    @contextmanager
    def transaction(self, now_ms: int) -> Iterator[Transaction]:
        if self.group_commit and _running_loop() is not None:
            with self._grouped(now_ms) as tx:
                yield tx
            return
        self.flush()
        self.conn.execute("BEGIN IMMEDIATE")
        tx = Transaction(self.conn, now_ms)
        try:
            yield tx
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        self._notify(tx.events)

    @contextmanager
    def _grouped(self, now_ms: int) -> Iterator[Transaction]:
        if self._group is None:
            self.conn.execute("BEGIN IMMEDIATE")
            self._group = []
            loop = _running_loop()
            assert loop is not None
            loop.call_soon(self._commit_group)
        self.conn.execute("SAVEPOINT operation")
        tx = Transaction(self.conn, now_ms)
        try:
            yield tx
        except BaseException:
            self.conn.execute("ROLLBACK TO operation")
            self.conn.execute("RELEASE operation")
            raise
        self.conn.execute("RELEASE operation")
        self._group.extend(tx.events)

    async def durable(self) -> None:
        """Wait until everything written so far is committed; raises if the commit failed."""
        if self._group is None:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def flush(self) -> None:
        """Commit the open group now, if there is one; raises if that commit failed."""
        if self._group is not None:
            failure = self._commit_group()
            if failure is not None:
                raise failure

    def _commit_group(self) -> sqlite3.Error | None:
        if self._group is None:
            return None
        events, waiters = self._group, self._waiters
        self._group, self._waiters = None, []
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("group commit failed; %d operations are undone", len(waiters))
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            for listener in self._undo_listeners:
                listener()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return exc
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._notify(events)
        return None

    def _notify(self, events: list[Event]) -> None:
        if not events:
            return
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                log.exception("event listener failed; the events stay in the log")

    def write(
        self,
        now_ms: int,
        operation: str,
        body: Callable[[Transaction], dict[str, Any]],
        *,
        principal: str = "",
        key: str | None = None,
    ) -> dict[str, Any]:
        """Run `body` in one transaction; with a key, a repeat returns the first answer."""
        with self.transaction(now_ms) as tx:
            if key:
                row = tx.one(
                    "SELECT operation, response FROM idempotency WHERE principal = ? AND key = ?",
                    (principal, key),
                )
                if row is not None:
                    if row["operation"] != operation:
                        raise QueueError("idempotency_conflict")
                    stored: dict[str, Any] = json.loads(row["response"])
                    return stored
            result = body(tx)
            if key:
                tx.run(
                    "INSERT INTO idempotency (principal, key, operation, response, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (principal, key, operation, json.dumps(result, ensure_ascii=False), now_ms),
                )
            return result

    def events_after(self, seq: int, limit: int = 1000) -> list[Event]:
        rows = self.conn.execute(
            "SELECT seq, id, type, at, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [
            Event(r["seq"], r["id"], r["type"], r["at"], json.loads(r["payload"])) for r in rows
        ]

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EventFeed:
    """The committed events a worker wants, in commit order, handled off the commit path.

    Listeners run inside the commit; a worker that prints, drives screens or writes again
    takes its events from a feed instead, in a task of its own.
    """

    def __init__(self, store: Store, wanted: Callable[[Event], bool]) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._wanted = wanted
        store.subscribe(self._committed)

    def _committed(self, events: list[Event]) -> None:
        for event in events:
            if self._wanted(event):
                self._queue.put_nowait(event)

    async def get(self) -> Event:
        return await self._queue.get()

    async def each(self, handle: Callable[[Event], None]) -> None:
        """Handle every event until cancelled; a failure is logged and the next one follows."""
        while True:
            event = await self._queue.get()
            try:
                handle(event)
            except Exception:
                log.exception("event %s (%s) not handled", event.seq, event.type)
