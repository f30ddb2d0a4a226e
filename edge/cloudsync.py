"""Shipping the edge's event log to the cloud (sync/protocol.py), and its sync status.

The edge sends what was committed after the cloud's mark, in batches, in sequence order, and
moves its own mark only on the cloud's acknowledgement. It asks the cloud where it stands when
it starts and after every failure: a cloud restored from a backup (its mark went back) gets the
events again, from the acknowledged ones the edge keeps (`retain_days`, 14 by default); a lost
acknowledgement (the cloud stored the batch, the answer never came) costs one replay that the
cloud recognises. Failures back off exponentially with jitter. Nothing here blocks the hall:
sync runs in its own task and only reads the log.

When nothing is left to send, the edge tells the cloud so, at most every `heartbeat_seconds`
(a `Heartbeat`: as of the hall's clock, its last committed event is the cloud's mark): the
cloud's synced-through mark for the hall, which its no-show processing waits for. A refused
heartbeat (the cloud lacks events after all) counts as a failure and sends from its mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from edge.backup import PREVIOUS_EPOCHS
from edge.cloudlink import Backoff, CloudRefused, cloud_json, hall_headers
from edge.queue import QueueEngine
from edge.queue.store import Event
from sync.protocol import (
    BatchAck,
    EventBatch,
    Heartbeat,
    HeartbeatAck,
    Mark,
    SyncEvent,
)

__all__ = ["CloudSync", "SyncState", "sync_state"]

log = logging.getLogger(__name__)

_DAY_MS = 86_400_000


@dataclass(frozen=True)
class SyncState:
    epoch: str
    epoch_start: int
    mark: int
    acked_at: int | None
    last_error: str


def sync_state(engine: QueueEngine) -> SyncState:
    row = engine.conn.execute("SELECT * FROM sync_state WHERE id = 1").fetchone()
    return SyncState(
        row["epoch"], row["epoch_start"], row["mark"], row["acked_at"], row["last_error"]
    )


class HeartbeatRefused(Exception):
    """The cloud does not hold the epoch up to the heartbeat's mark: send from its mark."""


