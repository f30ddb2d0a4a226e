"""`hall`: the one command of the platform (`hall demo`, `hall edge run`, …)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from smarthall import devices_cli, voice_cli
from smarthall.running import until_stopped

__all__ = ["main"]

log = logging.getLogger("hall")

_SOURCE_TREE = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hall", description="smarthall: government service halls")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a demo hall with seeded configuration")
    demo.add_argument("--port", type=int, default=8400, help="the edge HTTP API port (8400)")
    demo.add_argument("--data", type=Path, default=None, help="data folder (./smarthall-demo)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument(
        "--mqtt",
        default="127.0.0.1:1883",
        help="where to look for a running broker; without one an embedded broker starts",
    )

    edge = commands.add_parser("edge", help="the edge node of one hall")
    edge_commands = edge.add_subparsers(dest="edge_command", required=True)
    run = edge_commands.add_parser("run", help="run an edge node from a TOML file")
    run.add_argument("--config", type=Path, required=True, help="the node's TOML configuration")
    edge_commands.add_parser("config-reference", help="print every configuration key")
    backup = edge_commands.add_parser("backup", help="snapshot the node's database, online")
    backup.add_argument("--config", type=Path, required=True, help="the node's TOML configuration")
    backup.add_argument("--to", type=Path, help="file or folder (default: [backup] folder)")
    restore = edge_commands.add_parser("restore", help="restore the stopped node's database")
    restore.add_argument("--config", type=Path, required=True, help="the node's TOML configuration")
    restore.add_argument("--from", dest="source", type=Path, required=True, help="the snapshot")
    restore.add_argument(
        "--numbers-from",
        default="replaced",
        help="where ticket numbering continues from: replaced (the replaced database; the "
        "margin when it is gone), margin, or a database file (docs/backup.md)",
    )
    restore.add_argument("--number-margin", type=int, default=200, help="today's jump (200)")

    cloud = commands.add_parser("cloud", help="the central cloud service")
    cloud_commands = cloud.add_subparsers(dest="cloud_command", required=True)
    for name, text in (("run", "run a cloud worker"), ("migrate", "update the database schema")):
        sub = cloud_commands.add_parser(name, help=text)
        sub.add_argument("--config", type=Path, required=True, help="the cloud's TOML file")
    user = cloud_commands.add_parser("user", help="back-office users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add a user; prints a generated password once")
    add.add_argument("--config", type=Path, required=True, help="the cloud's TOML file")
    add.add_argument("--username", required=True, help="the login name")
    add.add_argument("--name", required=True, help="the person's name")
    add.add_argument("--superuser", action="store_true", help="holds every permission")
    add.add_argument("--department", default=None, help="the org unit's id")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    devices_cli.add_parser(commands)
    voice_cli.add_parser(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "device":
        return devices_cli.run(args)
    if args.command == "voice":
        return voice_cli.run(args)
    if args.command == "cloud":
        from cloud import command

        if args.cloud_command == "migrate":
            return command.migrate(args.config)
        if args.cloud_command == "user":
            return asyncio.run(
                command.add_user(
                    args.config,
                    username=args.username,
                    name=args.name,
                    superuser=args.superuser,
                    department=args.department,
                    password_stdin=args.password_stdin,
                )
            )
        return asyncio.run(command.run(args.config))
    if args.command == "demo":
        mqtt_host, _, mqtt_port = args.mqtt.rpartition(":")
        return asyncio.run(_demo(args.host, args.port, args.data, (mqtt_host, int(mqtt_port))))
    if args.edge_command in ("backup", "restore"):
        return _edge_backup(args)
    if args.edge_command == "config-reference":
        from edge.config import reference

        sys.stdout.write(reference())
        return 0
    return asyncio.run(_edge_run(args.config))


async def _edge_run(path: Path) -> int:
    from edge.backup import DatabaseInUse
    from edge.config import ConfigError, load_config
    from edge.db import IncompatibleDatabase
    from edge.node import EdgeNode

    try:
        config = load_config(path)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    logging.getLogger().setLevel(config.node.log_level)
    node = EdgeNode(config, path.resolve().parent)
    try:
        await node.start()
    except (IncompatibleDatabase, DatabaseInUse) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    sys.stdout.write(f"edge node running: http://{config.api.host}:{node.port}/api/health\n")
    sys.stdout.flush()
    await until_stopped()
    await node.stop()
    return 0


def _edge_backup(args: argparse.Namespace) -> int:
    from edge import backup
    from edge.config import ConfigError

    try:
        if args.edge_command == "backup":
            result: object = backup.backup_from_config(args.config, args.to)
        else:
            result = backup.restore_from_config(
                args.config, args.source, args.numbers_from, args.number_margin
            )
    except (ConfigError, backup.BackupError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    sys.stdout.write(f"{result}\n")
    return 0


async def _demo_cloud(data_dir: Path, host: str, setup: Any) -> tuple[Any, str]:
    """A cloud worker on an embedded SQLite database beside the demo's edge, the demo hall
    registered with it (its secret kept in the data folder), and, at the first start, the
    hall's setup stored, imported into the portal's hall configuration and the hall placed
    in the organisation tree under a site; the worker and its address."""
    import hashlib

    import aiohttp

    from cloud.config import AdminToken, AuthConfig, CloudConfig, DatabaseConfig
    from cloud.config import ApiConfig as CloudApiConfig
    from cloud.node import CloudNode

    admin_file = data_dir / "cloud-admin.token"
    if not admin_file.exists():
        admin_file.write_text(secrets.token_urlsafe(24))
        admin_file.chmod(0o600)
    admin = admin_file.read_text().strip()
    config = CloudConfig(
        database=DatabaseConfig(url=f"sqlite+aiosqlite:///{data_dir / 'cloud.sqlite3'}"),
        api=CloudApiConfig(
            host=host,
            port=0,
            admins=[AdminToken(id="demo", token_sha256=hashlib.sha256(admin.encode()).hexdigest())],
        ),
        # the demo's portal is plain HTTP on this machine: the session cookie must go over it
        auth=AuthConfig(secure_cookies=False),
    )
    cloud = CloudNode(config)
    await cloud.start()
    url = f"http://{host}:{cloud.port}"
    secret_file = data_dir / "hall.secret"
    if not secret_file.exists():
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/api/halls",
                json={"id": setup.hall.id, "name": setup.hall.name},
                headers={"Authorization": f"Bearer {admin}"},
            ) as response,
        ):
            body = await response.json()
        if response.status != 201:
            raise RuntimeError(f"the demo cloud refused the demo hall: {body}")
        await _demo_hall_in_cloud(url, admin, setup)
        secret_file.write_text(str(body["token"]).rpartition(".")[2])
        secret_file.chmod(0o600)
    return cloud, url


async def _demo_hall_in_cloud(url: str, admin: str, setup: Any) -> None:
    """The demo hall as the portal shows it: its setup stored (the version the edge already
    runs), its pieces imported for editing, and a site of a demo region that it belongs to."""
    import aiohttp

    hall = setup.hall.id
    headers = {"Authorization": f"Bearer {admin}"}
    async with aiohttp.ClientSession(base_url=url, headers=headers) as session:

        async def call(method: str, path: str, **kwargs: Any) -> Any:
            async with session.request(method, path, **kwargs) as response:
                body = await response.json()
                if response.status >= 300:
                    raise RuntimeError(f"the demo cloud refused {method} {path}: {body}")
                return body

        await call("PUT", f"/api/halls/{hall}/setup", json=setup.model_dump(mode="json"))
        await call("POST", f"/api/halls/{hall}/config/import")
        region = await call(
            "POST", "/api/identity/units", json={"kind": "region", "name": "演示区"}
        )
        site = {"kind": "site", "name": setup.hall.name, "parent_id": region["unit"]["id"],
                "hall": hall}  # fmt: skip
        await call("POST", "/api/identity/units", json=site)


async def _demo_portal_admin(data_dir: Path) -> str:
    """The demo cloud's superuser `admin`: made with a generated password at the first start,
    the password kept in the data folder (readable by its owner only); the password."""
    from cloud.command import ensure_user
    from cloud.identity.accounts import initial_password

    password_file = data_dir / "portal-admin.password"
    if password_file.exists():
        return password_file.read_text().strip()
    password = initial_password()
    url = f"sqlite+aiosqlite:///{data_dir / 'cloud.sqlite3'}"
    await ensure_user(url, username="admin", name="演示管理员", password=password, superuser=True)
    password_file.write_text(password)
    password_file.chmod(0o600)
    return password


def _screen_lines(base: str, tokens: dict[str, dict[str, str]]) -> list[str]:
    """The addresses of the east area's screens and of window 1's, with their tokens."""

    def token(name: str) -> str:
        return tokens[name]["token"] if name in tokens else ""

    screens = [
        ("kiosk", f"/screen/kiosk/east?token={token('kiosk-east')}"),
        ("staff caller", f"/screen/caller/w01?token={token('caller-w01')}"),
        ("window Pad", f"/screen/pad/w01?token={token('pad-w01')}"),
        ("window display", f"/screen/window/w01?token={token('display-east')}"),
        ("central display", f"/screen/central/east?token={token('display-east')}"),
    ]
    return [f"    {name:<16}{base}{path}" for name, path in screens]


def _demo_data_dir(given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    folder = (Path.cwd() / "smarthall-demo").resolve()
    if folder.is_relative_to(_SOURCE_TREE):
        folder = Path.home() / ".local" / "share" / "smarthall" / "demo"
    return folder


async def _demo(host: str, port: int, data: Path | None, mqtt: tuple[str, int]) -> int:
    from argon2 import PasswordHasher

    from edge.broker import broker_answers, start_embedded_broker
    from edge.config import ApiClient, ApiConfig, EdgeConfig, MqttConfig, NodeConfig, token_digest
    from edge.config import CloudConfig as EdgeCloudConfig
    from edge.db import IncompatibleDatabase
    from edge.demo import DEMO_PASSWORD, demo_bookings, demo_setup
    from edge.node import EdgeNode

    data_dir = _demo_data_dir(data)
    data_dir.mkdir(parents=True, exist_ok=True)
    tokens_file = data_dir / "tokens.json"
    setup = demo_setup(PasswordHasher().hash(DEMO_PASSWORD))
    tokens: dict[str, dict[str, str]] = (
        json.loads(tokens_file.read_text()) if tokens_file.exists() else {}
    )
    wanted = {"admin": {"kind": "admin"}}
    for area in setup.areas:
        for kind in ("kiosk", "display"):
            wanted[f"{kind}-{area.id}"] = {"kind": kind, "area": area.id}
    for window in setup.windows:
        for kind in ("pad", "caller"):
            wanted[f"{kind}-{window.id}"] = {"kind": kind, "window": window.id}
    missing = {name: client for name, client in wanted.items() if name not in tokens}
    if missing:  # a new demo, or one from before a kind of screen existed
        for name, client in missing.items():
            tokens[name] = {**client, "token": secrets.token_urlsafe(24)}
        tokens_file.write_text(json.dumps(tokens, indent=2))
        tokens_file.chmod(0o600)
    clients = [
        ApiClient(
            id=name,
            kind=t["kind"],
            area=t.get("area", ""),
            window=t.get("window", ""),
            token_sha256=token_digest(t["token"]),
        )
        for name, t in tokens.items()
    ]

    if broker_answers(*mqtt):
        (broker_host, broker_port), broker_kind, embedded = mqtt, "local broker", None
    else:
        embedded = await start_embedded_broker()
        broker_host, broker_port, broker_kind = embedded.host, embedded.port, "embedded amqtt"

    cloud, cloud_url = await _demo_cloud(data_dir, host, setup)
    portal_password = await _demo_portal_admin(data_dir)
    config = EdgeConfig(
        node=NodeConfig(data_dir=str(data_dir), ticket_qr_base="https://wx.smarthall.example"),
        api=ApiConfig(host=host, port=port, clients=clients),
        mqtt=MqttConfig(host=broker_host, port=broker_port),
        cloud=EdgeCloudConfig(url=cloud_url, secret_file=str(data_dir / "hall.secret")),
    )
    today = dt.datetime.now(ZoneInfo(setup.hall.timezone)).date()
    node = EdgeNode(config, data_dir, setup=setup, bookings=demo_bookings(today))
    try:
        await node.start()
    except IncompatibleDatabase as exc:
        sys.stderr.write(f"{exc}\n")
        return 2

    registry = node.registry
    assert registry is not None
    if not any(d.id == "printer-east" for d in registry.devices()):
        registry.register(
            node.engine.clock.now_ms() if node.engine else 0,
            device_id="printer-east",
            kind="printer",
            profile="xprinter-xp-80c",
            area="east",
            attached_to="kiosk-east",
        )
    base = f"http://{host}:{node.port}"
    kiosk = f"Authorization: Bearer {tokens['kiosk-east']['token']}"
    lines = [
        "",
        f"smarthall demo — {setup.hall.name}",
        f"  edge API      {base}/api/health   (OpenAPI: {base}/api/openapi.json)",
        f"  MQTT broker   {broker_kind} at {broker_host}:{broker_port}, "
        f"topics {config.mqtt.topic_prefix}/{setup.hall.id}/#",
        f"  data          {data_dir}",
        f"  staff login   staff numbers 1001–1012, password {DEMO_PASSWORD}",
        f"  tokens        {tokens_file}",
        f"  cloud         {cloud_url}/api/health   (the hall's sync: {base}/api/sync, admin token)",
        f"  admin portal  {cloud_url}/portal/   (login admin, password {portal_password})",
        "",
        "  try it: a window opens, a kiosk takes a ticket, the window calls it",
        f'    curl -s -X POST -d \'{{"staff_no": "1001", "password": "{DEMO_PASSWORD}"}}\' '
        f"{base}/api/windows/w01/login    # answers with a session token",
        f"    curl -s -H '{kiosk}' {base}/api/areas/east/services",
        f"    curl -s -X POST -H '{kiosk}' "
        f'-d \'{{"business_type": "biz-reg"}}\' {base}/api/tickets',
        f"    curl -s -X POST -H 'Authorization: Bearer <session token>' "
        f"{base}/api/windows/w01/call-next",
        "",
        "  the screens (open them in a browser; Chromium in kiosk mode on the hall's devices):",
        *_screen_lines(base, tokens),
        "",
        "  the east kiosk's printer, simulated (tickets as PNG in ./printed):",
        f"    hall device simulate printer --device printer-east --profile xprinter-xp-80c "
        f"--hall {setup.hall.id} --broker {broker_host}:{broker_port}",
        "",
        "Ctrl-C stops the demo.",
        "",
    ]
    sys.stdout.write("\n".join(lines))
    sys.stdout.flush()
    await until_stopped()
    await node.stop()
    await cloud.stop()
    if embedded is not None:
        await embedded.stop()
    return 0
