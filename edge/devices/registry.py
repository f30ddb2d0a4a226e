"""The hall's device registry: each device's identity, place, MQTT credentials and ACL.

The edge is the only writer of the broker's password and ACL files: it writes them from the
registry and asks Mosquitto to reload them (SIGHUP). A device's password is shown once, when
it is registered; the registry keeps only Mosquitto's own PBKDF2 hash of it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge.queue.errors import QueueError
from edge.queue.store import Store
from sync.devicebus import DEVICE_KINDS, device_acl

__all__ = ["BrokerFiles", "Device", "DeviceRegistry", "mosquitto_hash"]

log = logging.getLogger(__name__)

_DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


@dataclass(frozen=True)
class Device:
    id: str
    kind: str
    profile: str
    area: str
    window: str
    mqtt_user: str
    attached_to: str = ""
    connection: str = ""  # how the edge reaches a device it drives itself: a serial port, host:port


@dataclass(frozen=True)
class BrokerFiles:
    """The Mosquitto files the edge owns, and how to make the broker reread them."""

    password_file: Path
    acl_file: Path
    edge_password: str
    pid_file: Path | None = None


class DeviceRegistry:
    def __init__(
        self, store: Store, *, prefix: str, hall: str, broker: BrokerFiles | None = None
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.hall = hall
        self.broker = broker

    @property
    def edge_user(self) -> str:
        return f"edge-{self.hall}"

    def register(
        self,
        now_ms: int,
        *,
        device_id: str,
        kind: str,
        profile: str = "",
        area: str = "",
        window: str = "",
        attached_to: str = "",
        connection: str = "",
    ) -> tuple[Device, str]:
        """Add a device; returns it with its MQTT password, which is not stored anywhere."""
        if not _DEVICE_ID.match(device_id):
            raise QueueError("invalid_request", "device id: lower-case letters, digits and '-'")
        if kind not in DEVICE_KINDS:
            raise QueueError("invalid_request", f"kind must be one of {', '.join(DEVICE_KINDS)}")
        password = secrets.token_urlsafe(24)
        device = Device(
            device_id, kind, profile, area, window, f"dev-{device_id}", attached_to, connection
        )
        hashed = mosquitto_hash(device.mqtt_user, password)
        with self.store.transaction(now_ms) as tx:
            if tx.one("SELECT 1 FROM devices WHERE id = ?", (device_id,)) is not None:
                raise QueueError("invalid_request", f"device {device_id!r} exists")
            tx.run(
                "INSERT INTO devices (id, kind, profile, area, window, mqtt_user, mqtt_hash, "
                "created_at, attached_to, connection) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *(device_id, kind, profile, area, window, device.mqtt_user, hashed, now_ms),
                    attached_to,
                    connection,
                ),
            )
            tx.event(
                "device.registered",
                {"device": {"id": device_id, "kind": kind, "area": area, "window": window}},
            )
        self.sync_broker()
        return device, password

    def remove(self, now_ms: int, device_id: str) -> None:
        with self.store.transaction(now_ms) as tx:
            if tx.run("DELETE FROM devices WHERE id = ?", (device_id,)) == 0:
                raise QueueError("not_found", f"device {device_id!r}")
            tx.event("device.removed", {"device": {"id": device_id}})
        self.sync_broker()

    def sync_broker(self) -> None:
        """Rewrite the broker's files from the registry and have it reread them."""
        if self.broker is None:
            return
        self.store.flush()
        files = self.broker
        self.write_broker_files(files.password_file, files.acl_file, files.edge_password)
        if files.pid_file is not None and files.pid_file.exists():
            self.reload_broker(int(files.pid_file.read_text().strip()))

    def devices(self) -> list[Device]:
        rows = self.store.conn.execute(
            "SELECT id, kind, profile, area, window, mqtt_user, attached_to, connection "
            "FROM devices "
            "ORDER BY id"
        ).fetchall()
        return [Device(*tuple(r)) for r in rows]

    def write_broker_files(self, password_file: Path, acl_file: Path, edge_password: str) -> None:
        """Write Mosquitto's password and ACL files for the edge and every device, atomically."""
        rows = self.store.conn.execute(
            "SELECT mqtt_user, mqtt_hash FROM devices ORDER BY id"
        ).fetchall()
        passwords = [f"{self.edge_user}:{mosquitto_hash(self.edge_user, edge_password)}"]
        passwords += [f"{r['mqtt_user']}:{r['mqtt_hash']}" for r in rows]
        acl = [f"user {self.edge_user}", f"topic readwrite {self.prefix}/{self.hall}/#", ""]
        for device in self.devices():
            acl.append(f"user {device.mqtt_user}")
            acl += device_acl(
                prefix=self.prefix,
                hall=self.hall,
                device=device.id,
                kind=device.kind,
                area=device.area,
                window=device.window,
            )
            acl.append("")
        _write_atomically(password_file, "\n".join(passwords) + "\n")
        _write_atomically(acl_file, "\n".join(acl))

    @staticmethod
    def reload_broker(pid: int) -> None:
        """Mosquitto rereads its password and ACL files on SIGHUP."""
        os.kill(pid, signal.SIGHUP)


def mosquitto_hash(user: str, password: str) -> str:
    """Mosquitto's own PBKDF2-SHA512 hash of a password, made by its `mosquitto_passwd`."""
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "passwd"
        path.touch(mode=0o600)
        subprocess.run(
            [tool, "-H", "sha512-pbkdf2", "-b", str(path), user, password],
            check=True,
            capture_output=True,
            timeout=10,
        )
        line = path.read_text().strip()
    name, _, hashed = line.partition(":")
    if name != user or not hashed:
        raise RuntimeError("mosquitto_passwd wrote an unexpected line")
    return hashed


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
