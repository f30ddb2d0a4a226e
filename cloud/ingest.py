"""Applying a hall's event batch: one transaction, each event stored once (sync/protocol.py).

The (hall, epoch) row is the batch's lock and its checkpoint: its `mark` is the highest
sequence the cloud holds for the epoch. A batch that chains beyond the mark is refused (a gap);
events at or below the mark are duplicates; the others are checked (`sync.events`) and either
stored or quarantined, and the mark moves to the batch's last sequence, all in one commit;
the bookings the stored events check in (`booking.checked_in`, a `ticket.issued` of source
`booking`) become checked in within that same commit (cloud/bookings.py), and the penalty of a
no-show among them is reversed (cloud/noshow.py).

A heartbeat (`record_heartbeat`) moves the hall's synced-through mark: the hall's clock up to
which the cloud holds everything the hall committed.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloud.bookings import record_check_ins
from cloud.db import (
    events,
    hall_epochs,
    halls,
    insert_ignoring_conflicts,
    is_postgresql,
    quarantine,
)
from cloud.noshow import reverse_penalties
from sync.events import poison_reason
from sync.protocol import (
    BatchAck,
    EventBatch,
    Heartbeat,
    HeartbeatAck,
    Mark,
    Quarantined,
    SyncEvent,
)

__all__ = [
    "EpochConflict",
    "SyncGap",
    "apply_batch",
    "out_of_range",
    "read_mark",
    "record_heartbeat",
]

log = logging.getLogger(__name__)


class SyncGap(Exception):
    """The batch starts after a sequence the cloud does not hold: nothing was applied."""

    def __init__(self, epoch: str, mark: int) -> None:
        super().__init__(f"epoch {epoch}: the cloud holds up to {mark}")
        self.epoch = epoch
        self.mark = mark


class EpochConflict(Exception):
    """The batch names an epoch the cloud knows with another start: nothing was applied."""

    def __init__(self, epoch: str, mark: int, epoch_start: int) -> None:
        super().__init__(f"epoch {epoch} starts after {epoch_start}")
        self.epoch = epoch
        self.mark = mark
        self.epoch_start = epoch_start


_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an escaped NUL, not an escaped backslash
_BIGINT = 2**63


def out_of_range(batch: EventBatch) -> str | None:
    """Why the batch's numbers cannot be stored (PostgreSQL's bigint), or None."""
    numbers = [batch.epoch_start, batch.after, batch.sent_at]
    numbers += [n for e in batch.events for n in (e.seq, e.at)]
    if any(not -_BIGINT < n < _BIGINT for n in numbers):
        return "a number is beyond 64 bits"
    if not -(2**53) < batch.sent_at < 2**53:
        return "sent_at is not a time"
    return None


async def apply_batch(engine: AsyncEngine, hall: str, batch: EventBatch, now_ms: int) -> BatchAck:
    """Apply `batch` of the authenticated `hall` (the caller checked `batch.hall == hall`) and
    answer the cloud's mark; raises SyncGap or EpochConflict when it cannot apply."""
    async with engine.begin() as conn:
        epoch_start, mark = await _lock_epoch(conn, hall, batch, now_ms)
        if epoch_start != batch.epoch_start:
            raise EpochConflict(batch.epoch, mark, epoch_start)
        if batch.after > mark:
            raise SyncGap(batch.epoch, mark)
        offset = now_ms - batch.sent_at
        fresh = [e for e in batch.events if e.seq > mark]
        duplicates = len(batch.events) - len(fresh)
        good: list[tuple[SyncEvent, str]] = []
        poisoned: list[dict[str, object]] = []
        refused: list[Quarantined] = []
        for e in fresh:
            text = json.dumps(e.payload, ensure_ascii=False)
            reason = poison_reason(e.type, e.payload)
            if reason is None and "\\u0000" in text and _NUL.search(text):
                reason = "payload holds a NUL character (\\u0000), which JSONB cannot store"
            if reason is None:
                good.append((e, text))
                continue
            payload = json.loads(text.replace("\\u0000", "\\\\u0000"))
            poisoned.append(
                {"hall": hall, "epoch": batch.epoch, "seq": e.seq, "id": e.id, "type": e.type,
                 "reason": reason, "payload": payload, "at": e.at, "received_at": now_ms}
            )  # fmt: skip
            refused.append(Quarantined(seq=e.seq, id=e.id, reason=reason))
        # an id the cloud holds already (the same event sent under another epoch, after a
        # restore) is skipped: stored once, counted as a duplicate
        stored = await _store(conn, hall, batch.epoch, good, offset, now_ms) if good else 0
        duplicates += len(good) - stored
        # a booking checked in at the hall is checked in here too, in the same commit; a late
        # check-in of a no-show reverses its penalty (after the check-ins took the hall's
        # booking counter, which the no-show processing holds while it marks: see noshow.py)
        checked_in = _checked_in(good)
        await record_check_ins(conn, hall, checked_in, now_ms)
        await reverse_penalties(conn, hall, checked_in, now_ms)
        if poisoned:
            await conn.execute(insert_ignoring_conflicts(conn, quarantine), poisoned)
            for q in refused:
                log.warning("hall %s quarantined event %s: %s", hall, q.seq, q.reason)
        values: dict[str, object] = {"last_seen": now_ms, "clock_offset_ms": offset}
        if fresh:
            mark = batch.events[-1].seq
            values |= {"mark": mark, "last_batch_at": now_ms}
        await conn.execute(
            sa.update(hall_epochs)
            .where(hall_epochs.c.hall == hall, hall_epochs.c.epoch == batch.epoch)
            .values(values)
        )
    return BatchAck(
        epoch=batch.epoch,
        mark=mark,
        stored=stored,
        duplicates=duplicates,
        quarantined=refused,
    )


