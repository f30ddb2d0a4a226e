"""`hall device …`: the topic scheme, device agents for real hardware, simulated devices."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from smarthall.running import stop_event, until_stopped

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    device = commands.add_parser("device", help="devices of a hall")
    sub = device.add_subparsers(dest="device_command", required=True)
    sub.add_parser("topics", help="print the device bus topic scheme (docs/device-bus.md)")

    agent = sub.add_parser("agent", help="speak the device bus for a real device")
    agent.add_argument("kind", choices=["printer", "scanner", "card-reader", "voice-player"])
    agent.add_argument("--address", default="", help="printer: serial:/dev/…, tcp:host[:port], usb")
    agent.add_argument("--input", default="", help="scanner: its evdev device, /dev/input/eventN")
    agent.add_argument("--suffix", default="enter", choices=["enter", "tab", "keypad_enter"])
    agent.add_argument("--alsa-device", default="default", help="voice-player: ALSA device")
    _device_options(agent)

    simulate = sub.add_parser(
        "simulate",
        help="a simulated device: printer (PNGs), led (TCP), scanner and card-reader (stdin), "
        "voice-player (WAV files)",
    )
    simulate.add_argument(
        "kind", choices=["printer", "led", "scanner", "card-reader", "voice-player"]
    )
    simulate.add_argument(
        "--out", type=Path, default=None, help="printer: PNG folder; voice-player: WAV folder"
    )
    simulate.add_argument("--port", type=int, default=0, help="led: TCP port to listen on")
    _device_options(simulate)


def _device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="", help="firmware profile id")
    parser.add_argument("--device", default="", help="the device's id in the registry")
    parser.add_argument("--hall", default="demo-hall", help="hall id")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="MQTT broker host:port")
    parser.add_argument("--prefix", default="smarthall", help="topic prefix")
    parser.add_argument("--username", default="", help="the device's MQTT user")
    parser.add_argument("--password-file", type=Path, help="file with the device's MQTT password")


def run(args: argparse.Namespace) -> int:
    if args.device_command == "topics":
        from sync.devicebus import reference

        sys.stdout.write(reference())
        return 0
    if args.device_command == "simulate" and args.kind == "led":
        return asyncio.run(_simulate_led(args))
    return asyncio.run(_agent(args))


async def _agent(args: argparse.Namespace) -> int:
    if not args.device:
        sys.stderr.write("--device is required: the device's id in the registry\n")
        return 2
    host, _, port = args.broker.rpartition(":")
    password = args.password_file.read_text().strip() if args.password_file else ""
    bus: dict[str, Any] = dict(
        device=args.device, host=host, port=int(port), prefix=args.prefix, hall=args.hall,
        username=args.username, password=password,
    )  # fmt: skip
    if args.device_command == "simulate" and args.kind in ("scanner", "card-reader"):
        from edge.devices.simulated import LineAgent

        event, field = (
            ("scanner.scanned", "text") if args.kind == "scanner" else ("card.read", "card")
        )
        agent: Any = LineAgent(lines=sys.stdin, event=event, field=field, **bus)
        what = f"simulated {args.kind} {args.device}: one {field} a line on standard input"
    elif args.kind == "voice-player":
        from edge.devices.voice_agent import AlsaSink, VoicePlayerAgent, WavFolder

        if args.device_command == "simulate":
            out = (args.out or Path("spoken")).resolve()
            sink: Any = WavFolder(out)
            what = f"simulated voice player {args.device}, WAV files in {out}"
        else:
            sink = AlsaSink(args.alsa_device)
            what = f"voice player {args.device} on ALSA {args.alsa_device}"
        agent = VoicePlayerAgent(sink=sink, **bus)
    elif args.kind == "card-reader":
        from edge.devices.cardreader import CardReaderAgent

        profile = _profile("card-readers", args.profile)
        if profile is None:
            return 2
        agent = CardReaderAgent(profile=profile, **bus)
        what = f"card reader {args.device} ({profile.name})"
    elif args.kind == "scanner":
        from edge.devices.scanner_agent import ScannerAgent, evdev_events

        if not args.input:
            sys.stderr.write("--input is required: the scanner's /dev/input/eventN\n")
            return 2
        agent = ScannerAgent(source=evdev_events(args.input), suffix=args.suffix, **bus)
        what = f"scanner {args.device} on {args.input}"
    else:
        from edge.devices.printer.profile import PrinterProfile
        from edge.devices.printer.transport import open_printer
        from edge.devices.printer_agent import LinkPaper, PngPaper, PrinterAgent

        profile = _profile("printers", args.profile)
        if profile is None:
            return 2
        assert isinstance(profile, PrinterProfile)
        if args.device_command == "simulate":
            out = (args.out or Path("printed")).resolve()
            paper: Any = PngPaper(profile, out)
            what = f"simulated printer {args.device} ({profile.name}), PNGs in {out}"
        else:
            paper = LinkPaper(open_printer(profile, args.address))
            what = f"printer {args.device} ({profile.name}) at {args.address}"
        agent = PrinterAgent(paper=paper, **bus)
    task = asyncio.create_task(agent.run())
    sys.stdout.write(f"{what}, on {args.broker}\n")
    sys.stdout.flush()
    await until_stopped()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0


def _profile(kind: str, profile_id: str) -> Any:
    from edge.devices.profiles import ProfileError, load_catalogue

    try:
        return load_catalogue().get(kind, profile_id)
    except ProfileError as exc:
        sys.stderr.write(f"{exc}\n")
        return None


async def _simulate_led(args: argparse.Namespace) -> int:
    from edge.devices.led.profile import LedProfile
    from edge.devices.led.simulator import LedSimulator

    profile = _profile("leds", args.profile)
    if profile is None:
        return 2
    assert isinstance(profile, LedProfile)
    simulator = LedSimulator(profile)
    server = socket.create_server(("127.0.0.1", args.port))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                threading.Thread(target=simulator.serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdout.write(
        f"simulated LED controller {profile.name} on 127.0.0.1:{server.getsockname()[1]}\n"
    )
    sys.stdout.flush()
    stop = stop_event()
    shown: list[str] = []
    while not stop.is_set():
        if simulator.screen != shown:
            shown = list(simulator.screen)
            sys.stdout.write("screen: " + " | ".join(shown) + "\n")
            sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    server.close()
    return 0
