"""Globally unique, time-ordered identifiers for events and records (ULID)."""

from ulid import ULID

__all__ = ["new_id"]


def new_id() -> str:
    """A new ULID as its 26-character Crockford base32 text; sortable by creation time."""
    return str(ULID())
