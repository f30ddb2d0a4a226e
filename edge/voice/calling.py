"""Calling aloud (§4.2.3) and the window prompts (§5.2.2–§5.2.6), from the event log.

Every committed call or recall becomes an announcement in the calling area where the ticket
was issued: the area's phrase in each of its languages in turn, said `repeat` times, at its
speed, unless the area is silent. The window prompts — one-meter line, paused, backstage,
please evaluate, thank you — go to that window's own player (its Pad's speaker), never to the
hall speakers. Each area and each window has one queue: announcements follow each other
without overlapping, and a newer call never cuts an older one off.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.devices.bus import DeviceBus
from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine, QueueError
from edge.queue.store import Event, EventFeed
from edge.voice.audio import RATE, Pcm, join, opus_bytes, pcm16_bytes, silence
from edge.voice.settings import AreaSettings, area_settings
from edge.voice.speech import Voice
from edge.voice.synth import SynthesisError
from sync.devicebus import DeviceCommand
from sync.voice import Language, Piece, PromptName, call_pieces

__all__ = ["Announcement", "DevicePlayers", "LocalSpeaker", "Output", "VoiceCalling"]

log = logging.getLogger(__name__)

REPEAT_GAP_MS = 700  # between two sayings of one call
LANGUAGE_GAP_MS = 400  # between the languages of one saying
_PROMPTS: dict[str, PromptName] = {
    "window.one_meter_line": "one_meter_line",
    "window.paused": "paused",
    "window.backstage": "backstage",
    "ticket.evaluated": "thanks",
}
_CALLS = ("ticket.called", "ticket.recalled")


@dataclass
class Announcement:
    """What one event makes the hall say, and where."""

    event: int  # the event's sequence number
    kind: str  # "call" or a prompt name
    area: str
    window: str  # set for a window prompt: said by that window's player only
    settings: AreaSettings
    lines: list[tuple[Language, list[Piece]]]
    repeat: int
    seen_ns: int = field(default_factory=time.perf_counter_ns)

    @property
    def target(self) -> str:
        return f"window:{self.window}" if self.kind != "call" else f"area:{self.area}"

    @property
    def text(self) -> str:
        return " / ".join("".join(p.text for p in pieces) for _, pieces in self.lines)


class Output(Protocol):
    """Where an announcement's audio goes; `play` returns when it may be followed."""

    def wants(self, announcement: Announcement) -> bool: ...

    async def play(self, announcement: Announcement, pcm: Pcm) -> None: ...


