"""Resident identity numbers (GB 11643-1999): checksum, birth date and age, on both sides."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["InvalidIdNumber", "age_on", "birth_date", "validate_id_number"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


class InvalidIdNumber(ValueError):
    """Not an 18-character resident identity number with a valid date and checksum."""


def validate_id_number(value: str) -> str:
    """The number in canonical form (upper-case X); raises InvalidIdNumber otherwise."""
    number = value.strip().upper()
    if not _SHAPE.match(number):
        raise InvalidIdNumber("身份证号码应为18位")
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != number[17]:
        raise InvalidIdNumber("身份证号码校验位错误")
    birth_date(number)
    return number


def birth_date(number: str) -> dt.date:
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber("身份证号码中的出生日期无效") from exc


def age_on(number: str, day: dt.date) -> int:
    born = birth_date(number)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
