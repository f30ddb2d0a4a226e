"""edge-tts as the hall uses it, against a double of Microsoft's service on loopback.

The double (`edge_tts_service.py`) speaks the service's WebSocket protocol and answers with
real speech (espeak-ng, MP3); everything of ours is the real code: `EdgeTts`, `Voice`, the
clip cache, `VoiceCalling` and `hall voice prepare` in a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge.config import load_config
from edge.queue import QueueEngine
from edge.queue.store import EventFeed
from edge.voice.audio import Pcm, join
from edge.voice.calling import Announcement, VoiceCalling
from edge.voice.prepare import hall_clips, voice_of
from edge.voice.speech import ClipKey, Voice
from edge.voice.synth import EdgeTts, SynthesisError
from sync.voice import Language, Piece, Speed
from tests.conftest import stop, until
from tests.edge.hall import small_hall
from tests.edge.voice.conftest import measure
from tests.edge.voice.edge_tts_service import EdgeTtsService

HALL_COMMAND = [sys.executable, "-m", "smarthall"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def service() -> AsyncIterator[EdgeTtsService]:
    """The double, listening; a test fails if the library sent anything it would refuse."""
    async with EdgeTtsService() as running:
        yield running
    assert not running.violations


@pytest.fixture
def stopped() -> EdgeTtsService:
    """The double, not started: nothing listens at its address (the network to Microsoft is
    down) until a test starts it."""
    return EdgeTtsService()


@dataclass(frozen=True)
class Hall:
    config: Path
    keys: set[ClipKey]

    def voice(self) -> Voice:
        """The hall's voice as the node builds it from the configuration."""
        return voice_of(load_config(self.config), self.config.parent)


@pytest.fixture
def hall(tmp_path: Path, stopped: EdgeTtsService) -> Hall:
    """An edge configuration whose `[voice] edge_tts_url` is the `stopped` double's address."""
    setup = small_hall()
    (tmp_path / "setup.json").write_text(setup.model_dump_json(), "utf-8")
    url = stopped.url
    config = tmp_path / "edge.toml"
    config.write_text(
        '[node]\ndata_dir = "data"\nsetup_file = "setup.json"\n'
        "[mqtt]\nenabled = false\n"
        f'[voice]\nedge_tts_url = "{url}"\nedge_tts_timeout = 3\n',
        "utf-8",
    )
    return Hall(config, hall_clips(setup))


async def prepare(config: Path, engine: str = "auto") -> tuple[int, str]:
    """`hall voice prepare` in a subprocess; the event loop keeps serving the double."""
    proc = await asyncio.create_subprocess_exec(
        *HALL_COMMAND,
        "voice",
        "prepare",
        "--config",
        str(config),
        "--engine",
        engine,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    async with asyncio.timeout(60):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def call_aloud(engine: QueueEngine, calling: VoiceCalling) -> tuple[Announcement, Pcm]:
    """A ticket taken at the kiosk, called at window 1, and its announcement rendered."""
    feed = EventFeed(engine.store, lambda e: e.type == "ticket.called")
    engine.window_login("w1", engine.hall.staff["s1"])
    engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="kiosk:k1")
    engine.call_next("w1", "staff:s1")
    announcement = calling.announcement(await feed.get())
    assert announcement is not None
    return announcement, await calling.render(announcement)


async def recall_aloud(engine: QueueEngine, calling: VoiceCalling) -> Announcement:
    """Window 1 calls its ticket again; the announcement rendered."""
    feed = EventFeed(engine.store, lambda e: e.type == "ticket.recalled")
    engine.recall("w1", "staff:s1")
    announcement = calling.announcement(await feed.get())
    assert announcement is not None
    await calling.render(announcement)
    return announcement


def from_cache(voice: Voice, engine: str, pieces: list[Piece], lang: Language, speed: Speed) -> Pcm:
    """What saying `pieces` sounds like from `engine`'s clips alone."""
    clips = [voice.cache.get(engine, lang, speed, p.text) for p in pieces]
    assert all(c is not None for c in clips), f"{engine} lacks clips"
    return join([(c, p.gap_ms) for c, p in zip(clips, pieces, strict=True) if c is not None])


CALL = [Piece("请", 90), Piece("A", 40), Piece("零", 40), Piece("一", 40), Piece("号到", 90)]


# ------------------------------------------------------------------- the service's protocol


