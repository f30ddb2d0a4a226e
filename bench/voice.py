"""From a committed call to its announcement's audio ready to play, beside the floors of its parts.

    .venv/bin/python -m bench.voice [--calls 200] [--windows 20]

In this process: a queue engine over a real SQLite file (as the node runs it) for a hall of
`--windows` windows in one calling area, every window logged in, and `VoiceCalling` fed by the
engine's event log, as the node wires it, with an output that only records. For each call,
from just before `QueueEngine.call_next` to the `VoiceCalling.ready` observer (the whole
announcement as PCM: the call said `repeat` (2) times, in each of the area's languages):

- warm cache: the hall's clips prepared with espeak-ng beforehand (`Voice.prepare`, as
  `hall voice prepare --engine espeak-ng` does), the cache opened fresh, so the first use of
  each clip reads its WAV file from disk and later ones come from memory;
- empty cache: every call meets a cache of its own with nothing in it, so each renders its
  missing clips with espeak-ng on the spot (the fallback when no clip was prepared).

Calls are one at a time (the next after the previous one's audio is ready). Floors on the same
machine: one espeak-ng process for one character (bare, and through `Espeak.render` with its
decoding and resampling), reading one clip's WAV file from disk, and joining one
announcement's clips (`numpy.concatenate` through `edge.voice.audio.join`). Prints Markdown
tables and writes them to bench/results/voice.md (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from bench.hall import noon_timezone
from bench.load import percentile
from bench.node import ROOT
from bench.queue import Table
from edge.db import open_database
from edge.queue import QueueEngine
from edge.voice.audio import RATE, Pcm, decode, join
from edge.voice.cache import ClipCache
from edge.voice.calling import Announcement, VoiceCalling
from edge.voice.prepare import hall_clips
from edge.voice.speech import Voice
from edge.voice.synth import Espeak
from sync.hallsetup import (
    BusinessCategory,
    BusinessType,
    CallingArea,
    HallInfo,
    HallSetup,
    StaffMember,
    TimeRange,
    Window,
)
from sync.voice import Language, Piece, VoiceSetup, call_pieces

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"
AREA = "hall"
PREFIXES = "ABCD"
TARGET_WARM_P99_MS = 100.0


@dataclass
class Options:
    calls: int
    windows: int
    output: Path
    keep: bool


@dataclass
class Timings:
    """Seconds per call: the commit, commit → announcement built, built → audio ready."""

    total: list[float] = field(default_factory=list)
    commit: list[float] = field(default_factory=list)
    render: list[float] = field(default_factory=list)
    audio_seconds: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)


# ----------------------------------------------------------------------- the hall


def voice_hall(windows: int, languages: list[Language]) -> HallSetup:
    """`windows` windows in one area, each serving the four business types, open all day."""
    types = [
        BusinessType(id=f"type-{p}", category="all", name=f"业务{p}", pinyin=f"yw{p}", prefix=p)
        for p in PREFIXES
    ]
    return HallSetup(
        version=1,
        hall=HallInfo(
            id="voice-bench-hall",
            name="语音基准大厅",
            timezone=noon_timezone(),
            hours=[TimeRange(start=dt.time(0, 0), end=dt.time(23, 59))],
            working_weekdays=[1, 2, 3, 4, 5, 6, 7],
        ),
        areas=[CallingArea(id=AREA, name="大厅")],
        categories=[BusinessCategory(id="all", name="综合")],
        business_types=types,
        windows=[
            Window(id=f"w{n:02d}", area=AREA, number=str(n), business_types=[t.id for t in types])
            for n in range(1, windows + 1)
        ],
        staff=[
            StaffMember(id=f"s{n:02d}", staff_no=str(1000 + n), name=f"员工{n}")
            for n in range(1, windows + 1)
        ],
        voice=VoiceSetup(languages=languages),
    )


class RecordingOutput:
    """An `Output` that takes every announcement and plays nothing: it counts what it got."""

    def __init__(self) -> None:
        self.heard: Counter[str] = Counter()

    def wants(self, announcement: Announcement) -> bool:
        return True

    async def play(self, announcement: Announcement, pcm: Pcm) -> None:
        self.heard[announcement.kind] += 1


# ----------------------------------------------------------------------- call → audio


async def measure_calls(
    folder: Path,
    setup: HallSetup,
    calls: int,
    voice_for_call: Callable[[int], Voice],
) -> Timings:
    """`calls` calls one after another; `voice_for_call(i)` is the voice the i-th is said with."""
    folder.mkdir(parents=True, exist_ok=True)
    conn = open_database(folder / "edge.sqlite3")
    engine = QueueEngine(conn)
    engine.apply_setup(setup)
    output = RecordingOutput()
    voices: dict[int, Voice] = {}  # every voice used, for their counters
    calling = VoiceCalling(engine, voice_for_call(0), [output])
    loop = asyncio.get_running_loop()
    waiting: asyncio.Future[tuple[int, Announcement, Pcm]] | None = None

    def ready(announcement: Announcement, pcm: Pcm) -> None:
        if announcement.kind == "call" and waiting is not None and not waiting.done():
            waiting.set_result((time.perf_counter_ns(), announcement, pcm))

    calling.ready.append(ready)
    runner = asyncio.create_task(calling.run())
    timings = Timings()
    windows = [w.id for w in setup.windows]
    try:
        for window, staff in zip(windows, setup.staff, strict=True):
            engine.window_login(window, staff)
        for n in range(calls):
            engine.issue_ticket(
                area=AREA,
                business_type=setup.business_types[n % len(PREFIXES)].id,
                source="kiosk",
                actor="kiosk:bench",
            )
        await asyncio.sleep(0.05)  # the feed has nothing to say about issuance; let it settle
        for n in range(calls):
            calling.voice = voice_for_call(n)
            voices[id(calling.voice)] = calling.voice
            waiting = loop.create_future()
            started = time.perf_counter_ns()
            engine.call_next(windows[n % len(windows)], "staff:bench")
            committed = time.perf_counter_ns()
            done_ns, announcement, pcm = await asyncio.wait_for(waiting, 30)
            timings.total.append((done_ns - started) / 1e9)
            timings.commit.append((committed - started) / 1e9)
            timings.render.append((done_ns - announcement.seen_ns) / 1e9)
            timings.audio_seconds.append(len(pcm) / RATE)
        await asyncio.sleep(0.05)
        timings.kinds = output.heard + Counter(calling.stats)
        for voice in voices.values():
            timings.kinds += voice.stats
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        conn.close()
    return timings


async def warm(folder: Path, setup: HallSetup, calls: int, prepared: Path) -> Timings:
    cache = ClipCache(prepared)  # opened fresh: clips are read from disk on first use
    voice = Voice(cache, Espeak())
    return await measure_calls(folder, setup, calls, lambda _: voice)


async def empty(folder: Path, setup: HallSetup, calls: int) -> Timings:
    return await measure_calls(
        folder, setup, calls, lambda n: Voice(ClipCache(folder / "clips" / str(n)), Espeak())
    )


# ----------------------------------------------------------------------- floors


async def _timed(n: int, step: Callable[[], Awaitable[object]]) -> list[float]:
    latencies: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        await step()
        latencies.append(time.perf_counter() - started)
    return latencies


async def floors(folder: Path, n: int) -> list[tuple[str, list[float]]]:
    espeak = Espeak()

    async def bare_espeak() -> None:
        proc = await asyncio.create_subprocess_exec(
            espeak.binary,
            "-v",
            Espeak.VOICES["cmn"],
            "--stdout",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await proc.communicate("一".encode())

    async def espeak_render() -> None:
        await espeak.render("一", "cmn", "normal")

    cache = ClipCache(folder / "floor-clips")
    setup = voice_hall(20, ["cmn"])
    pieces = [p.text for p in _call_pieces(setup)]
    for text in dict.fromkeys(pieces):
        cache.put("espeak-ng", "cmn", "normal", text, await espeak.render(text, "cmn", "normal"))
    clip_path = cache.path("espeak-ng", "cmn", "normal", "号窗口办理")

    async def read_clip() -> None:
        decode(clip_path.read_bytes())

    clips = [cache.get("espeak-ng", "cmn", "normal", t) for t in pieces]
    parts = [(c, 40) for c in clips if c is not None]

    async def concatenate() -> None:
        join([(join(parts), 700), (join(parts), 0)])  # one announcement: said twice

    return [
        ("espeak-ng process, one character (bare: spawn, say, exit)", await _timed(n, bare_espeak)),
        (
            "`Espeak.render`, one character (process, WAV decode, resample to 24 kHz)",
            await _timed(n, espeak_render),
        ),
        (
            f"read one clip's WAV file from disk and decode it ({clip_path.stat().st_size:,} B)",
            await _timed(n, read_clip),
        ),
        (
            f"`join` one announcement's clips ({len(parts)} clips, said twice)",
            await _timed(n, concatenate),
        ),
    ]


def _call_pieces(setup: HallSetup) -> list[Piece]:
    return call_pieces(setup.voice.templates["cmn"], number="A012", window="12")


# ----------------------------------------------------------------------- the report


def _ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _machine() -> str:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    espeak = "espeak-ng ?"
    with contextlib.suppress(OSError):
        banner = subprocess.run(
            ["espeak-ng", "--version"], capture_output=True, text=True, check=False
        ).stdout  # "eSpeak NG text-to-speech: 1.51  Data at: ..."
        espeak = "espeak-ng " + banner.partition(":")[2].split()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {espeak}, "
        f"libsndfile {soundfile.__libsndfile_version__}, numpy {np.__version__}, "
        f"{platform.system()} {platform.release()}"
    )


def call_row(name: str, timings: Timings, target: bool) -> list[str]:
    p99 = percentile(timings.total, 99)
    met = ("yes" if p99 * 1000 < TARGET_WARM_P99_MS else "**no**") if target else "—"
    return [
        name,
        str(len(timings.total)),
        _ms(percentile(timings.commit, 50)),
        _ms(percentile(timings.total, 50)),
        _ms(p99),
        _ms(max(timings.total)),
        f"{_ms(percentile(timings.render, 50))} / {_ms(percentile(timings.render, 99))}",
        f"{sum(timings.audio_seconds) / len(timings.audio_seconds):.1f}",
        f"p99 < {TARGET_WARM_P99_MS:.0f} ms: {met}" if target else "—",
    ]


async def run(options: Options) -> str:
    started = time.perf_counter()
    load_before = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="smarthall-bench-voice-"))
    calls = Table(
        "call → announcement audio ready",
        [
            "cache",
            "calls",
            "commit p50 ms",
            "p50 ms",
            "p99 ms",
            "max ms",
            "render p50 / p99 ms",
            "audio s",
            "target",
        ],
        notes=[
            "From just before `call_next` to the `VoiceCalling.ready` observer. *commit*: "
            "`call_next` itself (the SQLite transaction and its event); *render*: from the "
            "announcement built (`Announcement.seen_ns`) to its audio ready. *audio s*: the "
            "announcement's length (said twice, with the gaps).",
        ],
    )
    floor = Table("floors, same machine", ["floor", "n", "p50 ms", "p99 ms", "max ms"])
    try:
        prepared = folder / "prepared"
        runs: list[list[Language]] = [["cmn"], ["cmn", "yue"]]
        for languages in runs:
            label = " + ".join({"cmn": "Mandarin", "yue": "Cantonese"}[x] for x in languages)
            setup = voice_hall(options.windows, languages)
            _progress(f"{label}: preparing the hall's clips with espeak-ng")
            done = await Voice(ClipCache(prepared), Espeak()).prepare(
                hall_clips(setup), engine="espeak-ng"
            )
            if done["failed"]:
                raise SystemExit(f"espeak-ng could not render {done['failed']} clips")
            tag = "-".join(languages)
            _progress(f"{label}: {options.calls} calls, warm cache")
            hot = await warm(folder / f"warm-{tag}", setup, options.calls, prepared)
            calls.rows.append(call_row(f"warm, {label}", hot, target=True))
            _progress(f"{label}: {options.calls} calls, empty cache (espeak-ng on the spot)")
            cold = await empty(folder / f"empty-{tag}", setup, options.calls)
            calls.rows.append(call_row(f"empty (espeak-ng fallback), {label}", cold, False))
            calls.notes.append(
                f"{label}: warm {dict(sorted(hot.kinds.items()))}; "
                f"empty {dict(sorted(cold.kinds.items()))}"
            )
        _progress("floors")
        for name, latencies in await floors(folder, options.calls):
            floor.rows.append(
                [
                    name,
                    str(len(latencies)),
                    _ms(percentile(latencies, 50)),
                    _ms(percentile(latencies, 99)),
                    _ms(max(latencies)),
                ]
            )
    finally:
        if options.keep:
            _progress(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    load_after = os.getloadavg()
    head = [
        "## Voice calling benchmark",
        "",
        f"- when: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"took {time.perf_counter() - started:.0f} s",
        f"- machine: {_machine()}",
        f"- load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}"
        + (" — **the machine was busy; rerun when it is quiet**" if load_after[0] > 1 else ""),
        f"- hall: {options.windows} windows in one calling area, prefixes {PREFIXES}, "
        "the default phrase 请{number}号到{window}号窗口办理, each call said twice; "
        "edge-tts off (espeak-ng only)",
        "",
    ]
    text = "\n".join(head) + "\n" + calls.markdown() + "\n" + floor.markdown()
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text, "utf-8")
    return text


def _progress(message: str) -> None:
    sys.stderr.write(f"· {message}\n")
    sys.stderr.flush()


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.voice", description="Benchmark call → announcement audio."
    )
    parser.add_argument("--calls", type=int, default=200, help="calls per run (200)")
    parser.add_argument("--windows", type=int, default=20, help="windows in the hall (20)")
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "voice.md", help="bench/results/voice.md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    return Options(
        calls=max(1, args.calls),
        windows=max(1, args.windows),
        output=args.output,
        keep=args.keep,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    text = asyncio.run(run(options))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
