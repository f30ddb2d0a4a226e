"""The voice player's agent: a window's Pad speaker or an area's amplifier on the device bus.

It plays each `cmd/play` (Ogg/Opus audio with its text) in the order received, one after the
other — a newer announcement waits for the older to end — and answers `voice.played` or
`voice.failed`. The sound goes to ALSA (`AlsaSink`, through `aplay`) or, simulated, to a folder
of WAV files (`WavFolder`, for `hall device simulate voice-player`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any, Protocol

from edge.devices.agent import DeviceAgent
from edge.voice.audio import RATE, AudioError, Pcm, decode, pcm16_bytes, wav_bytes
from sync.devicebus import DeviceCommand

__all__ = ["AlsaSink", "Sink", "VoicePlayerAgent", "WavFolder"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    def play(self, name: str, pcm: Pcm) -> None: ...


class AlsaSink:
    def __init__(self, device: str = "default") -> None:
        self.device = device

    def play(self, name: str, pcm: Pcm) -> None:
        command = ["aplay", "-q", "-D", self.device, "-t", "raw", "-f", "S16_LE", "-r", str(RATE)]
        result = subprocess.run(
            [*command, "-c", "1", "-"],
            input=pcm16_bytes(pcm),
            capture_output=True,
            timeout=len(pcm) / RATE + 10,
            check=False,
        )
        if result.returncode != 0:
            raise OSError(f"aplay on {self.device}: {result.stderr.decode()[:200]}")


class WavFolder:
    def __init__(self, out: Path) -> None:
        self.out = out

    def play(self, name: str, pcm: Pcm) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"{name}.wav").write_bytes(wav_bytes(pcm))


class VoicePlayerAgent(DeviceAgent):
    commands = ("play",)
    firmware = "smarthall-voice-agent"

    def __init__(self, *, sink: Sink, **agent: Any) -> None:
        super().__init__(**agent)
        self.sink = sink
        self.played: list[str] = []
        self._queue: queue.Queue[tuple[str, Pcm, str]] = queue.Queue()
        self._player = threading.Thread(target=self._play_all, name="voice-player", daemon=True)
        self._player.start()

    def telemetry(self) -> dict[str, float | int | str | bool]:
        return {"played": len(self.played), "queued": self._queue.qsize()}

    def command(self, name: str, command: DeviceCommand) -> None:
        try:
            pcm = decode(base64.b64decode(str(command.data["audio"]), validate=True))
        except (KeyError, binascii.Error, AudioError) as exc:
            log.warning("voice agent: audio it cannot read in %s: %s", command.id, exc)
            self.event("voice.failed", {"command": command.id, "error": str(exc)})
            return
        self._queue.put((command.id, pcm, str(command.data.get("text", ""))))

    def _play_all(self) -> None:
        while True:
            name, pcm, text = self._queue.get()
            try:
                self.sink.play(name, pcm)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("voice agent: %s not played: %s", name, exc)
                self.event("voice.failed", {"command": name, "error": str(exc)})
                continue
            self.played.append(name)
            self.event(
                "voice.played",
                {"command": name, "text": text, "duration_ms": len(pcm) * 1000 // RATE},
            )
