"""What the edge's two links to the cloud share (events up, edge/cloudsync.py; configuration
and bookings down, edge/cloudconfig.py): the hall's credentials, reading the cloud's answers,
and waiting between attempts while the cloud is away."""

from __future__ import annotations

import json
import random
from typing import Any

import aiohttp

from sync.protocol import hall_credentials

__all__ = ["Backoff", "CloudRefused", "cloud_json", "hall_headers"]


class CloudRefused(Exception):
    """The cloud answered with a refusal that retrying soon will not mend (credentials, a bad
    request)."""


def hall_headers(hall: str, secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hall_credentials(hall, secret)}"}


async def cloud_json(response: aiohttp.ClientResponse) -> Any:
    """The answer's JSON; a 5xx is a failure to retry, a 4xx a refusal, anything else an error."""
    text = await response.text()
    if response.status >= 500:
        raise aiohttp.ClientResponseError(
            response.request_info, (), status=response.status, message=text[:200]
        )
    if response.status >= 400:
        raise CloudRefused(f"the cloud refused ({response.status}): {text[:300]}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the cloud's answer is not JSON: {text[:200]!r}") from exc


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
