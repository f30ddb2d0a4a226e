"""`hall voice`: prepare a hall's clip cache, and say a text the way the hall would."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from sync.voice import LANGUAGES, SPEEDS

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    voice = commands.add_parser("voice", help="voice calling: clip cache and trials")
    sub = voice.add_subparsers(dest="voice_command", required=True)
    prepare = sub.add_parser(
        "prepare", help="render every clip the hall needs (edge-tts online, else espeak-ng)"
    )
    prepare.add_argument("--config", type=Path, required=True, help="the edge node's TOML file")
    prepare.add_argument("--engine", choices=["auto", "edge-tts", "espeak-ng"], default="auto")
    say = sub.add_parser("say", help="write a text as the hall would say it, to a WAV file")
    say.add_argument("text")
    say.add_argument("--config", type=Path, required=True, help="the edge node's TOML file")
    say.add_argument("--language", choices=LANGUAGES, default="cmn")
    say.add_argument("--speed", choices=SPEEDS, default="normal")
    say.add_argument("--out", type=Path, default=Path("said.wav"))


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    base = args.config.resolve().parent
    if args.voice_command == "say":
        return asyncio.run(_say(args, config, base))
    return asyncio.run(_prepare(args, config, base))


async def _prepare(args: argparse.Namespace, config: Any, base: Path) -> int:
    from edge.voice.prepare import hall_clips, hall_setup, voice_of

    setup = hall_setup(config, base)
    if setup is None:
        sys.stderr.write("the hall has no setup yet: nothing to prepare\n")
        return 2
    voice = voice_of(config, base)
    keys = hall_clips(setup)
    done = await voice.prepare(keys, engine=args.engine)
    sys.stdout.write(
        f"{len(keys)} clips for {setup.hall.name}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(done.items()))
        + f"; cache {voice.cache.root}\n"
    )
    if voice.last_error:
        sys.stdout.write(f"last error: {voice.last_error}\n")
    return 1 if done["failed"] else 0


async def _say(args: argparse.Namespace, config: Any, base: Path) -> int:
    from edge.voice.audio import wav_bytes
    from edge.voice.prepare import voice_of
    from edge.voice.synth import SynthesisError
    from sync.voice import Piece

    voice = voice_of(config, base)
    try:
        pcm = await voice.say([Piece(args.text, 0)], args.language, args.speed)
    except SynthesisError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    args.out.write_bytes(wav_bytes(pcm))
    sys.stdout.write(f"{args.out}: {len(pcm) / 24_000:.2f} s\n")
    return 0
