"""Pulling the hall's configuration and bookings from the cloud (sync/protocol.py, cloud → edge).

Every `[cloud] pull_seconds` the edge asks the cloud for a configuration version newer than
the one it serves and for the bookings that changed after its cursor, with the same hall
credentials as the event shipping (edge/cloudsync.py). A newer version is applied atomically
(`QueueEngine.apply_setup`). A version the edge cannot apply — its model cannot read it (the
cloud runs newer code) or the queue refuses it (`invalid_setup`: a time zone this box does not
know, a version not newer than the one applied here), or it names another hall — is skipped:
the edge keeps serving the last good version, records why (the `meta` table, the log, a
`config.refused` event for the cloud, `GET /api/sync`) and from then on asks only for versions
after the refused one, so the next version the cloud publishes mends it. Bookings go into the
local copy page by page (`QueueEngine.load_bookings`, which keeps a booking checked in here
checked in whatever the cloud says), and the cursor is stored after each page: a page applied
twice after a crash changes nothing. Failures back off exponentially with jitter; nothing here
blocks the hall.

Trusting booking keys: the keys in `[cloud] booking_keys` are the ones trusted when any are
configured. Otherwise the edge trusts the public keys its cloud serves at
`/api/signing/public-keys`, fetched over the same connection that delivers the hall's
configuration: a cloud that can replace the hall's staff list and password hashes can already
do anything a booking key allows, so taking its keys adds no new trust. The fetched keys are
kept in `meta`, so that after a restart with the link down the edge still verifies tokens
offline; a key the cloud stops serving stops being trusted at the next successful pull.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from edge.cloudlink import Backoff, CloudRefused, cloud_json, hall_headers
from edge.queue import QueueEngine, QueueError
from edge.queue.store import Transaction
from sync.bookingtoken import BookingTokenError, load_public_key, public_key_text
from sync.hallsetup import Booking
from sync.protocol import BookingPage, ConfigUpdate, SigningKeys

__all__ = ["CloudRefused", "ConfigPull", "pull_state"]

log = logging.getLogger(__name__)

CONFIG_ERROR = "cloud.config_error"
CONFIG_REFUSED = "cloud.config_refused"
BOOKINGS_CURSOR = "cloud.bookings_cursor"
BOOKING_KEYS = "cloud.booking_keys"
LAST_PULL = "cloud.last_pull"
PULL_ERROR = "cloud.pull_error"


def pull_state(engine: QueueEngine) -> dict[str, Any]:
    """Where the pull stands, from the database (also when no pull runs): GET /api/sync."""
    meta = engine.store.meta
    version = engine.conn.execute("SELECT max(version) FROM hall_setup").fetchone()[0]
    refused = meta(CONFIG_REFUSED)
    last = meta(LAST_PULL)
    return {
        "config_version": version,
        "config_error": meta(CONFIG_ERROR) or "",
        "config_refused_version": int(refused) if refused else None,
        "bookings_cursor": meta(BOOKINGS_CURSOR),
        "last_pull": int(last) if last else None,
        "pull_error": meta(PULL_ERROR) or "",
    }


class ConfigPull:
    def __init__(
        self,
        engine: QueueEngine,
        *,
        url: str,
        hall: str,
        secret: str,
        interval: float = 30.0,
        timeout: float = 10.0,
        min_backoff: float = 1.0,
        max_backoff: float = 300.0,
        booking_keys: list[str] | None = None,
    ) -> None:
        self.engine = engine
        self.url = url.rstrip("/")
        self.hall = hall
        self.headers = hall_headers(hall, secret)
        self.interval = interval
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.backoff = Backoff(min_backoff, max_backoff)
        self.pulls = 0
        self.keys_configured = bool(booking_keys)
        stored = json.loads(engine.store.meta(BOOKING_KEYS) or "[]")
        # one list, shared with the scanner's check-in (edge/devices/scanning.py) and updated
        # in place when the cloud's keys change
        self.booking_keys: list[Ed25519PublicKey] = [
            load_public_key(k) for k in (booking_keys or stored)
        ]

    def status(self) -> dict[str, Any]:
        return {
            **pull_state(self.engine),
            "booking_keys": [public_key_text(k) for k in self.booking_keys],
            "booking_keys_from": "config" if self.keys_configured else "cloud",
        }

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as session:
            while True:
                try:
                    await self.pull(session)
                    self.backoff.reset()
                    delay = self.interval
                except asyncio.CancelledError:
                    raise
                except CloudRefused as exc:
                    self._failed(str(exc))
                    delay = self.backoff.next(refused=True)
                except (
                    aiohttp.ClientError,
                    TimeoutError,
                    OSError,
                    ValueError,
                    sqlite3.Error,
                ) as exc:
                    self._failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                    delay = self.backoff.next()
                await asyncio.sleep(delay)

    async def pull_once(self) -> None:
        """One pull of keys, configuration and every page of bookings; raises on failure."""
        async with aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as session:
            await self.pull(session)

    async def pull(self, session: aiohttp.ClientSession) -> None:
        if not self.keys_configured:
            await self._pull_keys(session)
        await self._pull_config(session)
        while await self._pull_bookings(session):
            pass
        self.pulls += 1
        self._set_meta({LAST_PULL: str(self.engine.clock.now_ms()), PULL_ERROR: ""})

    # ------------------------------------------------------------------ configuration

    async def _pull_config(self, session: aiohttp.ClientSession) -> None:
        refused = int(self.engine.store.meta(CONFIG_REFUSED) or 0)
        after = max(self._applied(), refused)
        async with session.get(f"{self.url}/sync/v1/config", params={"after": after}) as r:
            if r.status == 204:
                return
            body = await cloud_json(r)
        version = body.get("version") if isinstance(body, dict) else None
        if not isinstance(version, int) or isinstance(version, bool) or version <= after:
            raise ValueError(f"the cloud's configuration answer has no newer version: {version!r}")
        try:
            update = ConfigUpdate.model_validate(body)
        except ValidationError as exc:
            self._refuse(version, f"this edge cannot read it: {_problems(exc)}")
            return
        if update.setup.hall.id != self.hall:
            self._refuse(version, f"it is the configuration of hall {update.setup.hall.id}")
            return
        try:
            self.engine.apply_setup(update.setup)
        except QueueError as exc:
            if exc.code != "invalid_setup":
                raise
            self._refuse(version, exc.detail or exc.message)
            return
        self._set_meta({CONFIG_ERROR: ""})
        log.info("cloud configuration version %s applied", version)

    def _refuse(self, version: int, reason: str) -> None:
        """Keep the last good version; say why this one was not applied, here and to the cloud."""
        error = f"version {version} not applied: {reason}"[:500]
        log.warning("cloud configuration %s; keeping version %s", error, self._applied())
        with self.engine.store.transaction(self.engine.clock.now_ms()) as tx:
            _upsert_meta(tx, {CONFIG_REFUSED: str(version), CONFIG_ERROR: error})
            tx.event("config.refused", {"version": version, "reason": error})

    # ------------------------------------------------------------------ bookings and keys

    async def _pull_bookings(self, session: aiohttp.ClientSession) -> bool:
        """One page into the local copy; whether another page follows."""
        cursor = self.engine.store.meta(BOOKINGS_CURSOR)
        params = {"cursor": cursor} if cursor else {}
        async with session.get(f"{self.url}/sync/v1/bookings", params=params) as r:
            page = BookingPage.model_validate(await cloud_json(r))
        if page.bookings:
            # the local copy keeps no token: a scanned token is verified by its signature
            copies = [Booking(**b.model_dump(exclude={"token"})) for b in page.bookings]
            self.engine.load_bookings(copies)
        self._set_meta({BOOKINGS_CURSOR: page.cursor})
        return page.more

    async def _pull_keys(self, session: aiohttp.ClientSession) -> None:
        async with session.get(f"{self.url}/api/signing/public-keys") as r:
            served = SigningKeys.model_validate(await cloud_json(r))
        try:
            keys = [load_public_key(k) for k in served.keys]
        except BookingTokenError as exc:
            raise ValueError(f"the cloud serves a key that is not one: {exc}") from exc
        texts = [public_key_text(k) for k in keys]
        if keys and texts != [public_key_text(k) for k in self.booking_keys]:
            self.booking_keys[:] = keys
            self._set_meta({BOOKING_KEYS: json.dumps(texts)})
            log.info("booking tokens: trusting the cloud's keys %s", ", ".join(texts))

    # ------------------------------------------------------------------ state

    def _applied(self) -> int:
        row = self.engine.conn.execute("SELECT max(version) FROM hall_setup").fetchone()
        return int(row[0] or 0)

    def _set_meta(self, values: dict[str, str]) -> None:
        with self.engine.store.transaction(self.engine.clock.now_ms()) as tx:
            _upsert_meta(tx, values)

    def _failed(self, error: str) -> None:
        log.warning("cloud pull: %s", error)
        self._set_meta({PULL_ERROR: error[:500]})


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])


def _upsert_meta(tx: Transaction, values: dict[str, str]) -> None:
    for key, value in values.items():
        tx.run(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
