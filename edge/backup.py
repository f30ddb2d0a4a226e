"""Backups of the edge database: online snapshots, the schedule that keeps them, and restore.

A snapshot is a consistent copy of the live database, made with SQLite's backup API while the
node goes on writing: the copy reads one snapshot of the database (WAL mode: the node's writes
never wait for it) a few pages at a time, is checked, fsynced and renamed into place in one
step. Its name says when it was taken and how far its event log goes:
`edge-20261125T010203.456Z-<epoch>-<last event seq>.sqlite3`.

Restoring puts a snapshot (or a database that Litestream restored) in place of the node's
database while the node is stopped, and makes the restored database a new incarnation
(sync/protocol.py): a new epoch that begins after its last event, so nothing it sends is
mistaken for what the replaced database sent after the snapshot was taken, and the events
before that point, sent under the old epoch, are not sent again; ticket numbering raised above
every number given out during the lost time; an `edge.restored` event, the first of the new
epoch. `docs/backup.md` tells the operator's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal
from zoneinfo import ZoneInfo

from edge.config import EdgeConfig, load_config
from edge.db import open_database
from sync.ids import new_id

__all__ = [
    "DEFAULT_NUMBER_MARGIN",
    "PREVIOUS_EPOCHS",
    "BackupError",
    "DatabaseInUse",
    "NodeLock",
    "Restored",
    "Snapshot",
    "SnapshotError",
    "SnapshotSchedule",
    "backup_from_config",
    "database_path",
    "hold_node_lock",
    "prune",
    "raise_numbering",
    "restore",
    "restore_from_config",
    "snapshots",
    "take_snapshot",
]

log = logging.getLogger(__name__)

DEFAULT_NUMBER_MARGIN = 200  # tickets a hall may have issued in the lost time, per prefix
PREVIOUS_EPOCHS = "sync.previous_epochs"  # meta key: the epochs this database's events span

NumbersFrom = Literal["replaced", "margin"] | Path
DayPrefix = tuple[str, str]  # (hall day 'YYYY-MM-DD', ticket prefix)

_STAMP = "%Y%m%dT%H%M%S"
_NAME = re.compile(
    r"^(?P<stem>.+)-(?P<at>\d{8}T\d{6}\.\d{3}Z)-(?P<epoch>[0-9A-Za-z]+)-(?P<seq>\d+)\.sqlite3$"
)


class BackupError(Exception):
    """A backup or a restore cannot go on; the message says why and what to do."""


class SnapshotError(BackupError):
    """A file is not a usable snapshot of an edge database (corrupt, partial, something else)."""


class DatabaseInUse(BackupError):
    """The database is held: by a running node (for a restore) or by a restore (for a node)."""


@dataclass(frozen=True)
class Snapshot:
    path: Path
    epoch: str
    seq: int  # the last event in the snapshot

    def __str__(self) -> str:
        return f"snapshot {self.path} (epoch {self.epoch}, events up to {self.seq})"


@dataclass(frozen=True)
class Restored:
    database: Path
    source: Path
    old_epoch: str
    new_epoch: str
    epoch_start: int
    replaced: Path | None
    numbers_from: str  # "replaced", "margin" or the file the numbers were read from
    numbering: dict[DayPrefix, int] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [
            f"restored {self.database} from {self.source} (events up to {self.epoch_start})",
            f"  new epoch {self.new_epoch} begins after event {self.epoch_start} "
            f"(the snapshot's epoch was {self.old_epoch})",
            f"  the replaced database is kept as {self.replaced}"
            if self.replaced
            else "  there was no database to replace",
        ]
        raised = ", ".join(f"{d} {p} {n}" for (d, p), n in sorted(self.numbering.items()))
        lines.append(
            f"  ticket numbers continue after: {raised or 'nothing to raise'} "
            f"(from {self.numbers_from})"
        )
        return "\n".join(lines)


def database_path(config: EdgeConfig, base: Path) -> Path:
    """The node's database file, as `EdgeNode` opens it."""
    return config.data_path(base) / config.database.path


