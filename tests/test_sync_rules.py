"""Value rules both sides compute the same way: ID numbers, ticket numbers."""

from __future__ import annotations

import datetime as dt

import pytest

from sync.idnumber import InvalidIdNumber, age_on, validate_id_number
from sync.numbering import format_ticket_number, parse_ticket_number


@pytest.mark.parametrize("number", ["110101199003077571", "44010619850715321x"])
def test_valid_id_numbers_are_accepted_in_canonical_form(number: str) -> None:
    assert validate_id_number(number) == number.upper()


@pytest.mark.parametrize(
    "number",
    ["110101199003077572", "11010119900307757", "1101011990030775711", "110101199013327571", ""],
)
def test_invalid_id_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidIdNumber):
        validate_id_number(number)


def test_age_counts_whole_years() -> None:
    assert age_on("110105194901010013", dt.date(2019, 1, 1)) == 70
    assert age_on("110105194901010013", dt.date(2018, 12, 31)) == 69


def test_ticket_numbers_round_trip() -> None:
    assert format_ticket_number("A", 12) == "A012"
    assert format_ticket_number("AB", 1000) == "AB1000"
    assert parse_ticket_number("a012") == ("A", 12)
    with pytest.raises(ValueError):
        parse_ticket_number("012")
    with pytest.raises(ValueError):
        format_ticket_number("A", 0)
