"""Who is calling the edge API: devices and services by token, staff by their window session."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge.config import ApiClient, token_digest
from edge.queue import QueueEngine, QueueError
from sync.hallsetup import StaffMember

__all__ = ["Authenticator", "LoginGuard", "Principal", "verify_password"]

_hasher = PasswordHasher()
# One thread verifies passwords: Argon2 takes its memory cost (tens of MB) per verification,
# and a pool of threads would each keep an arena that size.
_verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


@dataclass(frozen=True)
class Principal:
    """The caller of one request; `kind` decides what it may do."""

    kind: str  # kiosk | pad | display | caller | admin | cloud | staff
    id: str
    area: str = ""
    window: str = ""
    staff: str = ""

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"


class Authenticator:
    def __init__(self, clients: list[ApiClient], engine: QueueEngine) -> None:
        self._clients = {c.token_sha256.lower(): c for c in clients}
        self._engine = engine

    def identify(self, request: web.Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.identify_token(token)

    def identify_token(self, token: str) -> Principal | None:
        """Who holds `token`: a configured client, a staff session, or nobody (None)."""
        token = token.strip()
        if not token:
            return None
        client = self._clients.get(token_digest(token))
        if client is not None:
            return Principal(client.kind, client.id, area=client.area, window=client.window)
        session = self._engine.session_window(token)
        if session is not None:
            window, staff = session
            area = (
                self._engine.hall.windows[window].area
                if window in self._engine.hall.windows
                else ""
            )
            return Principal("staff", staff, area=area, window=window, staff=staff)
        return None

    def require(self, request: web.Request, *kinds: str) -> Principal:
        principal = self.identify(request)
        if principal is None:
            raise QueueError("unauthorized")
        if kinds and principal.kind not in kinds:
            raise QueueError("forbidden")
        return principal


class LoginGuard:
    """Locks a staff number for a while after repeated failed logins (guessing passwords)."""

    def __init__(self, attempts: int = 5, window_seconds: float = 900.0) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self._failures: dict[str, list[float]] = {}

    def check(self, staff_no: str) -> None:
        if len(self._recent(staff_no)) >= self.attempts:
            raise QueueError("login_locked")

    def failed(self, staff_no: str) -> None:
        self._failures[staff_no] = [*self._recent(staff_no), time.monotonic()]

    def succeeded(self, staff_no: str) -> None:
        self._failures.pop(staff_no, None)

    def _recent(self, staff_no: str) -> list[float]:
        cutoff = time.monotonic() - self.window
        return [t for t in self._failures.get(staff_no, []) if t > cutoff]


async def verify_password(staff: StaffMember, password: str) -> bool:
    """Check a password against the staff member's Argon2 hash, off the event loop."""
    if not staff.password_hash or not password:
        return False

    def check() -> bool:
        try:
            return bool(_hasher.verify(staff.password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(_verifier, check)


def hash_password(password: str) -> str:
    return _hasher.hash(password)
