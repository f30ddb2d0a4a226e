"""Ticket numbers: a business type's prefix plus the day's sequence, the same on both sides."""

import re

__all__ = ["PREFIX_PATTERN", "format_ticket_number", "parse_ticket_number"]

PREFIX_PATTERN = re.compile(r"^[A-Z]{1,2}$")
_NUMBER = re.compile(r"^([A-Z]{1,2})(\d{3,})$")


def format_ticket_number(prefix: str, sequence: int) -> str:
    """`A` and 12 give `A012`; sequences past 999 simply grow (`A1000`)."""
    if sequence < 1:
        raise ValueError("ticket sequence starts at 1")
    return f"{prefix}{sequence:03d}"


def parse_ticket_number(number: str) -> tuple[str, int]:
    """The inverse of `format_ticket_number`; raises ValueError on anything else."""
    match = _NUMBER.match(number.strip().upper())
    if match is None:
        raise ValueError(f"not a ticket number: {number!r}")
    return match.group(1), int(match.group(2))
