"""Booking QR tokens: signed by the cloud with Ed25519, verified by the edge with no network."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync.bookingtoken import (
    BookingTokenError,
    load_private_key,
    load_public_key,
    new_private_key,
    private_key_text,
    public_key_text,
    sign_booking,
    verify_booking,
)
from sync.hallsetup import Booking
from tests.conftest import WORKDAY
from tests.edge.hall import booking


def a_booking() -> Booking:
    return Booking.model_validate(
        booking("QR777001", "license", WORKDAY, "10:00", "10:30", phone="13800000000", name="王芳")
    )


def test_a_signed_booking_is_read_back_with_the_public_key_only() -> None:
    key = new_private_key()
    token = sign_booking("test-hall", a_booking(), key)
    assert token.startswith("BK1.") and len(token) < 300  # fits a QR code comfortably
    signed = verify_booking(token, [load_public_key(public_key_text(key))])
    assert signed.hall == "test-hall"
    assert signed.booking.code == "QR777001" and signed.booking.date == WORKDAY
    # what a stranger scanning the QR could read carries no name, phone or ID number
    assert "王芳" not in token and "13800000000" not in token


def test_keys_round_trip_through_text_and_rotate() -> None:
    old, new = new_private_key(), new_private_key()
    assert public_key_text(load_private_key(private_key_text(old))) == public_key_text(old)
    keys = [load_public_key(public_key_text(k)) for k in (new, old)]
    assert verify_booking(sign_booking("h", a_booking(), old), keys).booking.id == "bk-QR777001"


def _flip_payload(token: str) -> str:
    prefix, payload, signature = token.split(".")
    return ".".join([prefix, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda t: t.replace("BK1.", "BK2.", 1), "not a booking token"),
        (lambda t: t + "x", "signature|base64"),
        (_flip_payload, "signature"),
        (lambda t: "BK1.e30." + t.split(".")[2], "signature"),
        (lambda t: "garbage", "not a booking token"),
        (lambda t: "BK1.%%%.%%%", "base64"),
    ],
)
def test_a_forged_or_damaged_token_is_refused(tamper: Callable[[str], str], reason: str) -> None:
    key = new_private_key()
    token = sign_booking("test-hall", a_booking(), key)
    with pytest.raises(BookingTokenError, match=reason):
        verify_booking(tamper(token), [key.public_key()])


def test_another_cloud_s_signature_is_refused() -> None:
    token = sign_booking("test-hall", a_booking(), new_private_key())
    with pytest.raises(BookingTokenError, match="signature"):
        verify_booking(token, [new_private_key().public_key()])


def test_keys_that_are_not_keys_are_refused_clearly() -> None:
    with pytest.raises(BookingTokenError, match="public key"):
        load_public_key("AAAA")
    with pytest.raises(BookingTokenError, match="private key"):
        load_private_key("AAAA")
