"""The edge's SQLite database: connection settings and schema migrations."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Literal

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from sync.ids import new_id

__all__ = ["Checkpointer", "IncompatibleDatabase", "Synchronous", "migrations", "open_database"]

log = logging.getLogger(__name__)

Synchronous = Literal["NORMAL", "FULL", "EXTRA"]

# Applied migrations are never edited: a change to the schema is a new migration.
migrations = Migrations("edge")

# Development builds before the first release used this set; their schemas differ.
_PRE_RELEASE_SET = "smarthall.edge"


class IncompatibleDatabase(Exception):
    """The file is not a database this version can migrate."""


def open_database(
    path: Path | str, synchronous: Synchronous = "NORMAL", *, autocheckpoint: bool = True
) -> sqlite3.Connection:
    """Open (creating and migrating) the edge database in WAL mode, in autocommit mode.

    The caller owns transactions: every write happens under ``BEGIN IMMEDIATE``. Without
    `autocheckpoint` the connection never checkpoints the WAL; a `Checkpointer` must.
    """
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-32768")  # 32 MiB: a day's tickets and their indexes
    conn.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
    if not autocheckpoint:
        conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    db = Database(conn)
    if (
        db["_sqlite_migrations"].exists()
        and conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = ?", (_PRE_RELEASE_SET,)
        ).fetchone()
    ):
        conn.close()
        raise IncompatibleDatabase(
            f"{path} was made by a development build before the first release; "
            "move it away and let the node start a new one"
        )
    migrations.apply(db)
    return conn


class Checkpointer:
    """Checkpoints the WAL from a thread and connection of its own, so that the writer's
    commits never wait for the copy into the database file and its fsync (Litestream's way)."""

    def __init__(
        self, path: Path | str, interval: float = 1.0, restart_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self.path = str(path)
        self.interval = interval
        self.restart_bytes = restart_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=1.0)
        try:
            while not self._stop.wait(self.interval):
                # A passive checkpoint never waits for the writer, so under steady writes it
                # never reaches the end of the WAL, and the WAL never starts over. Past a size,
                # a RESTART checkpoint waits for a gap between commits and makes it start over.
                big = _size(f"{self.path}-wal") > self.restart_bytes
                self._checkpoint(conn, "RESTART" if big else "PASSIVE")
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> None:
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error:
            log.exception("WAL checkpoint failed; will try again")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _run(db: Database, script: str) -> None:
    """Run statements one by one inside the migration's transaction (executescript would
    commit it); a statement ends with ';' at the end of a line, triggers with 'END;'."""
    statement: list[str] = []
    for line in script.splitlines():
        statement.append(line)
        text = "\n".join(statement).strip()
        inside_trigger = text.upper().startswith("CREATE TRIGGER") and not text.upper().endswith(
            "END;"
        )
        if line.rstrip().endswith(";") and not inside_trigger:
            db.execute(text.rstrip(";"))
            statement = []
    if "\n".join(statement).strip():
        db.execute("\n".join(statement).strip().rstrip(";"))


@migrations()
def m001_queue(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE hall_setup (
            version INTEGER PRIMARY KEY,
            body TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        );
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            at INTEGER NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE TABLE number_sequences (
            day TEXT NOT NULL,
            prefix TEXT NOT NULL,
            last INTEGER NOT NULL,
            PRIMARY KEY (day, prefix)
        ) WITHOUT ROWID;
        CREATE TABLE daily_counts (
            day TEXT NOT NULL,
            business_type TEXT NOT NULL,
            committed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, business_type)
        ) WITHOUT ROWID;
        CREATE TABLE tickets (
            id TEXT PRIMARY KEY,
            day TEXT NOT NULL,
            number TEXT NOT NULL,
            area TEXT NOT NULL,
            business_type TEXT NOT NULL,
            category TEXT NOT NULL,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            priority INTEGER NOT NULL,
            order_at INTEGER NOT NULL,
            issued_at INTEGER NOT NULL,
            waiting_at_issue INTEGER NOT NULL,
            serving_windows TEXT NOT NULL,
            booking_id TEXT,
            assigned_staff TEXT,
            phone TEXT NOT NULL DEFAULT '',
            id_number TEXT NOT NULL DEFAULT '',
            issued_by TEXT NOT NULL DEFAULT '',
            window TEXT,
            staff TEXT,
            called_at INTEGER,
            call_count INTEGER NOT NULL DEFAULT 0,
            finished_at INTEGER,
            evaluation_requested INTEGER NOT NULL DEFAULT 0,
            evaluation TEXT,
            evaluated_at INTEGER,
            duration_warned INTEGER NOT NULL DEFAULT 0,
            transfers INTEGER NOT NULL DEFAULT 0,
            UNIQUE (day, number)
        );
        CREATE INDEX tickets_waiting
            ON tickets (day, area, business_type, priority, order_at, issued_at)
            WHERE status = 'waiting';
        CREATE INDEX tickets_assigned
            ON tickets (assigned_staff, order_at)
            WHERE status = 'waiting' AND assigned_staff IS NOT NULL;
        CREATE INDEX tickets_open
            ON tickets (status, day) WHERE status IN ('waiting', 'called');
        CREATE INDEX tickets_area_called
            ON tickets (area, day, called_at) WHERE called_at IS NOT NULL;
        CREATE TABLE waiting_counts (
            day TEXT NOT NULL,
            area TEXT NOT NULL,
            business_type TEXT NOT NULL,
            category TEXT NOT NULL,
            waiting INTEGER NOT NULL,
            PRIMARY KEY (day, area, business_type, category)
        ) WITHOUT ROWID;
        CREATE TRIGGER tickets_waiting_insert AFTER INSERT ON tickets
        WHEN new.status = 'waiting' BEGIN
            INSERT INTO waiting_counts VALUES
                (new.day, new.area, new.business_type, new.category, 1)
            ON CONFLICT DO UPDATE SET waiting = waiting + 1;
        END;
        CREATE TRIGGER tickets_waiting_leave AFTER UPDATE OF status, business_type, area
        ON tickets WHEN old.status = 'waiting' BEGIN
            UPDATE waiting_counts SET waiting = waiting - 1
            WHERE day = old.day AND area = old.area AND business_type = old.business_type
            AND category = old.category;
        END;
        CREATE TRIGGER tickets_waiting_enter AFTER UPDATE OF status, business_type, area
        ON tickets WHEN new.status = 'waiting' BEGIN
            INSERT INTO waiting_counts VALUES
                (new.day, new.area, new.business_type, new.category, 1)
            ON CONFLICT DO UPDATE SET waiting = waiting + 1;
        END;
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            window TEXT NOT NULL,
            staff TEXT,
            day TEXT NOT NULL,
            at INTEGER NOT NULL
        );
        CREATE INDEX calls_window ON calls (window, day, at);
        CREATE TABLE window_state (
            window TEXT PRIMARY KEY,
            staff TEXT,
            session TEXT,
            status TEXT NOT NULL DEFAULT 'closed',
            current_ticket TEXT,
            since INTEGER NOT NULL,
            gate_ticket TEXT,
            gate_until INTEGER
        );
        CREATE TABLE bookings (
            id TEXT PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            phone TEXT NOT NULL,
            id_number TEXT NOT NULL,
            business_type TEXT NOT NULL,
            date TEXT NOT NULL,
            slot_start TEXT NOT NULL,
            slot_end TEXT NOT NULL,
            status TEXT NOT NULL,
            ticket_id TEXT
        );
        CREATE INDEX bookings_phone ON bookings (date, phone);
        CREATE INDEX bookings_id_number ON bookings (date, id_number);
        CREATE TABLE supplements (
            code TEXT PRIMARY KEY,
            ticket_id TEXT NOT NULL,
            staff TEXT NOT NULL,
            business_type TEXT NOT NULL,
            area TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_on TEXT NOT NULL,
            used_by TEXT
        );
        CREATE TABLE warnings (
            key TEXT PRIMARY KEY,
            active INTEGER NOT NULL
        );
        CREATE TABLE idempotency (
            principal TEXT NOT NULL,
            key TEXT NOT NULL,
            operation TEXT NOT NULL,
            response TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (principal, key)
        ) WITHOUT ROWID;
        CREATE INDEX idempotency_at ON idempotency (at)
        """,
    )


@migrations()
def m002_retention(db: Database) -> None:
    db.execute("CREATE INDEX calls_day ON calls (day)")


@migrations()
def m003_devices(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            profile TEXT NOT NULL DEFAULT '',
            area TEXT NOT NULL DEFAULT '',
            window TEXT NOT NULL DEFAULT '',
            mqtt_user TEXT NOT NULL UNIQUE,
            mqtt_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )
        """,
    )


