"""The cloud's database: its tables (SQLAlchemy Core), engines and migrations.

PostgreSQL (asyncpg) in production and in the tests; SQLite (aiosqlite) as the embedded default
for trials. The same statements run on both: the few dialect differences (upsert, JSONB, row
locks) are chosen here, by the engine's dialect.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

__all__ = [
    "audit_log",
    "bookings",
    "calendar_exceptions",
    "events",
    "hall_counters",
    "hall_epochs",
    "hall_setups",
    "halls",
    "insert_ignoring_conflicts",
    "is_postgresql",
    "metadata",
    "migrate",
    "migrate_async",
    "next_change",
    "open_engine",
    "penalties",
    "quarantine",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

metadata = sa.MetaData()

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite
Payload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

halls = sa.Table(
    "halls",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    # the hall's clock up to which the cloud holds everything the hall committed (a heartbeat,
    # sync/protocol.py), and the cloud's clock when that heartbeat came
    sa.Column("synced_through_ms", sa.BigInteger),
    sa.Column("heartbeat_at", sa.BigInteger),
)

hall_epochs = sa.Table(
    "hall_epochs",
    metadata,
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
    sa.Column("epoch", sa.String(64), primary_key=True),
    sa.Column("epoch_start", sa.BigInteger, nullable=False),
    sa.Column("mark", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("clock_offset_ms", sa.BigInteger, nullable=False),
    sa.Column("last_batch_at", sa.BigInteger),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("offset_ms", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("payload", Payload, nullable=False),
    sa.UniqueConstraint("id", name="events_id_key"),
    sa.Index("events_hall_type", "hall", "type"),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("hall", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", Payload, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
)

hall_setups = sa.Table(
    "hall_setups",
    metadata,
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("body", Payload, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

bookings = sa.Table(
    "bookings",
    metadata,
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("id_number", sa.Text, nullable=False),
    sa.Column("business_type", sa.String(64), nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("slot_start", sa.Time, nullable=False),
    sa.Column("slot_end", sa.Time, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("hall", "code", name="bookings_hall_code_key"),
    sa.UniqueConstraint("hall", "change_seq", name="bookings_hall_change_seq_key"),
    sa.CheckConstraint(
        "status IN ('booked', 'cancelled', 'checked_in', 'no_show')", name="bookings_status_check"
    ),
    sa.Index("bookings_hall_date", "hall", "date"),
)

# a no-show's penalty (cloud/noshow.py); reversed, not deleted, when a late check-in arrives
penalties = sa.Table(
    "penalties",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), nullable=False),
    sa.Column("booking", sa.String(64), nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("id_number", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("reversed_at", sa.BigInteger),
    sa.Column("reversed_reason", sa.Text),
    sa.UniqueConstraint("hall", "booking", name="penalties_hall_booking_key"),
)

# the per-hall change sequence of bookings: taking the next number locks the hall's row until
# the commit, so a hall's booking changes commit in the order of their numbers
hall_counters = sa.Table(
    "hall_counters",
    metadata,
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
    sa.Column("booking_seq", sa.BigInteger, nullable=False),
)


# a hall's local calendar exceptions (行事历, cloud/calendars.py): a date made a holiday or a
# working day against the statutory calendar, with the reason and who entered it
calendar_exceptions = sa.Table(
    "calendar_exceptions",
    metadata,
    sa.Column("hall", sa.String(64), sa.ForeignKey("halls.id"), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("working", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)


# who changed what, when, from where (cloud/audit.py); the values are JSON, NULL when absent
AuditValues = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid
        sa.Identity(),
        primary_key=True,
    ),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("resource", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(200), nullable=False),
    sa.Column("hall", sa.String(64)),
    sa.Column("old", AuditValues),
    sa.Column("new", AuditValues),
    sa.Column("reason", sa.Text),
    sa.Column("remote", sa.String(64)),
    sa.Column("user_agent", sa.String(200)),
    sa.Index("audit_log_resource", "resource", "resource_id", "at"),
    sa.Index("audit_log_hall", "hall", "at"),
)


def open_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine for a `postgresql+asyncpg://` or `sqlite+aiosqlite://` address.

    SQLite gets one connection per process (it has one writer anyway), WAL, and BEGIN
    IMMEDIATE so that a transaction that reads before it writes cannot lose its lock.
    """
    url = _async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=1, max_overflow=0)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_connect)
        sa.event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def is_postgresql(conn: AsyncConnection | AsyncEngine) -> bool:
    return conn.dialect.name == "postgresql"


def insert_ignoring_conflicts(conn: AsyncConnection, table: sa.Table) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` on any unique key, in the connection's dialect."""
    if is_postgresql(conn):
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


async def next_change(conn: AsyncConnection, hall: str) -> int:
    """The hall's next booking change number; the hall's counter stays locked until commit."""
    insert = (postgresql.insert if is_postgresql(conn) else sqlite.insert)(hall_counters)
    statement = (
        insert.values(hall=hall, booking_seq=1)
        .on_conflict_do_update(
            index_elements=[hall_counters.c.hall],
            set_={"booking_seq": hall_counters.c.booking_seq + 1},
        )
        .returning(hall_counters.c.booking_seq)
    )
    return int((await conn.execute(statement)).scalar_one())


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (Alembic, `cloud/migrations/`)."""
    asyncio.run(migrate_async(url))


async def migrate_async(url: str) -> None:
    engine = open_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            if is_postgresql(conn):
                # several workers may start at once: one migrates, the others wait and find
                # nothing left to do
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(7206853)"))
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")


def _async_url(url: str) -> str:
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver's own BEGIN off: ours below
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
