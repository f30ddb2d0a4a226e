"""LED window bars and central hall screens: profiles, frame formats, driver, simulator."""

from edge.devices.led.driver import MESSAGES, LedDisplay, board_rows
from edge.devices.led.errors import (
    LedConnectionError,
    LedDeviceError,
    LedEncodeError,
    LedError,
    LedNoReply,
    LedWriteError,
)
from edge.devices.led.profile import LedProfile
from edge.devices.led.simulator import LedSimulator

__all__ = [
    "MESSAGES",
    "LedConnectionError",
    "LedDeviceError",
    "LedDisplay",
    "LedEncodeError",
    "LedError",
    "LedNoReply",
    "LedProfile",
    "LedSimulator",
    "LedWriteError",
    "board_rows",
]
