"""A HID scanner's key events become the text it read (recorded event sequences, no uinput)."""

from __future__ import annotations

import pytest
from evdev import ecodes

from edge.devices.readers import CardReaderProfile, ScanDecoder

PRESS, RELEASE = 1, 0


def typed(text: str, suffix: int = ecodes.KEY_ENTER) -> list[tuple[int, int, int]]:
    """The events a US-layout HID scanner sends for `text`, as evdev reports them."""
    keys = {c: getattr(ecodes, f"KEY_{c.upper()}") for c in "abcdefghijklmnopqrstuvwxyz"}
    keys.update({str(d): getattr(ecodes, f"KEY_{d}") for d in range(10)})
    shifted = {":": ecodes.KEY_SEMICOLON, "?": ecodes.KEY_SLASH}
    plain = {"/": ecodes.KEY_SLASH, ".": ecodes.KEY_DOT, "=": ecodes.KEY_EQUAL,
             "-": ecodes.KEY_MINUS}  # fmt: skip
    events: list[tuple[int, int, int]] = [(ecodes.EV_MSC, ecodes.MSC_SCAN, 458792)]
    for ch in text:
        shift = ch.isupper() or ch in shifted
        code = shifted.get(ch) or plain.get(ch) or keys[ch.lower()]
        if shift:
            events.append((ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, PRESS))
        events += [(ecodes.EV_KEY, code, PRESS), (ecodes.EV_SYN, 0, 0)]
        events += [(ecodes.EV_KEY, code, RELEASE), (ecodes.EV_SYN, 0, 0)]
        if shift:
            events.append((ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, RELEASE))
    events += [(ecodes.EV_KEY, suffix, PRESS), (ecodes.EV_KEY, suffix, RELEASE)]
    return events


def scans(decoder: ScanDecoder, events: list[tuple[int, int, int]]) -> list[str]:
    return [s for e in events if (s := decoder.feed(*e)) is not None]


def test_a_booking_qr_scanned_at_the_kiosk_becomes_its_text() -> None:
    url = "https://hall.example/b/QR123456?s=Ab9Z"
    assert scans(ScanDecoder(), typed(url)) == [url]


def test_two_scans_in_a_row_and_key_repeat_are_kept_apart() -> None:
    events = [*typed("0925A001"), (ecodes.EV_KEY, ecodes.KEY_A, 2), *typed("B002")]
    assert scans(ScanDecoder(), events) == ["0925A001", "B002"]


def test_a_scanner_ending_with_tab_is_honoured() -> None:
    decoder = ScanDecoder(suffix="tab")
    assert scans(decoder, typed("ABC", suffix=ecodes.KEY_TAB)) == ["ABC"]
    assert scans(decoder, typed("ABC")) == [], "enter is no suffix for this scanner"


def test_keys_the_map_lacks_are_counted_not_guessed() -> None:
    decoder = ScanDecoder()
    events = [(ecodes.EV_KEY, ecodes.KEY_F5, PRESS), *typed("X1")]
    assert scans(decoder, events) == ["X1"]
    assert decoder.unknown_keys == 1


def test_a_card_reader_profile_needs_a_valid_pattern_and_apdu() -> None:
    base = {"id": "r", "name": "R", "vendor": "V"}
    with pytest.raises(ValueError):
        CardReaderProfile.model_validate({**base, "reader_name": "(", "uid_apdu": "FFCA0000"})
    with pytest.raises(ValueError):
        CardReaderProfile.model_validate({**base, "reader_name": "x", "uid_apdu": "FF"})
    with pytest.raises(ValueError):
        CardReaderProfile.model_validate({**base, "reader_name": "x", "colour": "red"})
