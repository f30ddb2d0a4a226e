"""What can go wrong when talking to an LED controller, as specific exception classes."""

from __future__ import annotations

__all__ = [
    "LedConnectionError",
    "LedDeviceError",
    "LedEncodeError",
    "LedError",
    "LedNoReply",
    "LedWriteError",
]


class LedError(Exception):
    """Any LED display failure."""


class LedConnectionError(LedError):
    """The serial port or TCP endpoint cannot be opened."""


class LedWriteError(LedError):
    """A frame could not be written completely (port gone, write timed out)."""


class LedNoReply(LedError):
    """The controller did not answer within the timeout."""


class LedDeviceError(LedError):
    """The controller answered, with an error."""


class LedEncodeError(LedError, ValueError):
    """The request cannot be expressed in the profile's frame format."""
