"""Speech synthesizers: edge-tts (neural voices, needs the network) and espeak-ng (offline).

Both turn one piece of text into audio in one language at one of three speeds. espeak-ng's
Mandarin voice is `cmn-latn-pinyin`: Debian's plain `cmn` reads the tone numbers of its own
pinyin as English ("qing three"), the pinyin variant reads them as tones.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import ClassVar, Protocol

import edge_tts
import edge_tts.communicate
import edge_tts.constants

from edge.voice.audio import AudioError, Pcm, decode
from sync.voice import Language, Speed

__all__ = ["EdgeTts", "Espeak", "SynthesisError", "Synthesizer"]

_SERVICE_URL: str = edge_tts.constants.WSS_URL

log = logging.getLogger(__name__)


class SynthesisError(Exception):
    """A synthesizer could not say the text; the message says why."""


class Synthesizer(Protocol):
    name: str

    async def render(self, text: str, lang: Language, speed: Speed) -> Pcm: ...


class Espeak:
    """espeak-ng as a child process: about 10 ms for a short phrase, no network."""

    name = "espeak-ng"
    VOICES: ClassVar[dict[Language, str]] = {"cmn": "cmn-latn-pinyin", "yue": "yue"}
    WORDS_PER_MINUTE: ClassVar[dict[Speed, int]] = {"normal": 150, "fast": 200, "slow": 110}

    def __init__(self, binary: str = "espeak-ng") -> None:
        self.binary = binary

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    async def render(self, text: str, lang: Language, speed: Speed) -> Pcm:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "-v",
                self.VOICES[lang],
                "-s",
                str(self.WORDS_PER_MINUTE[speed]),
                "--stdout",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SynthesisError(f"espeak-ng cannot be started ({self.binary}): {exc}") from exc
        # the text goes in on stdin: a text starting with "-" is not taken for an option
        out, err = await proc.communicate(text.encode("utf-8"))
        if proc.returncode != 0:
            raise SynthesisError(f"espeak-ng failed ({proc.returncode}): {err.decode()[:200]}")
        try:
            return decode(out)
        except AudioError as exc:
            raise SynthesisError(f"espeak-ng gave no audio: {exc}") from exc


class EdgeTts:
    """Microsoft's online neural voices through the edge-tts library.

    `url` replaces the service's WebSocket address (a proxy inside a government network, or a
    test double speaking the same protocol); empty means the public service.
    """

    name = "edge-tts"
    VOICES: ClassVar[dict[Language, str]] = {
        "cmn": "zh-CN-XiaoxiaoNeural",
        "yue": "zh-HK-HiuGaaiNeural",
    }
    RATES: ClassVar[dict[Speed, str]] = {"normal": "+0%", "fast": "+30%", "slow": "-25%"}

    def __init__(self, url: str = "", timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    async def render(self, text: str, lang: Language, speed: Speed) -> Pcm:
        # the library reads its service address from this module global
        vars(edge_tts.communicate)["WSS_URL"] = self.url or _SERVICE_URL
        communicate = edge_tts.Communicate(
            text,
            self.VOICES[lang],
            rate=self.RATES[speed],
            connect_timeout=max(1, int(self.timeout)),
            receive_timeout=max(1, int(self.timeout)),
        )
        audio = bytearray()
        try:
            async with asyncio.timeout(self.timeout):
                async for chunk in communicate.stream():
                    if chunk["type"] == "audio":
                        audio += chunk["data"]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the library lets parse errors of a bad answer through
            raise SynthesisError(f"edge-tts: {type(exc).__name__}: {exc}") from exc
        try:
            return decode(bytes(audio))
        except AudioError as exc:
            raise SynthesisError(f"edge-tts sent audio that cannot be read: {exc}") from exc
