"""A booking QR scanned at a kiosk checks the booking in (§1.5, §4.1.4): the ticket then prints.

The kiosk's scanner (`scanner` device attached to the kiosk, with the kiosk's area) sends each
scan as a `scanner.scanned` event. A scan that carries a booking code — the bare code, or the
booking QR's address ending in `/b/<code>` — is checked in for the kiosk; a QR carrying a
booking token signed by the cloud (sync/bookingtoken.py) is checked in even when the booking
never reached the edge (made while the hall was offline), once its signature is verified. The
ticket it gets is printed by the kiosk's printer like any other. A scan that is no booking, or
a booking that cannot be checked in, becomes a `scanner.refused` event with the refusal's code
and message, which the kiosk's screen shows.
"""

from __future__ import annotations

import logging
import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine, QueueError
from edge.queue.store import Event, EventFeed
from sync.bookingtoken import BookingTokenError, verify_booking

__all__ = ["ScanCheckIn", "booking_code", "booking_token"]

log = logging.getLogger(__name__)

_CODE = re.compile(r"^[A-Za-z0-9]{4,32}$")
_QR = re.compile(r"/b/([A-Za-z0-9]{4,32})(?:[?#].*)?$")
_TOKEN = re.compile(r"(?:^|/b/)(BK1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)(?:[?#].*)?$")


def booking_code(scan: str) -> str | None:
    """The booking code in a scan, or None when the scan is not a booking."""
    text = scan.strip()
    match = _QR.search(text)
    if match:
        return match.group(1)
    return text if _CODE.match(text) else None


def booking_token(scan: str) -> str | None:
    """The signed booking token in a scan (bare, or the QR address's `/b/<token>`), or None."""
    match = _TOKEN.search(scan.strip())
    return match.group(1) if match else None


class ScanCheckIn:
    def __init__(
        self,
        engine: QueueEngine,
        registry: DeviceRegistry,
        booking_keys: list[Ed25519PublicKey] | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.booking_keys = booking_keys if booking_keys is not None else []  # may be shared
        self._feed = EventFeed(
            engine.store,
            lambda e: e.type == "device.event" and e.payload.get("type") == "scanner.scanned",
        )

    async def run(self) -> None:
        await self._feed.each(self._scanned)

    def _scanned(self, event: Event) -> None:
        device_id = event.payload["device"]["id"]
        device = next((d for d in self.registry.devices() if d.id == device_id), None)
        if device is None or device.kind != "scanner" or not device.area:
            return
        text = str(event.payload.get("data", {}).get("text", ""))
        code = booking_code(text)
        try:
            token = booking_token(text)
            if token is not None:
                code = self._signed_booking(token)
            if code is None:
                raise QueueError("booking_not_found", "not a booking code")
            self.engine.check_in_booking(
                area=device.area,
                actor=f"kiosk:{device.attached_to or device.id}",
                code=code,
                key=f"scan:{event.id}",
            )
        except QueueError as refusal:
            with self.engine.store.transaction(self.engine.clock.now_ms()) as tx:
                tx.event(
                    "scanner.refused",
                    {
                        "device": {"id": device_id, "attached_to": device.attached_to},
                        "code": refusal.code,
                        "message": refusal.message,
                    },
                )

    def _signed_booking(self, token: str) -> str:
        """Take the booking a signed token carries into the local copy; its code."""
        try:
            signed = verify_booking(token, self.booking_keys)
        except BookingTokenError as exc:
            raise QueueError("invalid_booking_token", str(exc)) from exc
        if signed.hall != self.engine.hall.hall.id:
            raise QueueError("invalid_booking_token", f"a booking of hall {signed.hall}")
        known = self.engine.conn.execute(
            "SELECT 1 FROM bookings WHERE id = ?", (signed.booking.id,)
        ).fetchone()
        if known is None:  # booked after the hall went offline: the signature vouches for it
            self.engine.load_bookings([signed.booking])
        return signed.booking.code