def take_snapshot(
    database: Path,
    folder: Path,
    *,
    name: str | None = None,
    pages: int = 1024,
    pause: float = 0.002,
    abort: threading.Event | None = None,
) -> Snapshot:
    """Copy the live database into `folder` (as `name`, or named by its time, epoch and last
    event), `pages` pages at a time with a `pause` between steps; `abort` stops the copy."""
    database = Path(database)
    if not database.is_file():
        raise BackupError(f"{database}: no such database")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{database.stem}.{os.getpid()}.{time.monotonic_ns()}.partial"
    taken = dt.datetime.now(dt.UTC)
    try:
        _copy(database, partial, pages=pages, pause=pause, abort=abort, journal="DELETE")
        epoch, seq = _check(partial, f"the snapshot of {database}")
        _fsync(partial)
        final = folder / (name or _snapshot_name(database.stem, taken, epoch, seq))
        if final.exists():
            raise BackupError(f"{final} exists already")
        os.replace(partial, final)
        _fsync(folder)
    finally:
        partial.unlink(missing_ok=True)
    log.info("snapshot %s taken", final.name)
    return Snapshot(final, epoch, seq)


def snapshots(folder: Path, stem: str = "edge") -> list[Path]:
    """The snapshots of a database named `stem` in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = [
        (m["at"], p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and m["stem"] == stem
    ]
    return [p for _, p in sorted(found)]


def prune(folder: Path, stem: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` snapshots (and copies abandoned over an hour ago)."""
    removed = snapshots(folder, stem)[: -keep or None] if keep > 0 else []
    for path in removed:
        path.unlink(missing_ok=True)
    for partial in folder.glob(f".{stem}.*.partial"):
        with contextlib.suppress(OSError):
            if time.time() - partial.stat().st_mtime > 3600:
                partial.unlink()
    return removed


class SnapshotSchedule:
    """Takes a snapshot every `interval` seconds in a worker thread, never on the event loop,
    and keeps the newest `keep`. The first comes when the newest snapshot in the folder is
    `interval` old, but not before `settle` seconds after the node started."""

    def __init__(
        self, database: Path, folder: Path, interval: float, keep: int, *, settle: float = 60.0
    ) -> None:
        self.database = database
        self.folder = folder
        self.interval = interval
        self.keep = keep
        self.settle = settle
        self._abort = threading.Event()

    async def run(self) -> None:
        delay = max(min(self.interval, self.settle), self.interval - self._age_of_newest())
        while True:
            await asyncio.sleep(delay)
            delay = self.interval
            future = asyncio.get_running_loop().run_in_executor(None, self.take)
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                self._abort.set()  # the node stops: end the copy and wait for its thread
                with contextlib.suppress(Exception):
                    await future
                raise
            except Exception:  # a failed snapshot must not end the schedule, nor the node
                log.exception("scheduled snapshot failed; the next in %.0f s", self.interval)

    def take(self) -> Snapshot:
        """One snapshot now, then the old ones pruned."""
        snapshot = take_snapshot(self.database, self.folder, abort=self._abort)
        prune(self.folder, self.database.stem, self.keep)
        return snapshot

    def _age_of_newest(self) -> float:
        existing = snapshots(self.folder, self.database.stem)
        if not existing:
            return float("inf")
        return time.time() - existing[-1].stat().st_mtime