class CloudSync:
    def __init__(
        self,
        engine: QueueEngine,
        *,
        url: str,
        hall: str,
        secret: str,
        batch_size: int = 500,
        timeout: float = 10.0,
        retain_days: int = 14,
        min_backoff: float = 1.0,
        max_backoff: float = 300.0,
        heartbeat_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.url = url.rstrip("/")
        self.hall = hall
        self.headers = hall_headers(hall, secret)
        self.batch_size = batch_size
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retain_ms = retain_days * _DAY_MS
        self.last_success_ms: int | None = None
        self.last_attempt_ms: int | None = None
        self.sent_batches = 0
        self.quarantined = 0
        self.heartbeat_seconds = heartbeat_seconds
        self.synced_through: int | None = None  # the hall's clock, as the cloud last took it
        self._heartbeat_due = 0.0
        self._wake = asyncio.Event()
        self.backoff = Backoff(min_backoff, max_backoff)
        self._pruned_at = 0.0
        # the highest sequence known to be committed: never send what a group commit may undo
        row = engine.conn.execute("SELECT max(seq) FROM events").fetchone()
        self._committed = int(row[0] or 0)
        engine.store.subscribe(self._committed_events)

    def _committed_events(self, events: list[Event]) -> None:
        if events:
            self._committed = max(self._committed, events[-1].seq)
            self._wake.set()

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """What operators see: how far behind, since when, and why (GET /api/sync)."""
        state = sync_state(self.engine)
        first = self.engine.conn.execute(
            "SELECT at FROM events WHERE seq > ? AND seq > ? ORDER BY seq LIMIT 1",
            (state.mark, state.epoch_start),
        ).fetchone()
        now = self.engine.clock.now_ms()
        return {
            "cloud": self.url,
            "epoch": state.epoch,
            "epoch_start": state.epoch_start,
            "mark": state.mark,
            "committed": self._committed,
            "lag_events": max(0, self._committed - max(state.mark, state.epoch_start)),
            "lag_seconds": round((now - first["at"]) / 1000, 1) if first else 0.0,
            "last_success": state.acked_at,
            "last_attempt": self.last_attempt_ms,
            "last_error": state.last_error,
            "quarantined": self.quarantined,
            "synced_through": self.synced_through,
        }

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as session:
            ask_mark = True
            while True:
                self._wake.clear()
                self._prune()  # what the cloud acknowledged may go, whether it answers now or not
                try:
                    if ask_mark:
                        await self._finish_previous_epochs(session)
                        await self._align(session)
                        ask_mark = False
                    sent = await self._send_one(session)
                    if not sent:
                        await self._heartbeat(session)
                    self.backoff.reset()
                    if not sent:
                        idle = min(5.0, self.heartbeat_seconds)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), timeout=idle)
                except asyncio.CancelledError:
                    raise
                except CloudRefused as exc:
                    self._failed(str(exc))
                    await asyncio.sleep(self.backoff.next(refused=True))
                    ask_mark = True
                except (
                    aiohttp.ClientError,
                    TimeoutError,
                    OSError,
                    ValueError,
                    HeartbeatRefused,
                ) as exc:
                    self._failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                    await asyncio.sleep(self.backoff.next())
                    ask_mark = True

    async def _align(self, session: aiohttp.ClientSession) -> None:
        """Take the cloud's mark for this epoch as where to continue from."""
        state = sync_state(self.engine)
        async with session.get(
            f"{self.url}/sync/v1/mark", params={"epoch": state.epoch}
        ) as response:
            body = await cloud_json(response)
        mark = Mark.model_validate(body)
        cursor = max(mark.mark, state.epoch_start)
        if cursor != state.mark:
            if cursor < state.mark:
                log.warning(
                    "cloud sync: the cloud holds epoch %s up to %s, behind our %s: re-sending",
                    state.epoch, cursor, state.mark,
                )  # fmt: skip
            self._save(cursor, acked=False)

    async def _send_one(self, session: aiohttp.ClientSession) -> bool:
        """Send the next batch of this epoch; False when there was nothing to send."""
        state = sync_state(self.engine)
        after = max(state.mark, state.epoch_start)
        events = self._pending(after, self._committed)
        if not events:
            return False
        mark, acked = await self._post(session, state.epoch, state.epoch_start, after, events)
        self._save(max(mark, state.epoch_start), acked=acked)
        return True

    async def _heartbeat(self, session: aiohttp.ClientSession) -> None:
        """Tell the cloud this epoch is caught up as of the hall's clock now; at most every
        `heartbeat_seconds`, and only when nothing committed before that moment is unsent."""
        if time.monotonic() < self._heartbeat_due:
            return
        at = self.engine.clock.now_ms()
        with contextlib.suppress(sqlite3.Error):  # a failed group commit undid its events
            await self.engine.store.durable()  # what was written up to `at` is committed
        state = sync_state(self.engine)
        mark = max(state.mark, state.epoch_start)
        if self._pending(mark, self._committed):
            return  # something came in meanwhile: send it first
        beat = Heartbeat(epoch=state.epoch, mark=mark, at=at)
        self.last_attempt_ms = self.engine.clock.now_ms()
        async with session.post(
            f"{self.url}/sync/v1/heartbeat",
            data=beat.model_dump_json(),
            headers={"Content-Type": "application/json"},
        ) as response:
            if response.status == 409:
                body = await response.json(content_type=None)
                raise HeartbeatRefused(
                    f"heartbeat refused: the cloud holds epoch {state.epoch} up to "
                    f"{body.get('mark')}, not {mark}"
                )
            body = await cloud_json(response)
        ack = HeartbeatAck.model_validate(body)
        self.synced_through = ack.synced_through
        if state.last_error:  # the cloud is back and holds everything: the error is history
            with self.engine.store.transaction(self.engine.clock.now_ms()) as tx:
                tx.run("UPDATE sync_state SET last_error = '' WHERE id = 1")
        self._heartbeat_due = time.monotonic() + self.heartbeat_seconds

    def _pending(self, after: int, through: int) -> list[Event]:
        events = self.engine.store.events_after(after, limit=self.batch_size)
        return [e for e in events if e.seq <= through]

    async def _post(
        self,
        session: aiohttp.ClientSession,
        epoch: str,
        epoch_start: int,
        after: int,
        events: list[Event],
    ) -> tuple[int, bool]:
        """One batch to the cloud: the cloud's mark after it, and whether it was applied
        (False: refused as a gap, the mark says where the cloud stands)."""
        batch = EventBatch(
            hall=self.hall,
            epoch=epoch,
            epoch_start=epoch_start,
            after=after,
            sent_at=self.engine.clock.now_ms(),
            events=[
                SyncEvent(seq=e.seq, id=e.id, type=e.type, at=e.at, payload=e.payload)
                for e in events
            ],
        )
        self.last_attempt_ms = self.engine.clock.now_ms()
        async with session.post(
            f"{self.url}/sync/v1/events",
            data=batch.model_dump_json(),
            headers={"Content-Type": "application/json"},
        ) as response:
            if response.status == 409:
                body = await response.json(content_type=None)
                mark = int(body.get("mark", 0))
                log.warning("cloud sync: gap at %s (epoch %s): the cloud holds up to %s",
                            after, epoch, mark)  # fmt: skip
                return mark, False
            body = await cloud_json(response)
        ack = BatchAck.model_validate(body)
        if ack.epoch != epoch:
            raise ValueError(f"the cloud answered for epoch {ack.epoch}, not {epoch}")
        for q in ack.quarantined:
            log.warning("cloud sync: event %s (%s) quarantined: %s", q.seq, q.id, q.reason)
        self.quarantined += len(ack.quarantined)
        self.sent_batches += 1
        return ack.mark, True

    async def _finish_previous_epochs(self, session: aiohttp.ClientSession) -> None:
        """After a restore, the earlier epoch's events up to the snapshot that the cloud may
        lack are sent under that epoch (edge/backup.py records them); then forgotten."""
        raw = self.engine.store.meta(PREVIOUS_EPOCHS)
        if not raw:
            return
        for previous in json.loads(raw):
            epoch, start, end = (
                previous["epoch"],
                int(previous["epoch_start"]),
                int(previous["end"]),
            )
            async with session.get(f"{self.url}/sync/v1/mark", params={"epoch": epoch}) as r:
                cursor = max(Mark.model_validate(await cloud_json(r)).mark, start)
            while cursor < end:
                events = self._pending(cursor, end)
                if not events:
                    break  # pruned long ago: nothing left to give
                cursor, _ = await self._post(session, epoch, start, cursor, events)
        with self.engine.store.transaction(self.engine.clock.now_ms()):
            self.engine.store.set_meta(PREVIOUS_EPOCHS, "[]")

    # ------------------------------------------------------------------ state

    def _save(self, mark: int, *, acked: bool) -> None:
        now = self.engine.clock.now_ms()
        with self.engine.store.transaction(now) as tx:
            if acked:
                tx.run(
                    "UPDATE sync_state SET mark = ?, acked_at = ?, last_error = '' WHERE id = 1",
                    (mark, now),
                )
            else:
                tx.run("UPDATE sync_state SET mark = ? WHERE id = 1", (mark,))
        if acked:
            self.last_success_ms = now

    def _failed(self, error: str) -> None:
        log.warning("cloud sync: %s", error)
        with self.engine.store.transaction(self.engine.clock.now_ms()) as tx:
            tx.run("UPDATE sync_state SET last_error = ? WHERE id = 1", (error[:500],))

    def _prune(self) -> None:
        """Drop acknowledged events older than the retention, at most once a minute."""
        if time.monotonic() - self._pruned_at < 60:
            return
        self._pruned_at = time.monotonic()
        state = sync_state(self.engine)
        before = self.engine.clock.now_ms() - self.retain_ms
        with self.engine.store.transaction(self.engine.clock.now_ms()) as tx:
            tx.run("DELETE FROM events WHERE seq <= ? AND at < ?", (state.mark, before))
