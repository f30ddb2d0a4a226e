"""Calls said aloud in their area through ALSA, in order, never overlapping; silent areas stay
silent; recall repeats; window prompts never reach the hall speakers."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.queue import QueueEngine
from edge.voice.audio import RATE, Pcm
from edge.voice.calling import Announcement, LocalSpeaker, VoiceCalling
from edge.voice.settings import VoiceChange, change_area
from edge.voice.speech import Voice
from sync.voice import spoken_characters
from tests.conftest import stop, until
from tests.edge.voice.conftest import measure


@pytest.fixture
def speakers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ALSA device `hall` whose sound is appended, as raw samples, to a file."""
    out = tmp_path / "speakers.raw"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        'pcm.hall {\n  type file\n  slave.pcm "null"\n'
        f'  file "|cat >> {out}"\n  format "raw"\n}}\n'
    )
    monkeypatch.setenv("HOME", str(home))
    return out


def heard(path: Path) -> Pcm:
    if not path.exists():
        return np.zeros(0, np.float32)
    return (np.frombuffer(path.read_bytes(), "<i2").astype(np.float32) / 32768).astype(np.float32)


class Hall:
    """The engine with voice calling running, and what came out of the speakers."""

    def __init__(self, engine: QueueEngine, voice: Voice, speaker: LocalSpeaker) -> None:
        self.engine = engine
        self.speaker = speaker
        self.calling = VoiceCalling(engine, voice, [speaker])
        self.said: list[Announcement] = []
        self.calling.ready.append(lambda a, _pcm: self.said.append(a))

    def open(self, window: str, staff: str) -> None:
        self.engine.window_login(window, self.engine.hall.staff[staff])

    def take(self, business_type: str, area: str = "main") -> dict[str, Any]:
        return self.engine.issue_ticket(
            area=area, business_type=business_type, source="kiosk", actor="kiosk:k1"
        )

    def call(self, window: str) -> dict[str, Any]:
        current: dict[str, Any] = self.engine.call_next(window, "staff:x")["window"]["current"]
        return current


@pytest.fixture
async def hall(engine: QueueEngine, voice: Voice, speakers: Path) -> Any:
    hall = Hall(engine, voice, LocalSpeaker("hall"))
    task = asyncio.create_task(hall.calling.run())
    yield hall
    await stop([task])


async def test_a_call_is_heard_in_its_area_in_full(hall: Hall, speakers: Path) -> None:
    hall.open("w1", "s1")
    ticket = hall.take("license")
    hall.call("w1")
    await until(lambda: len(hall.speaker.played) == 1)
    (announcement,) = hall.said
    assert announcement.area == "main" and announcement.kind == "call"
    assert announcement.text == f"请{ticket['number'][0]}零零一号到一号窗口办理"
    sound = measure(heard(speakers))
    # said twice (the default repeat) with a pause between: well over four seconds of speech
    assert sound.seconds > 4.0 and sound.voiced > 0.4
    assert hall.calling.stats["announced"] == 1


async def test_calls_follow_each_other_without_overlapping(hall: Hall) -> None:
    for window, staff in (("w1", "s1"), ("w2", "s2"), ("w4", "s4")):
        hall.open(window, staff)
    hall.take("license")
    hall.take("tax")
    hall.take("tax")
    calls = [hall.call(w)["number"] for w in ("w1", "w2", "w4")]
    await until(lambda: len(hall.speaker.played) == 3)
    order = [text for _, _, text in hall.speaker.played]
    assert [t[1:5] for t in order] == ["".join(spoken_characters(c)) for c in calls]
    spans = [(start, end) for start, end, _ in hall.speaker.played]
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


async def test_a_recall_is_said_again(hall: Hall) -> None:
    hall.open("w1", "s1")
    hall.take("license")
    hall.call("w1")
    hall.engine.recall("w1", "staff:x")
    await until(lambda: len(hall.speaker.played) == 2)
    assert hall.said[0].text == hall.said[1].text


async def test_a_silent_area_says_nothing_and_others_still_speak(
    hall: Hall, speakers: Path
) -> None:
    change_area(hall.engine, "main", VoiceChange(silent=True), actor="admin:a", key=None)
    hall.open("w1", "s1")
    hall.open("w3", "s3")
    hall.take("license")
    hall.take("pension", area="annex")
    hall.call("w1")
    hall.call("w3")
    await until(lambda: len(hall.speaker.played) == 1)
    await asyncio.sleep(0.2)
    assert [a.area for a in hall.said] == ["annex"]
    assert hall.calling.stats["silent"] == 1
    before = speakers.stat().st_size
    change_area(hall.engine, "main", VoiceChange(silent=None), actor="admin:a", key=None)
    hall.take("license")
    hall.engine.finish("w1", "staff:x")
    hall.call("w1")
    await until(lambda: len(hall.speaker.played) == 2)
    assert speakers.stat().st_size > before


async def test_both_languages_in_turn_at_the_areas_speed(hall: Hall) -> None:
    engine = hall.engine
    change_area(
        engine, "main", VoiceChange(languages=["cmn", "yue"], repeat=1), actor="admin:a", key=None
    )
    hall.open("w1", "s1")
    hall.take("license")
    hall.call("w1")
    await until(lambda: len(hall.said) == 1)
    both = hall.said[0]
    assert [lang for lang, _ in both.lines] == ["cmn", "yue"]
    assert both.text.split(" / ")[1].startswith("請")
    slow, fast = [], []
    for speed, out in (("slow", slow), ("fast", fast)):
        change_area(engine, "main", VoiceChange(speed=speed), actor="admin:a", key=None)  # type: ignore[arg-type]
        hall.calling.ready.append(lambda _a, pcm, out=out: out.append(len(pcm) / RATE))
        engine.recall("w1", "staff:x")
        await until(lambda out=out: len(out) == 1)
        hall.calling.ready.pop()
    assert slow[0] > fast[0] * 1.3


async def test_window_prompts_are_not_said_by_the_hall_speakers(hall: Hall) -> None:
    hall.open("w1", "s1")
    hall.engine.one_meter_line("w1", "staff:x")
    hall.engine.pause("w1", "staff:x")
    await asyncio.sleep(0.3)
    assert hall.speaker.played == [] and hall.said == []
    assert hall.calling.stats["unheard"] == 2


async def test_no_sound_device_is_reported_once_and_calling_goes_on(
    engine: QueueEngine, voice: Voice, speakers: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hall = Hall(engine, voice, LocalSpeaker("no-such-device"))
    task = asyncio.create_task(hall.calling.run())
    try:
        hall.open("w1", "s1")
        hall.take("license")
        hall.take("license")
        hall.call("w1")
        engine.finish("w1", "staff:x")
        hall.call("w1")
        await until(lambda: hall.speaker.failures == 2)
    finally:
        await stop([task])
    assert len(hall.said) == 2
    assert len([r for r in caplog.records if "no sound on no-such-device" in r.message]) == 1
