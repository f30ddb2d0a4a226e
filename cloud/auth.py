"""Who is calling: an administrator (token digest from the configuration) or a hall (its id
and the secret the cloud gave it, checked against an Argon2 hash)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloud.db import halls
from cloud.errors import ApiError
from sync.protocol import parse_credentials

__all__ = ["HallAuth", "bearer_token", "check_admin", "hash_secret", "new_secret"]

# a hall secret is 256 random bits, not a password a person chose: Argon2's lighter
# OWASP settings (19 MiB, one pass) are plenty, and a worker that starts cold verifies a
# hundred halls in about a second instead of ten
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def new_secret() -> str:
    """A hall's secret: 256 random bits, URL-safe, without a dot (the token's separator)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_admin(header: str | None, digests: list[str]) -> int:
    """Refuse (401) unless the bearer token is one of the configured admin tokens; which one
    (its index in `digests`)."""
    token = bearer_token(header)
    if token is None:
        raise ApiError("unauthorized")
    digest = hashlib.sha256(token.encode()).hexdigest()
    matches = [i for i, known in enumerate(digests) if hmac.compare_digest(digest, known)]
    if not matches:
        raise ApiError("unauthorized")
    return matches[0]


class HallAuth:
    """Checks a hall's bearer token. Argon2 takes tens of milliseconds by design, too slow for
    every batch, so each worker remembers the tokens it verified (by SHA-256, never the token
    itself) for `cache_seconds`; a disabled or removed hall is refused at once all the same,
    since its row is read on every request."""

    def __init__(self, engine: AsyncEngine, cache_seconds: float) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._verified: dict[str, tuple[str, str, float]] = {}  # digest -> hall, hash, until

    async def hall(self, header: str | None) -> str:
        """The authenticated hall's id, or the refusal 401."""
        token = bearer_token(header)
        credentials = parse_credentials(token) if token else None
        if credentials is None:
            raise ApiError("unauthorized")
        hall_id, secret = credentials
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(halls.c.secret_hash, halls.c.disabled).where(halls.c.id == hall_id)
                )
            ).first()
        if row is None or row.disabled:
            raise ApiError("unauthorized")
        digest = hashlib.sha256(token.encode()).hexdigest() if token else ""
        now = time.monotonic()
        cached = self._verified.get(digest)
        if cached is not None and cached[:2] == (hall_id, row.secret_hash) and cached[2] > now:
            return hall_id
        if not await asyncio.to_thread(_verify, row.secret_hash, secret):
            raise ApiError("unauthorized")
        if len(self._verified) > 10_000:
            self._verified = {k: v for k, v in self._verified.items() if v[2] > now}
        self._verified[digest] = (hall_id, row.secret_hash, now + self.cache_seconds)
        return hall_id


def _verify(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