def _checked_in(good: list[tuple[SyncEvent, str]]) -> list[str]:
    """The bookings the events check in: `booking.checked_in`, and the ticket a booking got."""
    ids: list[str] = []
    for e, _ in good:
        if e.type == "booking.checked_in":
            ids.append(e.payload["booking"])
        elif e.type == "ticket.issued":
            ticket = e.payload["ticket"]
            if ticket.get("source") == "booking" and isinstance(ticket.get("booking_id"), str):
                ids.append(ticket["booking_id"])
    return ids


async def read_mark(engine: AsyncEngine, hall: str, epoch: str) -> Mark:
    async with engine.connect() as conn:
        mark = await conn.scalar(
            sa.select(hall_epochs.c.mark).where(
                hall_epochs.c.hall == hall, hall_epochs.c.epoch == epoch
            )
        )
    return Mark(epoch=epoch, mark=mark or 0, known=mark is not None)


async def record_heartbeat(
    engine: AsyncEngine, hall: str, beat: Heartbeat, now_ms: int
) -> HeartbeatAck:
    """Take the hall's word that it committed nothing after `beat.mark` up to `beat.at`: when
    the cloud holds the epoch up to that mark, the hall is synced through `beat.at` (never
    backwards); otherwise SyncGap, and nothing changes. An epoch the cloud has not seen
    counts as holding nothing: only a heartbeat of an empty first epoch (mark 0) passes."""
    async with engine.begin() as conn:
        held = await conn.scalar(
            sa.select(hall_epochs.c.mark).where(
                hall_epochs.c.hall == hall, hall_epochs.c.epoch == beat.epoch
            )
        )
        mark = int(held or 0)
        if beat.mark > mark:
            raise SyncGap(beat.epoch, mark)
        column = halls.c.synced_through_ms
        through = await conn.scalar(
            sa.update(halls)
            .where(halls.c.id == hall)
            .values(
                synced_through_ms=sa.case(
                    (sa.or_(column.is_(None), column < beat.at), beat.at), else_=column
                ),
                heartbeat_at=now_ms,
            )
            .returning(column)
        )
    return HeartbeatAck(epoch=beat.epoch, mark=mark, synced_through=int(through))


async def _store(
    conn: AsyncConnection,
    hall: str,
    epoch: str,
    good: list[tuple[SyncEvent, str]],
    offset: int,
    now_ms: int,
) -> int:
    """Insert the events, skipping any whose id or sequence is held; how many were new."""
    n = len(good)
    if is_postgresql(conn):
        # one statement over arrays: PostgreSQL unnests them into rows, so the driver sends
        # nine arrays instead of n × 9 parameters (see bench.ingest for what it buys)
        params = {
            "hall": [hall] * n,
            "epoch": [epoch] * n,
            "seq": [e.seq for e, _ in good],
            "id": [e.id for e, _ in good],
            "type": [e.type for e, _ in good],
            "at": [e.at for e, _ in good],
            "offset_ms": [offset] * n,
            "received_at": [now_ms] * n,
            "payload": [text for _, text in good],
        }
        result = await conn.execute(_UNNEST_INSERT, params)
    else:
        rows = [
            {"hall": hall, "epoch": epoch, "seq": e.seq, "id": e.id, "type": e.type, "at": e.at,
             "offset_ms": offset, "received_at": now_ms, "payload": e.payload}
            for e, _ in good
        ]  # fmt: skip
        result = await conn.execute(
            insert_ignoring_conflicts(conn, events).returning(events.c.seq), rows
        )
    return len(result.all())


def _unnest_insert() -> sa.Executable:
    def column(name: str, kind: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
        return sa.func.unnest(sa.bindparam(name, type_=postgresql.ARRAY(kind)))

    rows = sa.select(
        column("hall", sa.Text()),
        column("epoch", sa.Text()),
        column("seq", sa.BigInteger()),
        column("id", sa.Text()),
        column("type", sa.Text()),
        column("at", sa.BigInteger()),
        column("offset_ms", sa.BigInteger()),
        column("received_at", sa.BigInteger()),
        sa.cast(column("payload", sa.Text()), postgresql.JSONB()),
    )
    names = ["hall", "epoch", "seq", "id", "type", "at", "offset_ms", "received_at", "payload"]
    return (
        postgresql.insert(events)
        .from_select(names, rows)
        .on_conflict_do_nothing()
        .returning(events.c.seq)
    )


_UNNEST_INSERT = _unnest_insert()


async def _lock_epoch(
    conn: AsyncConnection, hall: str, batch: EventBatch, now_ms: int
) -> tuple[int, int]:
    """(epoch_start, mark) of the batch's epoch, its row locked until the commit; a new epoch
    is created holding nothing after its start."""
    query = (
        sa.select(hall_epochs.c.epoch_start, hall_epochs.c.mark)
        .where(hall_epochs.c.hall == hall, hall_epochs.c.epoch == batch.epoch)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    if row is None:
        await conn.execute(
            insert_ignoring_conflicts(conn, hall_epochs),
            {
                "hall": hall,
                "epoch": batch.epoch,
                "epoch_start": batch.epoch_start,
                "mark": batch.epoch_start,
                "first_seen": now_ms,
                "last_seen": now_ms,
                "clock_offset_ms": now_ms - batch.sent_at,
            },
        )
        row = (await conn.execute(query)).first()
        assert row is not None
    return int(row.epoch_start), int(row.mark)