class NodeLock:
    """A lock file beside the database: a node holds it shared while it runs, a restore holds
    it exclusive. The kernel lets it go when the process ends, even on `kill -9`."""

    def __init__(self, file: IO[str]) -> None:
        self._file: IO[str] | None = file

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def hold_node_lock(database: Path, *, exclusive: bool = False) -> NodeLock:
    """Take the node's lock of `database`; raises `DatabaseInUse` when someone else holds it."""
    path = _lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    file = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(file, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = file.read().strip() or "another process"
        file.close()
        if exclusive:
            raise DatabaseInUse(
                f"the edge node is running on {database} (pid {holder} holds {path}): "
                "stop it first, then restore"
            ) from None
        raise DatabaseInUse(
            f"{database} is being restored (pid {holder}); try again when done"
        ) from None
    file.seek(0)
    file.truncate()
    file.write(f"{os.getpid()}\n")  # for the message of whoever is refused
    file.flush()
    return NodeLock(file)


def restore(
    database: Path,
    source: Path,
    *,
    numbers_from: NumbersFrom = "replaced",
    margin: int = DEFAULT_NUMBER_MARGIN,
    now_ms: int | None = None,
) -> Restored:
    """Put `source` (a snapshot, or a database restored by Litestream) in place of `database`,
    which the node must not be running on, and start a new epoch in it.

    Ticket numbering continues above what was given out after the snapshot: with
    `numbers_from="replaced"`, above every number in the replaced database (when it is gone or
    unreadable: the margin); with a path, above that database's numbers; with "margin", today's
    numbers of every prefix jump by `margin`.
    """
    database, source = Path(database).absolute(), Path(source).absolute()
    if not source.is_file():
        raise SnapshotError(f"{source}: no such file")
    if source == database:
        raise BackupError(f"{source} is the node's own database: restore from a copy")
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    lock = hold_node_lock(database, exclusive=True)
    try:
        incoming = database.with_name(f"{database.name}.restoring")
        _remove_database(incoming)
        try:
            _copy(source, incoming, pages=-1, pause=0.0, abort=None, journal="WAL")
            _check(incoming, str(source))
            highest, used = _numbers_to_continue(database, numbers_from)
            old_epoch, new_epoch, start, raised = _new_incarnation(
                incoming, source, highest, used, margin, now_ms
            )
            replaced = _move_aside(database, now_ms)
            os.replace(incoming, database)
            _fsync(database.parent)
        finally:
            _remove_database(incoming)
    finally:
        lock.release()
    result = Restored(database, source, old_epoch, new_epoch, start, replaced, used, raised)
    log.info("restored %s from %s: epoch %s", database, source.name, result.new_epoch)
    return result


def raise_numbering(
    conn: sqlite3.Connection, highest: Mapping[DayPrefix, int]
) -> dict[DayPrefix, int]:
    """Make the next ticket of each (day, prefix) come after `highest` (the highest number
    given out, e.g. by an earlier incarnation, or as the cloud knows it); never lowers a
    counter. Run it inside the caller's write transaction. Returns the counters it raised."""
    raised: dict[DayPrefix, int] = {}
    for (day, prefix), number in sorted(highest.items()):
        row = conn.execute(
            "INSERT INTO number_sequences (day, prefix, last) VALUES (?, ?, ?) "
            "ON CONFLICT (day, prefix) DO UPDATE SET last = excluded.last "
            "WHERE excluded.last > number_sequences.last RETURNING last",
            (day, prefix, number),
        ).fetchone()
        if row is not None:
            raised[(day, prefix)] = int(row[0])
    return raised


def backup_from_config(config_file: Path, to: Path | None = None) -> Snapshot:
    """`hall edge backup`: a snapshot of the configured node's database, into its backup folder
    or to `to` (a folder, or the file to write)."""
    config = load_config(config_file)
    database = database_path(config, config_file.resolve().parent)
    if to is None:
        return take_snapshot(
            database, config.data_path(config_file.resolve().parent) / config.backup.folder
        )
    if to.is_dir():
        return take_snapshot(database, to)
    return take_snapshot(database, to.parent, name=to.name)


def restore_from_config(
    config_file: Path,
    source: Path,
    numbers_from: str = "replaced",
    margin: int = DEFAULT_NUMBER_MARGIN,
) -> Restored:
    """`hall edge restore`: `restore` for the configured node's database; `numbers_from` is
    "replaced", "margin" or the path of a database to read the day's numbers from."""
    config = load_config(config_file)
    database = database_path(config, config_file.resolve().parent)
    chosen: NumbersFrom = Path(numbers_from)
    if numbers_from == "replaced":
        chosen = "replaced"
    elif numbers_from == "margin":
        chosen = "margin"
    return restore(database, source, numbers_from=chosen, margin=margin)


# --- helpers -----------------------------------------------------------------------------


def _lock_path(database: Path) -> Path:
    return database.with_name(f"{database.name}.lock")


def _snapshot_name(stem: str, at: dt.datetime, epoch: str, seq: int) -> str:
    return f"{stem}-{at.strftime(_STAMP)}.{at.microsecond // 1000:03d}Z-{epoch}-{seq}.sqlite3"


class _Aborted(Exception):
    pass


def _copy(
    source: Path,
    target: Path,
    *,
    pages: int,
    pause: float,
    abort: threading.Event | None,
    journal: Literal["DELETE", "WAL"],
) -> None:
    """Copy `source` into a new file `target` through the backup API, from one read snapshot."""
    try:
        src = sqlite3.connect(source, isolation_level=None, timeout=10)
    except sqlite3.Error as exc:
        raise SnapshotError(f"{source} cannot be opened: {exc}") from exc
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        # One read transaction for the whole copy: steps read the same snapshot, so the
        # node's commits in between do not restart the copy (and do not wait for it).
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_schema").fetchone()

        def step(_status: int, _remaining: int, _total: int) -> None:
            if abort is not None and abort.is_set():
                raise _Aborted
            if pause:
                time.sleep(pause)

        src.backup(dst, pages=pages, progress=step)
        src.execute("COMMIT")
        dst.execute(f"PRAGMA journal_mode={journal}")
    except _Aborted:
        raise BackupError(f"the copy of {source} was stopped") from None
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{source} is not a usable edge database: {exc}") from exc
    finally:
        src.close()
        dst.close()


def _check(path: Path, what: str) -> tuple[str, int]:
    """Integrity-check a copy and read its epoch and last event; SnapshotError if unusable."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise SnapshotError(f"{what} is damaged: {'; '.join(problems[:5])}")
        sets = {r[0] for r in conn.execute("SELECT DISTINCT migration_set FROM _sqlite_migrations")}
        if "edge" not in sets:
            raise SnapshotError(f"{what} is not an edge database")
        return _epoch(conn), _last_seq(conn)
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{what} is not a usable edge database: {exc}") from exc
    finally:
        conn.close()


def _epoch(conn: sqlite3.Connection) -> str:
    try:
        row = conn.execute("SELECT epoch FROM sync_state WHERE id = 1").fetchone()
    except sqlite3.OperationalError:  # from before the sync state (migration m008)
        return ""
    return str(row[0]) if row else ""


def _last_seq(conn: sqlite3.Connection) -> int:
    """The last event the database holds or held (events may have been pruned)."""
    row = conn.execute(
        "SELECT max(coalesce((SELECT max(seq) FROM events), 0), "
        "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))"
    ).fetchone()
    return int(row[0])


def _numbers_to_continue(
    database: Path, numbers_from: NumbersFrom
) -> tuple[dict[DayPrefix, int] | None, str]:
    """The numbers the replaced incarnation gave out, or None (use the margin), and whence."""
    if numbers_from == "margin":
        return None, "margin"
    path = database if numbers_from == "replaced" else Path(numbers_from)
    if not path.is_file():
        if numbers_from != "replaced":
            raise BackupError(f"ticket numbers cannot be read from {path}: no such file")
        log.warning("no database to replace: today's ticket numbers jump by the margin")
        return None, "margin"
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            rows = conn.execute("SELECT day, prefix, last FROM number_sequences").fetchall()
            if path == database:  # it is moved aside next: bring its WAL into the file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if numbers_from != "replaced":
            raise BackupError(f"ticket numbers cannot be read from {path}: {exc}") from exc
        log.warning("the replaced database is unreadable (%s): numbers jump by the margin", exc)
        return None, "margin"
    return {
        (r[0], r[1]): int(r[2]) for r in rows
    }, "replaced database" if path == database else str(path)


def _new_incarnation(
    path: Path,
    source: Path,
    highest: dict[DayPrefix, int] | None,
    numbers_from: str,
    margin: int,
    now_ms: int,
) -> tuple[str, str, int, dict[DayPrefix, int]]:
    """In the incoming database: a new epoch, numbering raised, the `edge.restored` event."""
    conn = open_database(path, "FULL")  # brings a snapshot of an older build up to date
    try:
        conn.execute("BEGIN IMMEDIATE")
        old_epoch, old_start, old_mark = conn.execute(
            "SELECT epoch, epoch_start, mark FROM sync_state WHERE id = 1"
        ).fetchone()
        start, new_epoch = _last_seq(conn), new_id()
        if highest is None:
            highest = _margin(conn, margin, now_ms)
        raised = raise_numbering(conn, highest)
        conn.execute(
            "UPDATE sync_state SET epoch = ?, epoch_start = ?, mark = ?, acked_at = NULL, "
            "last_error = '' WHERE id = 1",
            (new_epoch, start, start),
        )
        # The old epoch's events up to the snapshot, for the sync to finish sending what the
        # cloud may lack of them (GET /sync/v1/mark?epoch=…) under the epoch they belong to.
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (PREVIOUS_EPOCHS,)).fetchone()
        ended = {"epoch": old_epoch, "epoch_start": old_start, "end": start, "mark": old_mark}
        previous = [*json.loads(row[0] if row else "[]"), ended]
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (PREVIOUS_EPOCHS, json.dumps(previous)),
        )
        payload = {
            "snapshot": source.name,
            "old_epoch": old_epoch,
            "new_epoch": new_epoch,
            "epoch_start": start,
            "numbers_from": numbers_from,
            "numbering": [
                {"day": d, "prefix": p, "last": n} for (d, p), n in sorted(raised.items())
            ],
        }
        conn.execute(  # the first event of the new epoch
            "INSERT INTO events (id, type, at, payload) VALUES (?, 'edge.restored', ?, ?)",
            (new_id(), now_ms, json.dumps(payload, ensure_ascii=False)),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    _fsync(path)
    return str(old_epoch), new_epoch, start, raised


def _margin(conn: sqlite3.Connection, margin: int, now_ms: int) -> dict[DayPrefix, int]:
    """Today's counters of every prefix, `margin` further: the replaced database is gone, so
    what it gave out after the snapshot is unknown until the cloud says (`raise_numbering`)."""
    row = conn.execute("SELECT body FROM hall_setup ORDER BY version DESC LIMIT 1").fetchone()
    setup = json.loads(row[0]) if row else {}
    zone = ZoneInfo(setup.get("hall", {}).get("timezone", "Asia/Shanghai"))
    today = dt.datetime.fromtimestamp(now_ms / 1000, zone).date().isoformat()
    prefixes = {t["prefix"] for t in setup.get("business_types", []) if t.get("prefix")}
    current = dict(
        conn.execute("SELECT prefix, last FROM number_sequences WHERE day = ?", (today,)).fetchall()
    )
    return {(today, p): current.get(p, 0) + margin for p in prefixes | set(current)}


def _move_aside(database: Path, now_ms: int) -> Path | None:
    """Rename the replaced database (with its WAL, if any is left) to `*.replaced-<time>`."""
    if not database.exists():
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        return None
    at = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).strftime(_STAMP)
    aside = database.with_name(f"{database.name}.replaced-{at}Z")
    n = 1
    while aside.exists():  # never over an earlier replaced database
        n += 1
        aside = database.with_name(f"{database.name}.replaced-{at}Z-{n}")
    Path(f"{database}-shm").unlink(missing_ok=True)
    wal = Path(f"{database}-wal")
    if wal.exists():  # the WAL first: a WAL must never be left beside another database
        os.replace(wal, f"{aside}-wal")
    os.replace(database, aside)
    return aside


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