@migrations()
def m004_device_attachment(db: Database) -> None:
    db.execute("ALTER TABLE devices ADD COLUMN attached_to TEXT NOT NULL DEFAULT ''")


@migrations()
def m005_device_connection(db: Database) -> None:
    db.execute("ALTER TABLE devices ADD COLUMN connection TEXT NOT NULL DEFAULT ''")


@migrations()
def m006_voice_settings(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE voice_settings (
            area TEXT PRIMARY KEY,
            silent INTEGER,
            speed TEXT,
            languages TEXT,
            repeat INTEGER,
            changed_at INTEGER NOT NULL,
            changed_by TEXT NOT NULL
        )
        """,
    )


@migrations()
def m007_last_called(db: Database) -> None:
    # a recall makes its ticket the central display's current call again (§4.2.2 (3))
    _run(
        db,
        """
        ALTER TABLE tickets ADD COLUMN last_called_at INTEGER;
        UPDATE tickets SET last_called_at = called_at WHERE called_at IS NOT NULL;
        CREATE INDEX tickets_area_last_called ON tickets (area, day, last_called_at)
            WHERE last_called_at IS NOT NULL
        """,
    )


@migrations()
def m008_sync_state(db: Database) -> None:
    # one row: this incarnation of the database (its epoch, after which sequence its events
    # begin) and how far the cloud has acknowledged them (sync/protocol.py)
    _run(
        db,
        """
        CREATE TABLE sync_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            epoch TEXT NOT NULL,
            epoch_start INTEGER NOT NULL,
            mark INTEGER NOT NULL,
            acked_at INTEGER,
            last_error TEXT NOT NULL DEFAULT ''
        )
        """,
    )
    db.execute(
        "INSERT INTO sync_state (id, epoch, epoch_start, mark) VALUES (1, ?, 0, 0)", [new_id()]
    )