@pytest.mark.parametrize(
    ("lang", "speed", "voice_name", "rate"),
    [
        ("cmn", "normal", "zh-CN-XiaoxiaoNeural", "+0%"),
        ("cmn", "fast", "zh-CN-XiaoxiaoNeural", "+30%"),
        ("yue", "slow", "zh-HK-HiuGaaiNeural", "-25%"),
        ("yue", "normal", "zh-HK-HiuGaaiNeural", "+0%"),
    ],
)
async def test_edge_tts_asks_for_the_language_voice_at_the_speed_rate(
    service: EdgeTtsService, lang: Language, speed: Speed, voice_name: str, rate: str
) -> None:
    pcm = await EdgeTts(service.url).render("请在一米线外等候", lang, speed)

    [request] = service.requests
    assert (request.short_voice, request.rate, request.text) == (
        voice_name,
        rate,
        "请在一米线外等候",
    )
    assert service.frames_sent > 2  # the MP3 came in several binary messages
    heard = measure(pcm)
    assert heard.seconds > 0.8 and heard.voiced > 0.4


async def test_a_slow_clip_from_edge_tts_is_longer_than_a_fast_one(
    service: EdgeTtsService,
) -> None:
    online = EdgeTts(service.url)
    slow, normal, fast = [
        measure(await online.render("请到三号窗口办理", "cmn", speed)).seconds
        for speed in ("slow", "normal", "fast")
    ]
    assert slow > normal > fast


async def test_text_reaches_the_service_as_written(service: EdgeTtsService) -> None:
    # the library escapes the text into the SSML; the service reads it back unescaped
    text = "A&B <3> 'x' \"y\""
    await EdgeTts(service.url).render(text, "cmn", "normal")
    assert [r.text for r in service.requests] == [text]


async def test_a_service_that_sends_no_audio_is_a_synthesis_error(
    service: EdgeTtsService,
) -> None:
    service.audio = False
    with pytest.raises(SynthesisError, match="NoAudioReceived"):
        await EdgeTts(service.url).render("暂停服务", "cmn", "normal")


async def test_a_slow_service_is_given_up_after_the_timeout(service: EdgeTtsService) -> None:
    service.delay = 5.0
    started = time.monotonic()
    with pytest.raises(SynthesisError, match="TimeoutError"):
        await EdgeTts(service.url, timeout=0.3).render("暂停服务", "cmn", "normal")
    assert time.monotonic() - started < 1.5


async def test_an_unreachable_service_is_a_synthesis_error_at_once(
    stopped: EdgeTtsService,
) -> None:
    started = time.monotonic()
    with pytest.raises(SynthesisError, match="edge-tts"):
        await EdgeTts(stopped.url).render("暂停服务", "cmn", "normal")
    assert time.monotonic() - started < 1.0


# ------------------------------------------------------------------- hall voice prepare


async def test_prepare_fills_the_cache_with_edge_tts_clips_for_every_clip_of_the_hall(
    hall: Hall, stopped: EdgeTtsService
) -> None:
    service = stopped
    await service.start()
    try:
        code, out = await prepare(hall.config)
    finally:
        await service.stop()

    assert code == 0, out
    assert f"{len(hall.keys)} clips" in out and f"edge-tts {len(hall.keys)}" in out, out
    assert "espeak-ng" not in out.split(";")[0] and "last error" not in out
    voice = hall.voice()
    assert all(voice.cache.has("edge-tts", *key) for key in hall.keys)
    assert voice.cache.count() == {"edge-tts": len(hall.keys)}
    asked = {(r.short_voice, r.rate, r.text) for r in service.requests}
    assert asked == {
        (EdgeTts.VOICES[lang], EdgeTts.RATES[speed], text) for lang, speed, text in hall.keys
    }
    assert not service.violations


async def test_prepare_falls_back_to_espeak_when_edge_tts_is_unreachable(
    hall: Hall, engine: QueueEngine
) -> None:
    code, out = await prepare(hall.config)

    assert code == 0, out
    assert f"espeak-ng {len(hall.keys)}" in out, out
    assert "last error: edge-tts:" in out, out
    voice = hall.voice()
    assert voice.cache.count() == {"espeak-ng": len(hall.keys)}

    # a call now comes from the espeak-ng clips, with edge-tts still unreachable
    calling = VoiceCalling(engine, voice, [])
    started = time.monotonic()
    announcement, pcm = await call_aloud(engine, calling)
    assert time.monotonic() - started < 0.5
    assert voice.stats == {"from_espeak-ng": len(announcement.lines)}
    assert measure(pcm).voiced > 0.3


