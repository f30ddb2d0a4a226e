"""Staff and citizen cards through PC/SC (pyscard over pcscd): the card's number, as read.

`read_card` finds the reader whose name matches the profile, waits for a card, sends the
profile's APDU (PC/SC's Get Data `FF CA 00 00 00` returns the card's UID on contactless
readers) and returns the answer as upper-case hex. The card reader's agent turns each card
into a `card.read` event; a card read at a window's reader logs its staff member in there.
"""

from __future__ import annotations

import contextlib
import re

from edge.devices.readers import CardReaderProfile

__all__ = ["CardReadError", "read_card"]


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
        raise CardReadError(f"the card could not be read: {exc}") from exc
    finally:
        with contextlib.suppress(SmartcardException):
            connection.disconnect()
            connection.release()
    if (sw1, sw2) != (0x90, 0x00):
        raise CardReadError(f"the card answered {sw1:02X}{sw2:02X}")
    return bytes(data).hex().upper()