class LocalSpeaker:
    """The edge box's own sound output, through ALSA's `aplay` (PulseAudio via ALSA's default).

    A failing output is logged once until it works again, not at every call.
    """

    def __init__(self, device: str = "default", areas: list[str] | None = None) -> None:
        self.device = device
        self.areas = areas or []
        self.played: list[tuple[int, int, str]] = []  # (start ns, end ns, text), the last 100
        self.failures = 0
        self._failing = False

    def wants(self, announcement: Announcement) -> bool:
        return announcement.kind == "call" and (not self.areas or announcement.area in self.areas)

    async def play(self, announcement: Announcement, pcm: Pcm) -> None:
        start = time.perf_counter_ns()
        problem = await self._aplay(pcm)
        if problem:
            self.failures += 1
            if not self._failing:
                log.warning("voice: no sound on %s: %s", self.device, problem)
            self._failing = True
            return
        if self._failing:
            log.info("voice: sound on %s works again", self.device)
        self._failing = False
        self.played = [*self.played[-99:], (start, time.perf_counter_ns(), announcement.text)]

    async def _aplay(self, pcm: Pcm) -> str:
        args = ["-q", "-D", self.device, "-t", "raw", "-f", "S16_LE", "-r", str(RATE), "-c", "1"]
        try:
            proc = await asyncio.create_subprocess_exec(
                "aplay", *args, "-", stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            return f"aplay cannot be started: {exc}"
        try:
            async with asyncio.timeout(len(pcm) / RATE + 10):
                _, err = await proc.communicate(pcm16_bytes(pcm))
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return "aplay did not finish; stopped"
        return err.decode()[:200].strip() or "aplay failed" if proc.returncode else ""


class DevicePlayers:
    """Voice players on the device bus: an area's (no window) for calls, a window's for prompts.

    Each gets `cmd/play` with the audio as Ogg/Opus (a few kB a second) and plays its commands
    one after another.
    """

    def __init__(self, registry: DeviceRegistry, bus: DeviceBus, *, calls: bool = True) -> None:
        self.registry = registry
        self.bus = bus
        self.calls = calls  # False: the area's calls play on the box, only prompts go out
        self.sent = 0

    def players(self, announcement: Announcement) -> list[str]:
        return [
            d.id
            for d in self.registry.devices()
            if d.kind == "voice_player"
            and (
                d.window == announcement.window
                if announcement.kind != "call"
                else d.area == announcement.area and not d.window
            )
        ]

    def wants(self, announcement: Announcement) -> bool:
        if announcement.kind == "call" and not self.calls:
            return False
        return bool(self.players(announcement))

    async def play(self, announcement: Announcement, pcm: Pcm) -> None:
        audio = await asyncio.to_thread(opus_bytes, pcm)
        data = {
            "format": "ogg/opus",
            "audio": base64.b64encode(audio).decode(),
            "text": announcement.text,
            "kind": announcement.kind,
            "duration_ms": len(pcm) * 1000 // RATE,
        }
        for device in self.players(announcement):
            command = DeviceCommand(id=f"voice-{announcement.event}", data=data)
            self.bus.command(device, "play", command)
            self.sent += 1


class VoiceCalling:
    def __init__(self, engine: QueueEngine, voice: Voice, outputs: list[Output]) -> None:
        self.engine = engine
        self.voice = voice
        self.outputs = outputs
        self.stats: Counter[str] = Counter()
        self.ready: list[Callable[[Announcement, Pcm], None]] = []  # observers (bench, tests)
        self._queues: dict[str, asyncio.Queue[Announcement]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._feed = EventFeed(
            engine.store,
            lambda e: e.type in _CALLS or e.type in _PROMPTS or e.type == "ticket.finished",
        )

    async def run(self) -> None:
        try:
            while True:
                event = await self._feed.get()
                try:
                    announcement = self.announcement(event)
                except (QueueError, KeyError, ValueError) as exc:
                    log.warning(
                        "voice: event %s (%s) not announced: %s", event.seq, event.type, exc
                    )
                    continue
                if announcement is not None:
                    self._enqueue(announcement)
        finally:
            for task in self._workers:
                task.cancel()
            for task in self._workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def announcement(self, event: Event) -> Announcement | None:
        """What `event` makes the hall say, or None."""
        if not self.engine.configured:
            return None
        hall = self.engine.hall
        voice = hall.setup.voice
        ticket: dict[str, Any] = event.payload.get("ticket") or {}
        window: dict[str, Any] = event.payload.get("window") or {}
        if event.type in _CALLS:
            area = str(ticket["area"])
            settings = area_settings(self.engine, area)
            if settings.silent:
                self.stats["silent"] += 1
                return None
            at = hall.windows.get(str(ticket.get("window") or ""))
            lines = [
                (
                    lang,
                    call_pieces(
                        voice.template(area, lang),
                        number=str(ticket["number"]),
                        window=str(ticket.get("window_number") or (at.number if at else "")),
                        window_name=at.name if at else "",
                        service=str(ticket.get("business_type_name") or ""),
                    ),
                )
                for lang in settings.languages
            ]
            return Announcement(event.seq, "call", area, "", settings, lines, settings.repeat)
        prompt = _PROMPTS.get(event.type)
        if event.type == "ticket.finished" and event.payload.get("evaluation_requested"):
            prompt = "evaluate"
        if prompt is None:
            return None
        window_id = str(window.get("id") or ticket.get("window") or "")
        at = hall.windows.get(window_id)
        if at is None:
            return None
        settings = area_settings(self.engine, at.area)
        lines = [(lang, [Piece(voice.prompts[lang][prompt], 0)]) for lang in settings.languages]
        return Announcement(event.seq, prompt, at.area, at.id, settings, lines, 1)

    def _enqueue(self, announcement: Announcement) -> None:
        outputs = [o for o in self.outputs if o.wants(announcement)]
        if not outputs:
            self.stats["unheard"] += 1
            return
        queue = self._queues.get(announcement.target)
        if queue is None:
            queue = self._queues[announcement.target] = asyncio.Queue()
            self._workers.append(asyncio.create_task(self._speak(queue)))
        queue.put_nowait(announcement)

    async def _speak(self, queue: asyncio.Queue[Announcement]) -> None:
        while True:
            announcement = await queue.get()
            try:
                pcm = await self.render(announcement)
            except SynthesisError as exc:
                self.stats["failed"] += 1
                log.warning("voice: %s not said: %s", announcement.text, exc)
                continue
            except Exception:
                # whatever it was, the area's queue goes on with the next announcement
                self.stats["failed"] += 1
                log.exception("voice: %s not said", announcement.text)
                continue
            self.stats["announced"] += 1
            for observer in self.ready:
                observer(announcement, pcm)
            for output in self.outputs:
                if output.wants(announcement):
                    try:
                        await output.play(announcement, pcm)
                    except Exception:
                        log.exception("voice: output %s failed", type(output).__name__)

    async def render(self, announcement: Announcement) -> Pcm:
        """The whole announcement: each language in turn, said `repeat` times."""
        speed = announcement.settings.speed
        # the languages are rendered together: espeak-ng fallbacks run side by side
        said = await asyncio.gather(
            *(self.voice.say(pieces, lang, speed) for lang, pieces in announcement.lines)
        )
        sayings: list[tuple[Pcm, int]] = []
        for _ in range(announcement.repeat):
            sayings += [(pcm, LANGUAGE_GAP_MS) for pcm in said]
            sayings[-1] = (sayings[-1][0], REPEAT_GAP_MS)
        sayings[-1] = (sayings[-1][0], 0)
        return join(sayings) if sayings else silence(0)
