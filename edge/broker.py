"""Find the hall's MQTT broker: the local Mosquitto when it answers, else an embedded one (demo)."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["BrokerHandle", "broker_answers", "free_port", "start_embedded_broker"]

log = logging.getLogger(__name__)


@dataclass
class BrokerHandle:
    host: str
    port: int
    kind: str  # "mosquitto" (found running) or "embedded"
    _broker: Any = None

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()


def broker_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something at host:port speaks MQTT (answers CONNECT with CONNACK)."""
    connect = bytes([0x10, 0x12, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x05])
    connect += bytes([0x00, 0x06]) + b"probe1"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(connect)
            reply = sock.recv(4)
            sock.sendall(bytes([0xE0, 0x00]))  # DISCONNECT
            return len(reply) >= 2 and reply[0] == 0x20
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def start_embedded_broker(host: str = "127.0.0.1", port: int = 0) -> BrokerHandle:
    """An amqtt broker inside this process: the zero-install default for `hall demo`."""
    from amqtt.broker import Broker

    port = port or free_port(host)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    log.info("embedded MQTT broker on %s:%s", host, port)
    return BrokerHandle(host, port, "embedded", broker)
