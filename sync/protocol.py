"""Edge ↔ cloud sync, version 1: what crosses the wire and the rules both sides keep.

Edge → cloud (ARCHITECTURE.md decision 3: at-least-once delivery, exactly-once effect):

- The edge ships its event log in batches, in sequence order: `POST /sync/v1/events` with an
  `EventBatch`. A batch chains on the one before it: `after` is the sequence number the cloud
  must already hold for the batch to apply (the edge's log may have holes: sequence numbers
  only grow). The cloud applies a batch in one transaction, stores each event once (by event
  id, and by hall + epoch + sequence), and answers a `BatchAck` whose `mark` is the highest
  sequence it holds for that epoch. A batch whose `after` is beyond the cloud's mark would
  leave a gap: the cloud refuses it (409, `sync_gap`) and answers its mark; the edge re-sends
  from there. A batch whose `after` is behind the mark is a replay: what the cloud holds is
  skipped, the rest applied.
- The edge advances its cursor only on an ack, and keeps acknowledged events for a while
  (14 days by default), so that a cloud restored from a backup, whose mark went back, gets
  them again (`GET /sync/v1/mark` tells the edge where the cloud stands).
- An epoch names one incarnation of an edge database. A database that was restored or
  reinstalled starts a new epoch, beginning after the last sequence it holds
  (`epoch_start`): nothing it sends is mistaken for what an earlier incarnation sent.
- A poison event (one the cloud cannot accept: unknown type, payload it cannot read) is
  quarantined with its reason and counted as received; the events behind it go on.
- Time: events carry the hall's clock (`at`); the batch carries the hall's clock when sent
  (`sent_at`), from which the cloud keeps the hall's offset. Order comes from sequences only.
- Synced-through: an edge with nothing left to send says so, at most every
  `heartbeat_seconds`: `POST /sync/v1/heartbeat` with a `Heartbeat` — "as of my clock `at`,
  the last event I committed in `epoch` is `mark`". When the cloud holds the epoch up to
  `mark`, it holds everything the hall committed up to `at`, and the hall's `synced_through`
  becomes `at` (it never goes back: a clock that jumps back leaves it where it was). When it
  does not, the cloud refuses (409, `sync_gap`, with its mark) and changes nothing: the edge
  re-sends from there. Work that must wait for the hall's events — no-shows: a booking is a
  no-show only once the hall is synced past its slot's end plus a grace period, so that a
  check-in made while the link was down is never mistaken for an absence — uses this mark,
  never the cloud's clock (cloud/noshow.py).

Cloud → edge (decision 1: the cloud owns configuration and bookings, the edge holds a
read-only copy; decision 3: the edge pulls, with a cursor):

- Configuration: `GET /sync/v1/config?after=<version>` answers 200 with a `ConfigUpdate`, the
  hall's newest `HallSetup` version, when it is newer than `after`; 204 when the edge is
  current. Versions only grow (the cloud refuses to store one that is not newer); the edge
  applies a version atomically, and one it cannot apply (its own rules refuse it, or its model
  cannot read it: the cloud runs newer code) is reported and skipped: the edge keeps serving
  the last good version and asks `after` the refused one, so the next version mends it.
- Bookings: `GET /sync/v1/bookings?cursor=<opaque>` answers a `BookingPage`. Without a cursor
  it is a snapshot: every booking dated today and the next days of the cloud's window (7 days
  by default, `today` in the hall's time zone by the cloud's clock), in pages while `more`.
  With the cursor of the previous page it is a delta: the bookings dated today or later that
  changed since, plus the bookings of any day that entered the window since. The cursor is
  the cloud's own per-hall change sequence (every create, change, cancellation or check-in
  of a booking takes the next one, in commit order), never a timestamp, so a hall's clock
  cannot make the edge miss a change. Applying a page twice changes nothing; the edge stores
  the cursor after applying the page. A booking checked in at the edge stays checked in
  whatever a pull says: the check-in reaches the cloud as an event (`booking.checked_in`,
  `ticket.issued` with source `booking`) and comes back as the booking's status. A booking
  the cloud marked `no_show` comes down like any change; the edge still checks it in when
  the citizen comes after all (late), and that check-in, when it reaches the cloud, makes
  the booking `checked_in` and reverses the no-show's penalty.
- Each booking carries `token`, the QR content the cloud gave the citizen
  (sync/bookingtoken.py): signed with the cloud's Ed25519 key, so an edge that never got the
  booking (made while the hall was offline) checks it in on the signature alone. The public
  keys are public: `GET /api/signing/public-keys` (no credentials) answers `SigningKeys`.

Authentication: every request carries `Authorization: Bearer <hall id>.<hall secret>`, the
credentials the cloud gave the hall when it was registered; a hall reads and writes only its
own data.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync.hallsetup import Booking, HallSetup

__all__ = [
    "BOOKING_WINDOW_DAYS",
    "MAX_BATCH",
    "PROTOCOL_VERSION",
    "BatchAck",
    "BookingPage",
    "ConfigUpdate",
    "EventBatch",
    "Heartbeat",
    "HeartbeatAck",
    "Mark",
    "Quarantined",
    "SigningKeys",
    "SyncEvent",
    "SyncedBooking",
    "hall_credentials",
    "parse_credentials",
]

PROTOCOL_VERSION = 1
MAX_BATCH = 2000  # events in one batch
BOOKING_WINDOW_DAYS = 7  # the cloud's default: today and the six days after it
_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_INT64 = 2**63 - 1  # what both databases store


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncEvent(_Wire):
    """One row of the edge's event log, as it was committed."""

    seq: int = Field(ge=1, le=_INT64)
    id: str = Field(pattern=_ID, description="globally unique (ULID)")
    type: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")
    at: int = Field(
        ge=0, le=_INT64, description="the hall's clock when committed, ms since the epoch"
    )
    payload: dict[str, Any] = Field(default_factory=dict)


