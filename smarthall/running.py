"""Running until the operator stops the program (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

__all__ = ["stop_event", "until_stopped"]


def stop_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def until_stopped() -> None:
    await stop_event().wait()