async def test_a_call_missing_clips_is_said_by_espeak_and_filled_by_edge_tts_later(
    hall: Hall, stopped: EdgeTtsService, engine: QueueEngine
) -> None:
    voice = hall.voice()  # an empty cache, edge-tts down
    calling = VoiceCalling(engine, voice, [])

    started = time.monotonic()
    _, pcm = await call_aloud(engine, calling)
    assert time.monotonic() - started < 1.0  # espeak-ng on the spot, no network
    # said once, by espeak-ng on the spot; the repeat is the same audio again
    assert voice.stats == {"espeak_fallback": 1}
    assert measure(pcm).voiced > 0.3
    wanted = set(voice.wanted)
    assert wanted and {key[2] for key in wanted} >= {"请", "A", "号到"}

    service = stopped
    await service.start()
    filling = [asyncio.create_task(voice.fill(interval=0.05))]
    try:
        await until(lambda: voice.stats["filled"] == len(wanted))
    finally:
        await stop(filling)
        await service.stop()

    assert all(voice.cache.has("edge-tts", *key) for key in wanted)
    assert not voice.wanted
    assert {(r.short_voice, r.text) for r in service.requests} == {
        (EdgeTts.VOICES[lang], text) for lang, _, text in wanted
    }
    announcement = await recall_aloud(engine, calling)
    assert voice.stats["from_edge-tts"] == len(announcement.lines)
    assert not service.violations


async def test_clips_prepared_offline_are_replaced_by_edge_tts_once_it_is_back(
    hall: Hall, stopped: EdgeTtsService, engine: QueueEngine
) -> None:
    code, out = await prepare(hall.config)  # edge-tts down: every clip from espeak-ng
    assert code == 0, out
    voice = hall.voice()
    calling = VoiceCalling(engine, voice, [])
    announcement, _ = await call_aloud(engine, calling)
    assert voice.stats == {"from_espeak-ng": len(announcement.lines)}
    # said in the offline voice: the call's clips are wanted from edge-tts
    wanted = set(voice.wanted)
    assert wanted == {
        (lang, announcement.settings.speed, p.text)
        for lang, pieces in announcement.lines
        for p in pieces
    }

    service = stopped
    await service.start()
    filling = [asyncio.create_task(voice.fill(interval=0.05))]
    try:
        await until(lambda: voice.stats["filled"] == len(wanted))
    finally:
        await stop(filling)
        await service.stop()

    assert {r.text for r in service.requests} == {text for _, _, text in wanted}
    again = await recall_aloud(engine, calling)
    assert voice.stats["from_edge-tts"] == len(again.lines)
    assert not service.violations


# ------------------------------------------------------------------- one engine per call


async def test_an_announcement_with_some_edge_tts_clips_is_said_all_in_espeak(
    voice: Voice, service: EdgeTtsService
) -> None:
    voice.online = EdgeTts(service.url)
    keys: set[ClipKey] = {("cmn", "normal", p.text) for p in CALL}
    # edge-tts has two of the clips, espeak-ng has them all
    await voice.prepare({("cmn", "normal", "请"), ("cmn", "normal", "A")}, engine="edge-tts")
    await voice.prepare(keys, engine="espeak-ng")

    pcm = await voice.say(CALL, "cmn", "normal")

    assert voice.stats == {"from_espeak-ng": 1}
    assert np.array_equal(pcm, from_cache(voice, "espeak-ng", CALL, "cmn", "normal"))


async def test_a_call_edge_tts_half_has_is_rendered_whole_by_espeak(
    voice: Voice, service: EdgeTtsService
) -> None:
    voice.online = EdgeTts(service.url)
    await voice.prepare({("cmn", "fast", "请"), ("cmn", "fast", "号到")}, engine="edge-tts")

    pcm = await voice.say(CALL, "cmn", "fast")

    assert voice.stats == {"espeak_fallback": 1}
    assert np.array_equal(pcm, from_cache(voice, "espeak-ng", CALL, "cmn", "fast"))
    assert voice.wanted == {("cmn", "fast", p.text) for p in CALL}


async def test_a_call_edge_tts_has_whole_is_said_in_edge_tts(
    voice: Voice, service: EdgeTtsService
) -> None:
    voice.online = EdgeTts(service.url)
    keys: set[ClipKey] = {("yue", "slow", p.text) for p in CALL}
    await voice.prepare(keys, engine="espeak-ng")
    await voice.prepare(keys, engine="edge-tts")

    pcm = await voice.say(CALL, "yue", "slow")

    assert voice.stats == {"from_edge-tts": 1}
    assert np.array_equal(pcm, from_cache(voice, "edge-tts", CALL, "yue", "slow"))
    assert not np.array_equal(pcm, from_cache(voice, "espeak-ng", CALL, "yue", "slow"))
