"""The edge node's TOML configuration: typed, every key with a default and a description."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["ApiClient", "ConfigError", "EdgeConfig", "load_config", "reference", "token_digest"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(_Section):
    path: str = Field("edge.sqlite3", description="SQLite file, relative to node.data_dir")
    synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        "NORMAL",
        description="SQLite synchronous level in WAL mode: NORMAL survives a crash of the "
        "process, FULL also a power cut (see bench/ for the cost)",
    )


class ApiClient(_Section):
    """A device or service allowed to call the edge API with a bearer token."""

    id: str = Field(description="client id, e.g. kiosk-1")
    kind: Literal["kiosk", "pad", "display", "caller", "admin", "cloud"] = Field(
        description="what the client may do: `kiosk` takes tickets in its area; `pad` is a "
        "window's evaluation Pad; `display` shows its area; `caller` is a window's staff PC "
        "(its page `/screen/caller/<window>?token=…`): it watches its window and takes over "
        "the session a staff card opens there, and calls nothing else by itself; `admin` and "
        "`cloud` run the hall"
    )
    area: str = Field("", description="calling area of a kiosk or display")
    window: str = Field("", description="window of a pad or caller (required for a caller)")
    token_sha256: str = Field(description="SHA-256 hex digest of the client's token")

    @model_validator(mode="after")
    def _caller_has_window(self) -> ApiClient:
        if self.kind == "caller" and not self.window:
            raise ValueError(f"client {self.id}: a caller belongs to a window (window = ...)")
        return self


class ApiConfig(_Section):
    host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    port: int = Field(8400, ge=0, le=65535, description="HTTP port; 0 picks a free one")
    clients: list[ApiClient] = Field(
        default_factory=list, description="devices and services with their token digests"
    )


class MqttConfig(_Section):
    enabled: bool = Field(True, description="publish events and state to an MQTT broker")
    host: str = Field("127.0.0.1", description="broker host")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    username: str = Field("", description="MQTT user of the edge node")
    password_file: str = Field("", description="file holding the MQTT password")
    topic_prefix: str = Field("smarthall", description="first level of every topic")
    device_offline_seconds: float = Field(
        30.0, gt=0, description="a device silent this long is offline (an event)"
    )
    broker_password_file: str = Field(
        "", description="Mosquitto password_file the edge writes from its device registry"
    )
    broker_acl_file: str = Field(
        "", description="Mosquitto acl_file the edge writes from its device registry"
    )
    broker_pid_file: str = Field(
        "", description="Mosquitto's pid file: the broker is sent SIGHUP to reread both files"
    )


class NodeConfig(_Section):
    data_dir: str = Field("data", description="where the node keeps its database and files")
    setup_file: str = Field(
        "", description="hall configuration (JSON, sync.hallsetup.HallSetup) applied at start"
    )
    bookings_file: str = Field("", description="bookings (JSON list) loaded at start")
    tick_seconds: float = Field(
        1.0, gt=0, le=60, description="how often timers run (auto-call, warnings)"
    )
    ticket_qr_base: str = Field(
        "",
        description="address the ticket's QR code leads to (the WeChat binding page, §1.2); "
        "the ticket id is appended as /t/<id>; empty prints no QR code",
    )
    retention_days: int = Field(
        90, ge=7, description="days of tickets, calls and bookings kept on the node"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="logging level"
    )


class VoiceConfig(_Section):
    enabled: bool = Field(True, description="call numbers aloud and speak the window prompts")
    cache_dir: str = Field("voice", description="clip cache, relative to node.data_dir")
    playback: Literal["local", "devices", "both"] = Field(
        "local",
        description="calls play on this box's sound output (local), on voice_player devices "
        "of the area over MQTT (devices), or both; window prompts always go to the window's "
        "own player",
    )
    alsa_device: str = Field(
        "default", description="ALSA device for local playback (PulseAudio: `default`/`pulse`)"
    )
    local_areas: list[str] = Field(
        default_factory=list, description="areas whose calls play locally; empty means all"
    )
    espeak: str = Field("espeak-ng", description="espeak-ng program, the offline synthesizer")
    edge_tts: bool = Field(
        True, description="render clips with edge-tts (Microsoft neural voices) when online"
    )
    edge_tts_url: str = Field(
        "",
        pattern=r"^(wss?://[^?\s]+\?\S+)?$",
        description="edge-tts WebSocket address with its query (`wss://host/path?Token=…`, the "
        "client appends `&ConnectionId=…`); empty means Microsoft's service",
    )
    edge_tts_timeout: float = Field(10.0, gt=0, description="seconds edge-tts may take a clip")


class CloudConfig(_Section):
    url: str = Field(
        "", description="the cloud service's address, e.g. https://cloud.example; empty: no sync"
    )
    secret_file: str = Field(
        "", description="file holding the hall's secret, given by the cloud when registered"
    )
    batch_size: int = Field(500, ge=1, le=2000, description="events in one batch to the cloud")
    timeout_seconds: float = Field(10.0, gt=0, description="how long one request may take")
    retain_days: int = Field(
        14,
        ge=1,
        description="days acknowledged events stay on the edge (a restored cloud gets them again)",
    )
    max_backoff_seconds: float = Field(
        300.0, gt=0, description="longest wait between attempts while the cloud is away"
    )
    pull_seconds: float = Field(
        30.0, gt=0, description="how often the hall's configuration and bookings are pulled"
    )
    heartbeat_seconds: float = Field(
        30.0,
        gt=0,
        description="while nothing is left to send, how often the edge tells the cloud it is "
        "caught up (the hall's synced-through mark, which no-shows wait for)",
    )
    booking_keys: list[str] = Field(
        default_factory=list,
        description="the cloud's Ed25519 public keys (base64url) that sign booking QR tokens; "
        "a booking made while the hall was offline is checked in on its signature. Empty: "
        "the keys the cloud serves (`/api/signing/public-keys`), kept for offline use",
    )


class BackupConfig(_Section):
    enabled: bool = Field(
        True, description="take snapshots of the database on a schedule (`docs/backup.md`)"
    )
    folder: str = Field(
        "backups",
        description="where snapshots go, relative to node.data_dir; best on another disk",
    )
    interval_minutes: float = Field(60.0, gt=0, description="minutes between two snapshots")
    keep: int = Field(48, ge=1, description="how many snapshots are kept; older ones are deleted")


class EdgeConfig(_Section):
    node: NodeConfig = Field(default_factory=NodeConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    cloud: CloudConfig = Field(default_factory=CloudConfig)

    def data_path(self, base: Path) -> Path:
        return (base / self.node.data_dir).resolve()


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def load_config(path: Path) -> EdgeConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        return EdgeConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid configuration\n" + "\n".join(lines)) from exc


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reference() -> str:
    """Every configuration key with its default and description, as Markdown."""
    lines: list[str] = [
        "# Edge node configuration",
        "",
        "`hall edge run --config FILE` reads a TOML file with these sections; every key is",
        "optional and unknown keys are refused. Generated by `hall edge config-reference`.",
        "",
    ]
    for section_name, field in EdgeConfig.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        lines += _table(f"[{section_name}]", model)
        for key, sub in model.model_fields.items():
            # a list of tables (`[[api.clients]]`) gets a table of its own keys
            args = get_args(sub.annotation)
            item = args[0] if len(args) == 1 else None
            if isinstance(item, type) and issubclass(item, BaseModel):
                lines += _table(f"[[{section_name}.{key}]]", item, note=item.__doc__ or "")
    return "\n".join(lines)


def _table(title: str, model: type[BaseModel], note: str = "") -> list[str]:
    lines = [f"## {title}", ""]
    if note:
        lines += [note.strip(), ""]
    lines += ["| key | default | meaning |", "|---|---|---|"]
    for key, sub in model.model_fields.items():
        if sub.is_required():
            default = "required"
        else:
            default = f"`{sub.get_default(call_default_factory=True)!r}`"
        lines.append(f"| `{key}` | {default} | {sub.description or ''} |")
    lines.append("")
    return lines