class EventBatch(_Wire):
    v: Literal[1] = 1
    hall: str = Field(pattern=_ID)
    epoch: str = Field(pattern=_ID, description="this incarnation of the edge database")
    epoch_start: int = Field(
        ge=0, le=_INT64, description="the epoch's events are those after this sequence number"
    )
    after: int = Field(
        ge=0, le=_INT64, description="the sequence the cloud must hold for this to apply"
    )
    sent_at: int = Field(ge=0, le=_INT64, description="the hall's clock when sent, ms")
    events: list[SyncEvent] = Field(min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.after < self.epoch_start:
            raise ValueError("after is before the epoch's start")
        previous = self.after
        for event in self.events:
            if event.seq <= previous:
                raise ValueError(f"event {event.seq} is not after {previous}: out of order")
            previous = event.seq
        return self


class Quarantined(_Wire):
    seq: int
    id: str
    reason: str


class BatchAck(_Wire):
    """The cloud's answer to a batch (also to a refused one: its mark says where it stands)."""

    v: Literal[1] = 1
    epoch: str
    mark: int = Field(ge=0, description="the highest sequence the cloud holds for the epoch")
    stored: int = Field(0, ge=0, description="events of this batch stored now")
    duplicates: int = Field(0, ge=0, description="events of this batch it already held")
    quarantined: list[Quarantined] = Field(default_factory=list)


class Mark(_Wire):
    """Where the cloud stands for one epoch of a hall (`GET /sync/v1/mark?epoch=`)."""

    v: Literal[1] = 1
    epoch: str
    mark: int = Field(ge=0, description="0 when the cloud holds nothing of the epoch")
    known: bool = Field(description="whether the cloud has seen the epoch at all")


class Heartbeat(_Wire):
    """The edge is caught up (`POST /sync/v1/heartbeat`): as of its clock `at`, the last event
    it committed in `epoch` is `mark` (the epoch's start when it committed none)."""

    v: Literal[1] = 1
    epoch: str = Field(pattern=_ID)
    mark: int = Field(ge=0, le=_INT64)
    at: int = Field(ge=0, lt=2**53, description="the hall's clock, ms since the epoch")


class HeartbeatAck(_Wire):
    """The cloud took the heartbeat: the hall's synced-through moment (the hall's clock, ms)."""

    v: Literal[1] = 1
    epoch: str
    mark: int = Field(ge=0, description="the highest sequence the cloud holds for the epoch")
    synced_through: int = Field(ge=0)


class ConfigUpdate(_Wire):
    """The hall's newest configuration version (`GET /sync/v1/config?after=`)."""

    v: Literal[1] = 1
    version: int = Field(ge=1)
    setup: HallSetup

    @model_validator(mode="after")
    def _same_version(self) -> Self:
        if self.setup.version != self.version:
            raise ValueError(f"version {self.version} carries setup {self.setup.version}")
        return self


class SyncedBooking(Booking):
    """A booking as the cloud holds it, with the signed token its QR code carries."""

    token: str = Field(min_length=1, max_length=2000, description="sync.bookingtoken, BK1.…")


class BookingPage(_Wire):
    """One page of bookings (`GET /sync/v1/bookings?cursor=`), in the order they changed."""

    v: Literal[1] = 1
    bookings: list[SyncedBooking]
    cursor: str = Field(min_length=1, max_length=200, description="opaque: send it back next")
    more: bool = Field(description="another page follows at once")


class SigningKeys(_Wire):
    """The cloud's public booking keys (`GET /api/signing/public-keys`), newest first."""

    v: Literal[1] = 1
    keys: list[str] = Field(description="Ed25519 public keys, base64url")


def hall_credentials(hall: str, secret: str) -> str:
    """The bearer token of a hall."""
    return f"{hall}.{secret}"


def parse_credentials(token: str) -> tuple[str, str] | None:
    """(hall id, secret) from a bearer token, or None when it is not one."""
    hall, dot, secret = token.strip().rpartition(".")
    if not dot or not hall or not secret:
        return None
    return hall, secret
