"""Each device has its own MQTT credentials and an ACL: real Mosquitto, ACLs enforced."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.clock import ManualClock
from edge.devices.registry import BrokerFiles, DeviceRegistry
from edge.queue import QueueEngine, QueueError
from tests.conftest import free_port, wait_for_port

PREFIX, HALL = "smarthall", "test-hall"
EDGE_PASSWORD = "edge-secret"


@dataclass
class SecuredBroker:
    port: int
    pid: int
    password_file: Path
    acl_file: Path


@pytest.fixture
def registry(engine: QueueEngine) -> DeviceRegistry:
    return DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)


@pytest.fixture
def broker(tmp_path: Path, registry: DeviceRegistry) -> Iterator[SecuredBroker]:
    port = free_port()
    passwords, acl = tmp_path / "passwd", tmp_path / "acl"
    registry.write_broker_files(passwords, acl, EDGE_PASSWORD)
    conf = tmp_path / "mosquitto.conf"
    # `user root`: started as root, Mosquitto would otherwise drop to its own user, which
    # cannot read the test's private folder.
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\nuser root\n"
        f"password_file {passwords}\nacl_file {acl}\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield SecuredBroker(port, proc.pid, passwords, acl)
    finally:
        proc.terminate()
        proc.wait(10)


class Client:
    """A real MQTT client logged in as one user."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.time()}")
        self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            self.refused.set()
        else:
            self.connected.set()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def logs_in(broker: SecuredBroker, user: str, password: str) -> bool:
    """Whether the broker lets `user` in, once it has reread its files (SIGHUP is asynchronous)."""
    client = Client(broker.port, user, password)
    for _ in range(500):
        if client.connected.is_set() or client.refused.is_set():
            break
        time.sleep(0.01)
    allowed = client.connected.is_set()
    client.close()
    return allowed


def reloaded(broker: SecuredBroker, user: str, password: str, *, allowed: bool) -> None:
    """Wait until the broker's answer for `user` is `allowed`."""
    for _ in range(100):
        if logs_in(broker, user, password) == allowed:
            return
        time.sleep(0.05)
    raise AssertionError(f"{user} still {'refused' if allowed else 'let in'}")


def _wait(check: object, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)


def test_a_device_reaches_only_its_own_topics(
    registry: DeviceRegistry, broker: SecuredBroker, clock: ManualClock
) -> None:
    now = clock.now_ms()
    kiosk, kiosk_password = registry.register(now, device_id="kiosk-1", kind="kiosk", area="main")
    registry.register(now, device_id="kiosk-2", kind="kiosk", area="annex")
    registry.write_broker_files(broker.password_file, broker.acl_file, EDGE_PASSWORD)
    registry.reload_broker(broker.pid)
    reloaded(broker, kiosk.mqtt_user, kiosk_password, allowed=True)

    edge = Client(broker.port, registry.edge_user, EDGE_PASSWORD)
    device = Client(broker.port, kiosk.mqtt_user, kiosk_password)
    try:
        assert edge.connected.wait(5) and device.connected.wait(5)
        edge.subscribe(f"{PREFIX}/{HALL}/#")
        edge.publish(f"{PREFIX}/{HALL}/area/main/status", b'{"v":1,"mine":true}', retain=True)
        edge.publish(f"{PREFIX}/{HALL}/area/annex/status", b'{"v":1,"other":true}', retain=True)

        device.publish(f"{PREFIX}/{HALL}/device/kiosk-1/event", b'{"v":1,"type":"ok","ts":1}')
        device.publish(f"{PREFIX}/{HALL}/device/kiosk-2/event", b'{"v":1,"type":"fake","ts":1}')
        device.publish(f"{PREFIX}/{HALL}/window/w1/state", b'{"v":1,"forged":true}')
        device.publish(f"{PREFIX}/{HALL}/event/ticket.called", b'{"v":1,"forged":true}')
        device.subscribe(f"{PREFIX}/{HALL}/area/+/status")
        # a last message of its own: once it is through, anything forged before it would be
        device.publish(f"{PREFIX}/{HALL}/device/kiosk-1/event", b'{"v":1,"type":"end","ts":2}')
        _wait(lambda: any(b'"end"' in p for _, p in edge.received))

        edge_topics = [t for t, _ in edge.received]
        assert f"{PREFIX}/{HALL}/device/kiosk-1/event" in edge_topics
        assert f"{PREFIX}/{HALL}/device/kiosk-2/event" not in edge_topics
        assert not any(b"forged" in p for _, p in edge.received)
        assert [t for t, _ in device.received] == [f"{PREFIX}/{HALL}/area/main/status"]
    finally:
        edge.close()
        device.close()


def test_wrong_and_removed_credentials_are_refused(
    registry: DeviceRegistry, broker: SecuredBroker, clock: ManualClock
) -> None:
    pad, password = registry.register(clock.now_ms(), device_id="pad-w1", kind="pad", window="w1")
    registry.write_broker_files(broker.password_file, broker.acl_file, EDGE_PASSWORD)
    registry.reload_broker(broker.pid)
    reloaded(broker, pad.mqtt_user, password, allowed=True)
    wrong = Client(broker.port, pad.mqtt_user, "guess")
    assert wrong.refused.wait(5)
    wrong.close()
    right = Client(broker.port, pad.mqtt_user, password)
    assert right.connected.wait(5)
    right.close()

    registry.remove(clock.now_ms(), "pad-w1")
    registry.write_broker_files(broker.password_file, broker.acl_file, EDGE_PASSWORD)
    registry.reload_broker(broker.pid)
    reloaded(broker, pad.mqtt_user, password, allowed=False)
    removed = Client(broker.port, pad.mqtt_user, password)
    assert removed.refused.wait(5)
    removed.close()


def test_the_registry_refuses_bad_devices_and_never_stores_passwords(
    registry: DeviceRegistry, engine: QueueEngine, clock: ManualClock
) -> None:
    for kwargs in (
        {"device_id": "Kiosk 1", "kind": "kiosk"},
        {"device_id": "k1", "kind": "toaster"},
    ):
        with pytest.raises(QueueError):
            registry.register(clock.now_ms(), **kwargs)
    _, password = registry.register(clock.now_ms(), device_id="k1", kind="kiosk", area="main")
    with pytest.raises(QueueError):
        registry.register(clock.now_ms(), device_id="k1", kind="kiosk")
    stored = engine.conn.execute("SELECT mqtt_hash FROM devices").fetchone()[0]
    assert password not in stored and stored.startswith("$7$")
    assert [e.type for e in engine.store.events_after(0, 100)][-1] == "device.registered"


def test_registering_rewrites_the_broker_files_and_reloads_it(
    engine: QueueEngine, broker: SecuredBroker, clock: ManualClock, tmp_path: Path
) -> None:
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")
    files = BrokerFiles(broker.password_file, broker.acl_file, EDGE_PASSWORD, pid_file)
    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL, broker=files)
    kiosk, password = registry.register(clock.now_ms(), device_id="k9", kind="kiosk", area="main")
    for _ in range(50):
        client = Client(broker.port, kiosk.mqtt_user, password)
        ok = client.connected.wait(0.5)
        client.close()
        if ok:
            break
    assert ok, "the new device can log in without anyone touching the broker"
    assert "user dev-k9" in broker.acl_file.read_text()
