"""The clip cache: every piece a hall's announcements need, rendered once and kept on disk.

A clip is a trimmed WAV file at `<root>/<engine>/<language>/<speed>/<sha256 of text>.wav`: the
text decides the name, so the cache needs no index and survives restarts, copies and partial
writes (a clip is written to a temporary name and renamed). Clips are read into memory on first
use; a hall needs a few hundred, a few megabytes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from edge.voice.audio import AudioError, Pcm, decode, wav_bytes
from sync.voice import Language, Speed

__all__ = ["ENGINES", "ClipCache"]

log = logging.getLogger(__name__)

# engines in order of preference: an announcement uses the first that has all its clips
ENGINES = ("edge-tts", "espeak-ng")


class ClipCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._memory: dict[Path, Pcm] = {}
        self._lock = threading.Lock()

    def path(self, engine: str, lang: Language, speed: Speed, text: str) -> Path:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
        return self.root / engine / lang / speed / f"{digest}.wav"

    def get(self, engine: str, lang: Language, speed: Speed, text: str) -> Pcm | None:
        path = self.path(engine, lang, speed, text)
        with self._lock:
            pcm = self._memory.get(path)
        if pcm is not None:
            return pcm
        try:
            pcm = decode(path.read_bytes())
        except (OSError, AudioError):
            return None
        with self._lock:
            self._memory[path] = pcm
        return pcm

    def has(self, engine: str, lang: Language, speed: Speed, text: str) -> bool:
        path = self.path(engine, lang, speed, text)
        with self._lock:
            if path in self._memory:
                return True
        return path.exists()

    def put(self, engine: str, lang: Language, speed: Speed, text: str, pcm: Pcm) -> None:
        path = self.path(engine, lang, speed, text)
        data = wav_bytes(pcm)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:
            # a full or read-only disk: the clip is still said, from memory, and not kept
            log.warning("voice: clip %r not kept on disk: %s", text, exc)
        with self._lock:
            self._memory[path] = decode(data)  # as a later read from disk gives it

    def count(self) -> dict[str, int]:
        """Clips on disk by engine."""
        return {
            engine: sum(1 for _ in (self.root / engine).rglob("*.wav"))
            for engine in ENGINES
            if (self.root / engine).is_dir()
        }
