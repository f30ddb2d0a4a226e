"""A booking's QR token: signed by the cloud (Ed25519), verified by the edge with no network.

A citizen who books after the hall's edge lost its link to the cloud still gets served: the
booking QR carries the booking itself, signed with the cloud's private key, and the edge,
which knows the cloud's public keys (several, for rotation), checks the signature and takes the
booking as if it had been synced. The token is `BK1.<payload>.<signature>`, both parts
base64url without padding; the payload is compact JSON with only what the edge needs to check
the citizen in (no name, phone or ID number: the QR may be seen by others).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.hallsetup import Booking

__all__ = [
    "PREFIX",
    "BookingTokenError",
    "SignedBooking",
    "load_private_key",
    "load_public_key",
    "new_private_key",
    "private_key_text",
    "public_key_text",
    "sign_booking",
    "verify_booking",
]

PREFIX = "BK1"


class BookingTokenError(Exception):
    """The token is not a booking the cloud signed; the message says why."""


@dataclass(frozen=True)
class SignedBooking:
    hall: str
    booking: Booking


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BookingTokenError(f"not base64url: {exc}") from exc


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return _b64(raw)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return _b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_private_key(text: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(_unb64(text.strip()))
    except ValueError as exc:
        raise BookingTokenError(f"not an Ed25519 private key: {exc}") from exc


def load_public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(_unb64(text.strip()))
    except ValueError as exc:
        raise BookingTokenError(f"not an Ed25519 public key: {exc}") from exc


def sign_booking(hall: str, booking: Booking, key: Ed25519PrivateKey) -> str:
    payload = {
        "h": hall,
        "i": booking.id,
        "c": booking.code,
        "t": booking.business_type,
        "d": booking.date.isoformat(),
        "s": booking.slot_start.isoformat("minutes"),
        "e": booking.slot_end.isoformat("minutes"),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    signed = f"{PREFIX}.{body}"
    return f"{signed}.{_b64(key.sign(signed.encode('ascii')))}"


def verify_booking(token: str, keys: list[Ed25519PublicKey]) -> SignedBooking:
    """The booking in `token` when one of `keys` signed it; else BookingTokenError."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise BookingTokenError("not a booking token")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    signature = _unb64(parts[2])
    for key in keys:
        try:
            key.verify(signature, signed)
            break
        except InvalidSignature:
            continue
    else:
        raise BookingTokenError("the signature is not the cloud's")
    try:
        payload = json.loads(_unb64(parts[1]))
        booking = Booking(
            id=payload["i"],
            code=payload["c"],
            business_type=payload["t"],
            date=dt.date.fromisoformat(payload["d"]),
            slot_start=dt.time.fromisoformat(payload["s"]),
            slot_end=dt.time.fromisoformat(payload["e"]),
        )
        return SignedBooking(hall=str(payload["h"]), booking=booking)
    except (ValueError, KeyError, TypeError) as exc:
        raise BookingTokenError(f"a signed token whose booking cannot be read: {exc}") from exc
