"""An edge node at run time: database, queue engine, HTTP API, timers and the MQTT publisher."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

from aiohttp import web

from edge.api.app import create_app
from edge.api.pad import PHOTOS
from edge.api.sync import CLOUD_SYNC, CONFIG_PULL
from edge.backup import NodeLock, SnapshotSchedule, hold_node_lock
from edge.clock import Clock
from edge.cloudconfig import ConfigPull
from edge.cloudsync import CloudSync
from edge.config import ApiClient, EdgeConfig
from edge.db import Checkpointer, open_database
from edge.devices.bus import DeviceBus
from edge.devices.cardlogin import CardLogin
from edge.devices.printing import TicketPrinting
from edge.devices.profiles import load_catalogue
from edge.devices.registry import BrokerFiles, DeviceRegistry
from edge.devices.scanning import ScanCheckIn
from edge.devices.screens import LedScreens
from edge.publisher import EventPublisher
from edge.queue import QueueEngine, QueueError
from edge.voice.calling import DevicePlayers, LocalSpeaker, Output, VoiceCalling
from edge.voice.prepare import voice_of
from sync.bookingtoken import load_public_key
from sync.hallsetup import Booking, HallSetup

__all__ = ["EdgeNode"]

log = logging.getLogger(__name__)


class EdgeNode:
    def __init__(
        self,
        config: EdgeConfig,
        base: Path,
        *,
        clock: Clock | None = None,
        extra_clients: list[ApiClient] | None = None,
        setup: HallSetup | None = None,
        bookings: list[Booking] | None = None,
    ) -> None:
        self.config = config
        self.data_dir = config.data_path(base)
        self.base = base
        self.clock = clock
        self.clients = list(config.api.clients) + list(extra_clients or [])
        self.seed_setup = setup
        self.seed_bookings = bookings or []
        self.engine: QueueEngine | None = None
        self.registry: DeviceRegistry | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._checkpointer: Checkpointer | None = None
        self._lock: NodeLock | None = None
        self.voice: VoiceCalling | None = None
        self.cloud_sync: CloudSync | None = None
        self.config_pull: ConfigPull | None = None

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / self.config.database.path
        self._lock = hold_node_lock(path)  # a restore refuses while it is held
        conn = open_database(path, self.config.database.synchronous, autocheckpoint=False)
        self._checkpointer = Checkpointer(path)
        self._checkpointer.start()
        engine = QueueEngine(conn, self.clock, retention_days=self.config.node.retention_days)
        self.engine = engine
        self._load_files(engine)
        if self.seed_setup is not None and not engine.configured:
            engine.apply_setup(self.seed_setup)
        if self.seed_bookings:
            engine.load_bookings(self.seed_bookings)
        registry, bus = self._devices(engine)
        self.registry = registry
        catalogue = load_catalogue()
        if self.config.voice.enabled:
            self.voice = self._voice(engine, registry, bus)
        app = create_app(
            engine,
            self.clients,
            registry=registry,
            bus=bus,
            catalogue=catalogue,
            voice=self.voice,
            qr_base=self.config.node.ticket_qr_base,
        )
        app[PHOTOS] = self.data_dir / "photos"
        self.cloud_sync = self._cloud_sync(engine)
        if self.cloud_sync is not None:
            app[CLOUD_SYNC] = self.cloud_sync
            self.config_pull = self._config_pull(engine)
            app[CONFIG_PULL] = self.config_pull
        # a stopping node gives requests in flight 5 s (every answer was durable before it went out)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.api.host, self.config.api.port)
        await site.start()
        self.port = _bound_port(site)
        self._tasks.append(asyncio.create_task(self._timers(engine)))
        if self.config.backup.enabled:
            b = self.config.backup
            snapshots = SnapshotSchedule(
                path, self.data_dir / b.folder, b.interval_minutes * 60, b.keep
            )
            self._tasks.append(asyncio.create_task(snapshots.run()))
        self._tasks.append(asyncio.create_task(LedScreens(engine, registry, catalogue).run()))
        if bus is not None:
            self._tasks.append(asyncio.create_task(bus.run()))
            printing = TicketPrinting(
                engine, registry, bus, catalogue, qr_base=self.config.node.ticket_qr_base
            )
            self._tasks.append(asyncio.create_task(printing.run()))
            keys = [load_public_key(k) for k in self.config.cloud.booking_keys]
            if self.config_pull is not None:  # the configured keys, else the cloud's
                keys = self.config_pull.booking_keys
            scans = ScanCheckIn(engine, registry, booking_keys=keys)
            self._tasks.append(asyncio.create_task(scans.run()))
            self._tasks.append(asyncio.create_task(CardLogin(engine, registry).run()))
        if self.cloud_sync is not None:
            self._tasks.append(asyncio.create_task(self.cloud_sync.run()))
        if self.config_pull is not None:
            self._tasks.append(asyncio.create_task(self.config_pull.run()))
        if self.voice is not None:
            self._tasks.append(asyncio.create_task(self.voice.run()))
            self._tasks.append(asyncio.create_task(self.voice.voice.fill()))
        mqtt = self.config.mqtt
        if mqtt.enabled and engine.configured:
            password = self._mqtt_password()
            publisher = EventPublisher(
                engine,
                host=mqtt.host,
                port=mqtt.port,
                prefix=mqtt.topic_prefix,
                hall_id=engine.hall.hall.id,
                username=mqtt.username,
                password=password,
            )
            self._tasks.append(asyncio.create_task(publisher.run()))
        log.info("edge API on http://%s:%s", self.config.api.host, self.port)

    def _mqtt_password(self) -> str:
        path = self.config.mqtt.password_file
        return (self.base / path).read_text().strip() if path else ""

    def _devices(self, engine: QueueEngine) -> tuple[DeviceRegistry, DeviceBus | None]:
        mqtt = self.config.mqtt
        hall = engine.hall.hall.id if engine.configured else "unconfigured"
        broker = None
        if mqtt.broker_password_file and mqtt.broker_acl_file:
            broker = BrokerFiles(
                password_file=self.base / mqtt.broker_password_file,
                acl_file=self.base / mqtt.broker_acl_file,
                edge_password=self._mqtt_password(),
                pid_file=self.base / mqtt.broker_pid_file if mqtt.broker_pid_file else None,
            )
        registry = DeviceRegistry(engine.store, prefix=mqtt.topic_prefix, hall=hall, broker=broker)
        registry.sync_broker()
        bus = None
        if mqtt.enabled and engine.configured:
            bus = DeviceBus(
                engine.store,
                host=mqtt.host,
                port=mqtt.port,
                prefix=mqtt.topic_prefix,
                hall=hall,
                username=mqtt.username,
                password=self._mqtt_password(),
                offline_after=mqtt.device_offline_seconds,
                now_ms=engine.clock.now_ms,
            )
        return registry, bus

    def _hall_secret(self) -> str:
        """The secret the cloud gave this hall when it was registered ([cloud] secret_file)."""
        path = self.config.cloud.secret_file
        return (self.base / path).read_text().strip() if path else ""

    def _cloud_sync(self, engine: QueueEngine) -> CloudSync | None:
        cloud = self.config.cloud
        if not cloud.url or not engine.configured:
            return None
        return CloudSync(
            engine,
            url=cloud.url,
            hall=engine.hall.hall.id,
            secret=self._hall_secret(),
            batch_size=cloud.batch_size,
            timeout=cloud.timeout_seconds,
            retain_days=cloud.retain_days,
            max_backoff=cloud.max_backoff_seconds,
            heartbeat_seconds=cloud.heartbeat_seconds,
        )

    def _config_pull(self, engine: QueueEngine) -> ConfigPull:
        cloud = self.config.cloud
        return ConfigPull(
            engine,
            url=cloud.url,
            hall=engine.hall.hall.id,
            secret=self._hall_secret(),
            interval=cloud.pull_seconds,
            timeout=cloud.timeout_seconds,
            max_backoff=cloud.max_backoff_seconds,
            booking_keys=cloud.booking_keys,
        )

    def _voice(
        self, engine: QueueEngine, registry: DeviceRegistry, bus: DeviceBus | None
    ) -> VoiceCalling:
        config = self.config.voice
        voice = voice_of(self.config, self.base)
        outputs: list[Output] = []
        if config.playback in ("local", "both"):
            outputs.append(LocalSpeaker(config.alsa_device, config.local_areas))
        if bus is not None:
            outputs.append(DevicePlayers(registry, bus, calls=config.playback != "local"))
        return VoiceCalling(engine, voice, outputs)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
        if self.engine is not None:
            self.engine.store.flush()
            self.engine.conn.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._lock is not None:
            self._lock.release()

    def _load_files(self, engine: QueueEngine) -> None:
        node = self.config.node
        if node.setup_file:
            setup = HallSetup.model_validate_json((self.base / node.setup_file).read_text("utf-8"))
            current = engine.conn.execute("SELECT max(version) FROM hall_setup").fetchone()[0]
            if current is None or setup.version > current:
                engine.apply_setup(setup)
        if node.bookings_file:
            raw = json.loads((self.base / node.bookings_file).read_text("utf-8"))
            engine.load_bookings([Booking.model_validate(b) for b in raw])

    async def _timers(self, engine: QueueEngine) -> None:
        while True:
            await asyncio.sleep(self.config.node.tick_seconds)
            try:
                engine.tick()
            except QueueError:
                pass
            except Exception:
                log.exception("timer run failed")


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    sockets = getattr(server, "sockets", None)
    if not sockets:
        raise RuntimeError("the HTTP server has no socket")
    port: int = sockets[0].getsockname()[1]
    return port
