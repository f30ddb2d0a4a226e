"""A real MQTT subscriber for tests: collects what arrives on a topic filter."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Listener:
    def __init__(self, host: str, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("no SUBACK from the broker")

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = {"raw": message.payload.decode(errors="replace")}
        with self._lock:
            self.messages.append((message.topic, payload, bool(message.retain)))

    def wait_for(
        self, check: Callable[[list[tuple[str, dict[str, Any], bool]]], bool], timeout: float = 10
    ) -> list[tuple[str, dict[str, Any], bool]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                seen = list(self.messages)
            if check(seen):
                return seen
            time.sleep(0.02)
        raise TimeoutError(f"never arrived; got {[t for t, _, _ in seen]}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
