"""Saying pieces of text: from the clip cache when it has them, by espeak-ng when it does not.

An announcement takes all its clips from one engine, the first in `ENGINES` that has every
clip, so that a call is never said in two voices. When neither has them all, the missing
espeak-ng clips are rendered on the spot (milliseconds, no network) and kept; the texts are
remembered so that `fill` renders them with edge-tts once the network allows. A call never
waits on the network.
"""

from __future__ import annotations

import asyncio
import logging
import random
import string
import time
from collections import Counter
from collections.abc import Iterable

from edge.voice.audio import Pcm, join, trim
from edge.voice.cache import ENGINES, ClipCache
from edge.voice.synth import EdgeTts, Espeak, SynthesisError, Synthesizer
from sync.voice import (
    LANGUAGES,
    PROMPTS,
    SPEEDS,
    Language,
    Piece,
    Speed,
    VoiceSetup,
    call_pieces,
)

__all__ = ["ClipKey", "Voice", "clips_needed"]

log = logging.getLogger(__name__)

ClipKey = tuple[Language, Speed, str]


class Voice:
    def __init__(self, cache: ClipCache, espeak: Espeak, online: EdgeTts | None = None) -> None:
        self.cache = cache
        self.espeak = espeak
        self.online = online
        self.stats: Counter[str] = Counter()
        self.wanted: set[ClipKey] = set()  # clips edge-tts should render when it can
        self.last_error = ""
        self._retry_at = 0.0
        self._backoff = 30.0

    async def say(self, pieces: list[Piece], lang: Language, speed: Speed) -> Pcm:
        """One utterance: its clips joined with their gaps."""
        for engine in self._engines():
            clips = [self.cache.get(engine, lang, speed, p.text) for p in pieces]
            if all(c is not None for c in clips):
                self.stats[f"from_{engine}"] += 1
                if engine != "edge-tts" and self.online is not None:
                    # said in the offline voice: edge-tts renders these when it can
                    self.wanted.update(
                        (lang, speed, p.text)
                        for p in pieces
                        if not self.cache.has("edge-tts", lang, speed, p.text)
                    )
                return join(
                    [(c, p.gap_ms) for c, p in zip(clips, pieces, strict=True) if c is not None]
                )
        self.stats["espeak_fallback"] += 1
        missing = [
            p.text for p in pieces if not self.cache.has(self.espeak.name, lang, speed, p.text)
        ]
        rendered = await asyncio.gather(
            *(self.espeak.render(text, lang, speed) for text in dict.fromkeys(missing))
        )
        for text, pcm in zip(dict.fromkeys(missing), rendered, strict=True):
            self.cache.put(self.espeak.name, lang, speed, text, trim(pcm))
        if self.online is not None:
            self.wanted.update((lang, speed, p.text) for p in pieces)
        parts: list[tuple[Pcm, int]] = []
        for p in pieces:
            clip = self.cache.get(self.espeak.name, lang, speed, p.text)
            if clip is None:
                raise SynthesisError(f"the clip {p.text!r} cannot be read back from the cache")
            parts.append((clip, p.gap_ms))
        return join(parts)

    def _engines(self) -> list[str]:
        return [e for e in ENGINES if e != "edge-tts" or self.online is not None]

    async def prepare(
        self, keys: Iterable[ClipKey], *, engine: str = "auto", concurrency: int = 4
    ) -> Counter[str]:
        """Render every clip the cache lacks: edge-tts first (`auto`), espeak-ng where it fails."""
        done: Counter[str] = Counter()
        todo = sorted(set(keys))
        gate = asyncio.Semaphore(concurrency)
        online = self.online if engine in ("auto", "edge-tts") else None

        async def one(key: ClipKey) -> None:
            lang, speed, text = key
            async with gate:
                if online is not None:
                    if self.cache.has(online.name, lang, speed, text):
                        done["present"] += 1
                        return
                    if time.monotonic() >= self._retry_at and await self._render_into(online, key):
                        done[online.name] += 1
                        return
                    if engine == "edge-tts":
                        done["failed"] += 1
                        return
                if self.cache.has(self.espeak.name, lang, speed, text):
                    done["present"] += 1
                    return
                if await self._render_into(self.espeak, key):
                    done[self.espeak.name] += 1
                else:
                    done["failed"] += 1

        await asyncio.gather(*(one(k) for k in todo))
        return done

    async def _render_into(self, synth: Synthesizer, key: ClipKey) -> bool:
        lang, speed, text = key
        try:
            pcm = await synth.render(text, lang, speed)
        except SynthesisError as exc:
            self.last_error = str(exc)
            if synth is self.online and time.monotonic() >= self._retry_at:
                # the service is away: do not ask it again for a while (backoff with jitter),
                # counted once per outage however many clips were on their way
                self._retry_at = time.monotonic() + self._backoff * random.uniform(0.5, 1.5)
                self._backoff = min(self._backoff * 2, 1800.0)
            log.warning("voice: %s could not say %r: %s", synth.name, text, exc)
            return False
        if synth is self.online:
            self._backoff = 30.0
        self.cache.put(synth.name, lang, speed, text, trim(pcm))
        return True

    async def fill(self, interval: float = 10.0) -> None:
        """Forever: render with edge-tts the clips announcements lacked, while it is reachable."""
        while True:
            await asyncio.sleep(interval)
            if self.online is None or not self.wanted or time.monotonic() < self._retry_at:
                continue
            keys, self.wanted = set(self.wanted), set()
            done = await self.prepare(keys, engine="edge-tts", concurrency=2)
            self.stats["filled"] += done["edge-tts"]
            if done["failed"]:
                self.wanted |= {k for k in keys if not self.cache.has("edge-tts", *k)}


def clips_needed(
    setup: VoiceSetup,
    *,
    prefixes: Iterable[str],
    windows: Iterable[tuple[str, str]],
    services: Iterable[str] = (),
    languages: Iterable[Language] = LANGUAGES,
    speeds: Iterable[Speed] = SPEEDS,
) -> set[ClipKey]:
    """Every clip a hall's calls and prompts can use, in every language and speed.

    `windows` are (number, name) pairs; `prefixes` the ticket letters. Digits cover any number.
    """
    windows = list(windows)
    services = list(services)
    letters = "".join(prefixes) + "0123456789"
    texts: dict[Language, set[str]] = {}
    for lang in languages:
        templates = {setup.templates[lang]} | {
            a.templates[lang] for a in setup.areas if lang in a.templates
        }
        own: set[str] = set()
        for template in templates:
            parts = list(string.Formatter().parse(template))
            fields = {f for _, f, _, _ in parts if f}
            own |= {literal.strip() for literal, _, _, _ in parts if literal.strip()}
            own |= {p.text for p in call_pieces("{number}", number=letters, window="")}
            if "window" in fields:
                for number, _ in windows:
                    own |= {p.text for p in call_pieces("{window}", number="", window=number)}
            if "window_name" in fields:
                own |= {name for _, name in windows if name}
            if "service" in fields:
                own |= {s for s in services if s}
        own |= {setup.prompts[lang][p] for p in PROMPTS}
        texts[lang] = own
    return {(lang, speed, text) for lang in texts for speed in speeds for text in texts[lang]}
