"""Staff and citizen cards through PC/SC (pyscard over pcscd): the card's number, as read.

`read_card` finds the reader whose name matches the profile, waits for a card, sends the
profile's APDU (PC/SC's Get Data `FF CA 00 00 00` returns the card's UID on contactless
readers) and returns the answer as upper-case hex. The card reader's agent turns each card
into a `card.read` event; a card read at a window's reader logs its staff member in there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from typing import Any

from edge.devices.agent import DeviceAgent
from edge.devices.readers import CardReaderProfile

__all__ = ["CardReadError", "CardReaderAgent", "read_card"]

log = logging.getLogger(__name__)


# unpowered, reset, removed, no smart card: as good as no card (present it again)
_GONE = {0x80100067, 0x80100068, 0x80100069, 0x8010000C}


class CardReadError(Exception):
    """No reader, no card in time, or the card refused the APDU."""


def read_card(profile: CardReaderProfile, timeout: float = 5.0) -> str:
    """Wait up to `timeout` seconds for a card on the profile's reader; its number in hex."""
    from smartcard.CardRequest import CardRequest
    from smartcard.Exceptions import CardRequestTimeoutException, SmartcardException
    from smartcard.System import readers

    pattern = re.compile(profile.reader_name)
    try:
        matching = [r for r in readers() if pattern.search(str(r))]
    except SmartcardException as exc:
        raise CardReadError(f"PC/SC is not available: {exc}") from exc
    if not matching:
        raise CardReadError(f"no reader matches {profile.reader_name!r}")
    try:
        service = CardRequest(timeout=timeout, readers=matching).waitforcard()
    except CardRequestTimeoutException as exc:
        raise CardReadError("no card was presented") from exc
    except SmartcardException as exc:
        raise CardReadError(f"the reader failed: {exc}") from exc
    connection = service.connection
    try:
        connection.connect()
        data, sw1, sw2 = connection.transmit(list(bytes.fromhex(profile.uid_apdu)))
    except SmartcardException as exc:
        if getattr(exc, "hresult", None) in _GONE:
            raise CardReadError("no card is ready in the reader (taken away or unpowered)") from exc
        raise CardReadError(f"the card could not be read: {exc}") from exc
    finally:
        with contextlib.suppress(SmartcardException):
            connection.disconnect()
            connection.release()
    if (sw1, sw2) != (0x90, 0x00):
        raise CardReadError(f"the card answered {sw1:02X}{sw2:02X}")
    return bytes(data).hex().upper()


class CardReaderAgent(DeviceAgent):
    """A reader on the bus: each card presented is one `card.read` event with its number."""

    firmware = "smarthall-card-agent"

    def __init__(self, *, profile: CardReaderProfile, **agent: Any) -> None:
        super().__init__(**agent)
        self.profile = profile
        self.reads = 0
        self._stop = threading.Event()

    async def run(self) -> None:
        presence = asyncio.create_task(super().run())
        reader = threading.Thread(target=self._read, name=f"cards-{self.device}", daemon=True)
        try:
            await self.ready.wait()
            reader.start()
            await presence
        finally:
            self._stop.set()
            presence.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await presence

    def telemetry(self) -> dict[str, float | int | str | bool]:
        return {"reads": self.reads}

    def _read(self) -> None:
        last, last_at = "", 0.0
        while not self._stop.is_set():
            try:
                uid = read_card(self.profile, timeout=1.0)
            except CardReadError as exc:
                if "no card" not in str(exc):
                    log.info("card reader %s: %s", self.device, exc)
                    self._stop.wait(1.0)
                continue
            if uid != last or time.monotonic() - last_at > 5:  # a card left on the reader
                self.reads += 1
                self.event("card.read", {"card": uid})
            last, last_at = uid, time.monotonic()
            self._stop.wait(0.5)
