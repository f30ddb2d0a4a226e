"""The cloud service's TOML configuration: typed, every key with a default and a description."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "AdminToken",
    "AuthConfig",
    "BookingsConfig",
    "CloudConfig",
    "ConfigError",
    "SigningConfig",
    "UploadsConfig",
    "load_config",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(_Section):
    url: str = Field(
        "sqlite+aiosqlite:///cloud.sqlite3",
        description="`postgresql+asyncpg://user@host:port/db` in production; the default is "
        "an embedded SQLite file (a relative path is relative to the configuration file)",
    )
    pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL connections per worker")
    migrate_on_start: bool = Field(
        True, description="bring the schema up to date when a worker starts"
    )


class AdminToken(_Section):
    """An operator or service allowed to call the admin API (`/api/…`)."""

    id: str = Field(description="who holds the token, e.g. ops")
    token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 hex digest of the token"
    )


class ApiConfig(_Section):
    host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    port: int = Field(8500, ge=0, le=65535, description="HTTP port; 0 picks a free one")
    reuse_port: bool = Field(
        False, description="SO_REUSEPORT: several workers (processes) share the port"
    )
    max_body_mb: float = Field(16.0, gt=0, description="largest request body accepted, MB")
    token_cache_seconds: float = Field(
        300.0, ge=0, description="how long a worker trusts a hall secret it has verified"
    )
    trust_forwarded_for: bool = Field(
        False,
        description="a trusted reverse proxy is in front: the audit log takes the caller's "
        "address from the last entry of X-Forwarded-For instead of the connection's",
    )
    admins: list[AdminToken] = Field(
        default_factory=list, description="admin tokens as SHA-256 digests"
    )


class AuthConfig(_Section):
    """Signing in to the admin portal and the API (cloud/identity/)."""

    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="a session ends this long after sign-in"
    )
    idle_minutes: float = Field(
        30.0, gt=0, description="a session ends after this long without a request"
    )
    lockout_attempts: int = Field(
        5, ge=1, le=100, description="failed sign-ins in a row that lock an account"
    )
    lockout_minutes: float = Field(15.0, gt=0, description="how long a locked account stays locked")
    captcha_after_failures: int = Field(
        0,
        ge=0,
        description="failed sign-ins of an account after which a captcha is required; 0: always",
    )
    secure_cookies: bool = Field(
        True,
        description="the session cookie is sent over HTTPS only (turn off for plain-HTTP "
        "trials on one machine)",
    )


class NodeConfig(_Section):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="logging level"
    )


class SigningConfig(_Section):
    private_key_file: str = Field(
        "",
        description="the Ed25519 key that signs booking QR tokens (base64url, raw 32 bytes; a "
        "relative path is relative to the configuration file; empty: `signing.key` beside the "
        "configuration file, or beside the SQLite database of a configuration made in code); "
        "created, readable by its owner only, when missing at the first start. Every worker "
        "reads the same file",
    )
    retired_public_keys: list[str] = Field(
        default_factory=list,
        description="public keys of earlier signing keys, still served to the edges so that "
        "the QR codes they signed stay valid until those bookings are past",
    )


class BookingsConfig(_Section):
    window_days: int = Field(
        7, ge=1, le=90, description="the edges get the bookings of today and the days after"
    )
    page_size: int = Field(500, ge=1, le=2000, description="bookings in one page of a pull")
    no_show_grace_minutes: int = Field(
        30,
        ge=0,
        le=7 * 24 * 60,
        description="a booking not checked in is a no-show once the hall has synced this long "
        "past its slot's end (cloud/noshow.py)",
    )
    no_show_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="how often a worker runs the no-show processing; 0: never "
        "(only `POST /api/no-shows/run`)",
    )
    calendar_refresh_hours: float = Field(
        6.0,
        ge=0,
        description="how often a worker brings the calendar dates in the halls' setups up to "
        "date as the days move on (cloud/calendar_refresh.py); 0: never",
    )


class UploadsConfig(_Section):
    """Files uploaded through the portal and the API (cloud/uploads.py)."""

    dir: str = Field(
        "",
        description="the folder uploaded files are stored in, outside the database (every "
        "worker must see the same folder); a relative path is relative to the configuration "
        "file; empty: `uploads` beside the configuration file (for a configuration made in "
        "code: beside the SQLite database, or in the system's temporary directory)",
    )
    max_mb: float = Field(20.0, gt=0, le=1024, description="the largest file accepted, MB")


class CloudConfig(_Section):
    node: NodeConfig = Field(default_factory=NodeConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    signing: SigningConfig = Field(default_factory=SigningConfig)
    bookings: BookingsConfig = Field(default_factory=BookingsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    uploads: UploadsConfig = Field(default_factory=UploadsConfig)


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def load_config(path: Path) -> CloudConfig:
    """The configuration in `path`, with a relative SQLite path made relative to its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        config = CloudConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid configuration\n" + "\n".join(lines)) from exc
    url = config.database.url
    scheme, sep, file = url.partition(":///")
    if scheme.startswith("sqlite") and sep and file and file[0] not in "/:":
        absolute = (path.resolve().parent / file).as_posix()
        config.database.url = f"{scheme}:///{absolute}"
    uploads = Path(config.uploads.dir or "uploads")
    if not uploads.is_absolute():
        config.uploads.dir = str(path.resolve().parent / uploads)
    key_file = Path(config.signing.private_key_file or "signing.key")
    if not key_file.is_absolute():
        config.signing.private_key_file = str(path.resolve().parent / key_file)
    return config
