"""A stand-in for Microsoft's edge-tts service: its WebSocket protocol, espeak-ng's voice.

It speaks the protocol the `edge-tts` library speaks to `speech.platform.bing.com` (see
`edge_tts/communicate.py`): the client connects with `TrustedClientToken`, `ConnectionId`,
`Sec-MS-GEC` and `Sec-MS-GEC-Version` in the query, sends a `Path:speech.config` text message
and a `Path:ssml` text message, and reads back `turn.start`, `audio.metadata`, the MP3 in
binary messages (two bytes of header length, the headers, the audio) and `turn.end`. Every
message is checked the way the service would check it; what does not conform is recorded in
`violations` and the connection is closed, so a test can fail on it.

The audio is real speech: the requested text said by espeak-ng in the voice's language at the
requested rate, encoded as the service's `audio-24khz-48kbitrate-mono-mp3` (libsndfile's
LAME encoder, constant 48 kbit/s, 24 kHz, mono).

To make it fail: `stop()` it (connections are refused), set `audio = False` (it answers with
no audio, as the service does for a voice it does not know) or `delay` (seconds before it
answers).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from xml.sax.saxutils import escape

import soundfile
import soxr
from aiohttp import WSMsgType, web

from tests.conftest import free_port

__all__ = ["EdgeTtsService", "ProtocolViolation", "SpeechRequest"]

PATH = "/consumer/speech/synthesize/readaloud/edge/v1"
TRUSTED_CLIENT_TOKEN = "6A5AA1D4EAFF4E9FB37E23D68491D6F4"
OUTPUT_FORMAT = "audio-24khz-48kbitrate-mono-mp3"
RATE = 24_000
SSML_NS = "{http://www.w3.org/2001/10/synthesis}"

# the service's locales, as espeak-ng voices
ESPEAK_VOICES = {"zh-CN": "cmn-latn-pinyin", "zh-TW": "cmn-latn-pinyin", "zh-HK": "yue"}
ESPEAK_WPM = 175  # espeak-ng's own default speed stands for the service's "+0%"

_LONG_VOICE = re.compile(
    r"^Microsoft Server Speech Text to Speech Voice \((?P<locale>[a-z]{2,}-[A-Z]{2,}), "
    r"(?P<name>\w+Neural)\)$"
)
_TIMESTAMP = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2} "
    r"GMT\+0000 \(Coordinated Universal Time\)$"
)
_PERCENT = re.compile(r"^[+-]\d+%$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_GEC = re.compile(r"^[0-9A-Fa-f]{16}-[0-9A-Fa-f]{64}$")


class ProtocolViolation(Exception):
    """A client message the real service would not accept."""


@dataclass(frozen=True)
class SpeechRequest:
    """One `ssml` message as the service understood it."""

    voice: str  # as sent: "Microsoft Server Speech Text to Speech Voice (zh-CN, XiaoxiaoNeural)"
    short_voice: str  # as the library's users name it: "zh-CN-XiaoxiaoNeural"
    locale: str
    rate: str
    pitch: str
    volume: str
    text: str  # unescaped
    request_id: str
    connection_id: str


class EdgeTtsService:
    """The service on 127.0.0.1 on a port of its own; `url` is what `EdgeTts(url=...)` takes."""

    def __init__(self, *, frame_bytes: int = 1024, espeak: str = "espeak-ng") -> None:
        self.port = free_port()
        self.frame_bytes = frame_bytes  # audio bytes per binary message
        self.espeak = espeak
        self.audio = True
        self.delay = 0.0
        self.requests: list[SpeechRequest] = []
        self.violations: list[str] = []
        self.connections = 0
        self.frames_sent = 0
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[object]] = set()

    @property
    def url(self) -> str:
        """The address with its query, as the library's `WSS_URL` holds it."""
        return f"ws://127.0.0.1:{self.port}{PATH}?TrustedClientToken={TRUSTED_CLIENT_TOKEN}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        """Listen (again, on the same port after `stop`)."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get(PATH, self._connection)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and drop every connection: the next one is refused."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            for task in self._handlers:
                task.cancel()  # a `delay` still sleeping, an answer half sent
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _connection(self, request: web.Request) -> web.StreamResponse:
        try:
            connection_id = _check_handshake(request)
        except ProtocolViolation as exc:
            self.violations.append(str(exc))
            raise web.HTTPBadRequest(text=str(exc)) from exc
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        configured = False
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    raise ProtocolViolation(f"the client sent a {message.type.name} message")
                headers, body = _split_text(message.data)
                path = headers.get("Path")
                if path == "speech.config":
                    _check_speech_config(headers, body)
                    configured = True
                elif path == "ssml":
                    if not configured:
                        raise ProtocolViolation("ssml before speech.config")
                    said = _parse_ssml(headers, body, connection_id)
                    self.requests.append(said)
                    await self._answer(ws, said)
                else:
                    raise ProtocolViolation(f"unknown Path {path!r}")
        except ProtocolViolation as exc:
            self.violations.append(str(exc))
            await ws.close(code=1008, message=str(exc)[:100].encode())
        return ws

    async def _answer(self, ws: web.WebSocketResponse, said: SpeechRequest) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        rid = said.request_id
        await ws.send_str(_text(rid, "turn.start", {"context": {"serviceTag": uuid.uuid4().hex}}))
        espeak_voice = ESPEAK_VOICES.get(said.locale)
        if self.audio and espeak_voice is not None:
            mp3, seconds = await self._mp3(said.text, espeak_voice, said.rate)
            boundary = {
                "Type": "SentenceBoundary",
                "Data": {
                    "Offset": 1_000_000,
                    "Duration": int(seconds * 10_000_000),
                    "text": {
                        "Text": escape(said.text),
                        "Length": len(said.text),
                        "BoundaryType": "SentenceBoundary",
                    },
                },
            }
            await ws.send_str(_text(rid, "audio.metadata", {"Metadata": [boundary]}))
            stream = uuid.uuid4().hex.upper()
            for start in range(0, len(mp3), self.frame_bytes):
                chunk = mp3[start : start + self.frame_bytes]
                await ws.send_bytes(_audio(rid, stream, chunk))
                self.frames_sent += 1
            await ws.send_bytes(_audio(rid, stream, b""))  # the end of the stream: no type, no data
        await ws.send_str(_text(rid, "turn.end", {}))

    async def _mp3(self, text: str, espeak_voice: str, rate: str) -> tuple[bytes, float]:
        wpm = max(80, min(450, round(ESPEAK_WPM * (1 + int(rate[:-1]) / 100))))
        proc = await asyncio.create_subprocess_exec(
            self.espeak,
            "-v",
            espeak_voice,
            "-s",
            str(wpm),
            "--stdout",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        wav, err = await proc.communicate(text.encode("utf-8"))
        if proc.returncode != 0:
            raise RuntimeError(f"espeak-ng failed: {err.decode()[:200]}")
        return await asyncio.to_thread(_encode_mp3, wav)


def _encode_mp3(wav: bytes) -> tuple[bytes, float]:
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    pcm = soxr.resample(samples, rate, RATE)
    out = io.BytesIO()
    soundfile.write(
        out,
        pcm,
        RATE,
        format="MP3",
        subtype="MPEG_LAYER_III",
        bitrate_mode="CONSTANT",
        compression_level=0.74,  # libsndfile's level for 48 kbit/s at 24 kHz
    )
    return out.getvalue(), len(pcm) / RATE


def _check_handshake(request: web.Request) -> str:
    query = request.query
    if query.get("TrustedClientToken") != TRUSTED_CLIENT_TOKEN:
        raise ProtocolViolation("wrong or missing TrustedClientToken")
    connection_id = query.get("ConnectionId", "")
    if not _HEX32.match(connection_id):
        raise ProtocolViolation(f"ConnectionId {connection_id!r} is not 32 hex digits")
    if not _GEC.match(query.get("Sec-MS-GEC", "")):
        raise ProtocolViolation(f"Sec-MS-GEC {query.get('Sec-MS-GEC')!r} is malformed")
    if not re.match(r"^\d+-[\d.]+$", query.get("Sec-MS-GEC-Version", "")):
        raise ProtocolViolation("Sec-MS-GEC-Version is missing")
    if not request.headers.get("Origin", "").startswith("chrome-extension://"):
        raise ProtocolViolation("the Origin is not Edge's Read Aloud extension")
    if "muid=" not in request.headers.get("Cookie", ""):
        raise ProtocolViolation("no muid cookie")
    return connection_id


def _split_text(data: str) -> tuple[dict[str, str], str]:
    """A text message: `Name:value` lines, an empty line, the body."""
    head, sep, body = data.partition("\r\n\r\n")
    if not sep:
        raise ProtocolViolation("a text message without the empty line after its headers")
    headers: dict[str, str] = {}
    for line in head.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolViolation(f"header line {line!r} has no colon")
        headers[name] = value
    return headers, body


def _check_timestamp(headers: dict[str, str], *, z: bool) -> None:
    stamp = headers.get("X-Timestamp", "")
    if z:  # the ssml message's stamp ends in "Z" (a bug of Edge's that the library copies)
        if not stamp.endswith("Z"):
            raise ProtocolViolation(f"ssml X-Timestamp {stamp!r} does not end in Z")
        stamp = stamp[:-1]
    if not _TIMESTAMP.match(stamp):
        raise ProtocolViolation(f"X-Timestamp {stamp!r} is not a JavaScript date")


def _check_speech_config(headers: dict[str, str], body: str) -> None:
    _check_timestamp(headers, z=False)
    if headers.get("Content-Type") != "application/json; charset=utf-8":
        raise ProtocolViolation(f"speech.config Content-Type {headers.get('Content-Type')!r}")
    try:
        config = json.loads(body)
        audio = config["context"]["synthesis"]["audio"]
        options = audio["metadataoptions"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolViolation(f"speech.config body {body[:80]!r}: {exc}") from exc
    if audio.get("outputFormat") != OUTPUT_FORMAT:
        raise ProtocolViolation(f"output format {audio.get('outputFormat')!r}")
    for name in ("sentenceBoundaryEnabled", "wordBoundaryEnabled"):
        if options.get(name) not in ("true", "false"):
            raise ProtocolViolation(f"speech.config {name} is {options.get(name)!r}")


def _parse_ssml(headers: dict[str, str], body: str, connection_id: str) -> SpeechRequest:
    _check_timestamp(headers, z=True)
    request_id = headers.get("X-RequestId", "")
    if not _HEX32.match(request_id):
        raise ProtocolViolation(f"X-RequestId {request_id!r} is not 32 hex digits")
    if headers.get("Content-Type") != "application/ssml+xml":
        raise ProtocolViolation(f"ssml Content-Type {headers.get('Content-Type')!r}")
    try:
        speak = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ProtocolViolation(f"the SSML is not XML: {exc}") from exc
    voice = speak.find(f"{SSML_NS}voice")
    prosody = voice.find(f"{SSML_NS}prosody") if voice is not None else None
    if speak.tag != f"{SSML_NS}speak" or voice is None or prosody is None:
        raise ProtocolViolation(f"the SSML is not speak/voice/prosody: {body[:120]!r}")
    name = voice.get("name", "")
    long_name = _LONG_VOICE.match(name)
    if long_name is None:
        raise ProtocolViolation(f"voice name {name!r}")
    rate, pitch, volume = (prosody.get(a, "") for a in ("rate", "pitch", "volume"))
    if not _PERCENT.match(rate) or not _PERCENT.match(volume) or not pitch.endswith("Hz"):
        raise ProtocolViolation(f"prosody rate={rate!r} pitch={pitch!r} volume={volume!r}")
    text = prosody.text or ""
    if not text.strip() or len(prosody):
        raise ProtocolViolation(f"the prosody holds no plain text: {body[:120]!r}")
    locale = long_name["locale"]
    return SpeechRequest(
        voice=name,
        short_voice=f"{locale}-{long_name['name']}",
        locale=locale,
        rate=rate,
        pitch=pitch,
        volume=volume,
        text=text,
        request_id=request_id,
        connection_id=connection_id,
    )


def _text(request_id: str, path: str, body: dict[str, Any]) -> str:
    return (
        f"X-RequestId:{request_id}\r\n"
        "Content-Type:application/json; charset=utf-8\r\n"
        f"Path:{path}\r\n\r\n" + json.dumps(body, ensure_ascii=False)
    )


def _audio(request_id: str, stream: str, chunk: bytes) -> bytes:
    """A binary message: header length (2 bytes, big-endian), the headers, the MP3 bytes."""
    head = f"X-RequestId:{request_id}\r\n"
    if chunk:
        head += "Content-Type:audio/mpeg\r\n"
    head += f"X-StreamId:{stream}\r\nPath:audio\r\n"
    encoded = head.encode("ascii")
    return len(encoded).to_bytes(2, "big") + encoded + chunk
