"""Waiting between attempts at a service that is away: exponential backoff with jitter."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """The wait doubles after each failure, from `first` up to `longest` seconds, and is drawn
    between half of it and all of it, so that many halls coming back do not knock together."""

    def __init__(self, first: float = 1.0, longest: float = 300.0) -> None:
        self.first = first
        self.longest = longest
        self._next = first

    def reset(self) -> None:
        """A success: the next failure waits the shortest again."""
        self._next = self.first

    def next(self, *, refused: bool = False) -> float:
        """Seconds to wait after a failure; a refusal (retrying soon won't help) the longest."""
        delay = self.longest if refused else self._next
        self._next = min(self._next * 2, self.longest)
        return random.uniform(delay / 2, delay)
