"""The cloud's booking signing key: read from its file, created there at the first start.

The key signs the booking QR tokens (sync/bookingtoken.py) that edges verify offline. Several
workers share one key file; when it is missing, the first worker to start creates it (readable
by its owner only) and the others read that one: the file is written under another name and
linked into place, which fails rather than overwrite a key another worker just made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.config import SigningConfig
from sync.bookingtoken import (
    load_private_key,
    load_public_key,
    new_private_key,
    private_key_text,
    public_key_text,
)

__all__ = ["Signing", "load_signing"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signing:
    key: Ed25519PrivateKey
    public_keys: list[str]  # the current key's first, then the retired ones


def load_signing(config: SigningConfig, database_url: str = "") -> Signing:
    """The configured key, created when its file does not exist yet. A configuration made in
    code with no key file keeps the key beside its SQLite database; with no SQLite file either
    (PostgreSQL), the key lives in memory only, with a warning: its tokens die with the worker."""
    path = config.private_key_file or _beside_database(database_url)
    if path:
        key = _read_or_create(Path(path))
    else:
        key = new_private_key()
        log.warning("no [signing] private_key_file: booking tokens are signed with a key that "
                    "lives only as long as this worker")  # fmt: skip
    for text in config.retired_public_keys:
        load_public_key(text)  # a typo is found at start, not at the first scan
    current = public_key_text(key)
    retired = [k.strip() for k in config.retired_public_keys if k.strip() != current]
    return Signing(key=key, public_keys=[current, *retired])


def _beside_database(url: str) -> str:
    scheme, sep, file = url.partition(":///")
    if scheme.startswith("sqlite") and sep and file and not file.startswith(":memory:"):
        return str(Path(file).parent / "signing.key")
    return ""


def _read_or_create(path: Path) -> Ed25519PrivateKey:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return _create(path)
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the booking signing key %s can be read by others: chmod 600 it", path)
    return load_private_key(text)


def _create(path: Path) -> Ed25519PrivateKey:
    key = new_private_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(private_key_text(key) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:  # another worker made one first: use that one
            return load_private_key(path.read_text(encoding="ascii"))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(draft)
    log.warning(
        "created the booking signing key %s; its public key, for the edges' "
        "[cloud] booking_keys: %s",
        path, public_key_text(key),
    )  # fmt: skip
    return key
