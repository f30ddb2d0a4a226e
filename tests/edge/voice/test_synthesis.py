"""Real espeak-ng speech: long enough, loud enough, slower when slow, two different languages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.voice.audio import RATE, trim, wav_bytes
from edge.voice.cache import ClipCache
from edge.voice.speech import Voice
from edge.voice.synth import Espeak, SynthesisError
from sync.voice import DEFAULT_TEMPLATES, call_pieces
from tests.edge.voice.conftest import measure, sox_stat

CALL = "请A012号到三号窗口办理"


@pytest.mark.parametrize("lang", ["cmn", "yue"])
async def test_a_call_is_speech_of_the_expected_length(espeak: Espeak, lang: str) -> None:
    speech = measure(trim(await espeak.render(CALL, lang, "normal")))  # type: ignore[arg-type]
    # eleven syllables at a calm pace: two to six seconds, mostly sound, clearly audible
    assert 2.0 < speech.seconds < 6.0
    assert speech.voiced > 0.5
    assert speech.rms > 0.05


@pytest.mark.parametrize("lang", ["cmn", "yue"])
async def test_slow_is_longer_than_normal_and_normal_longer_than_fast(
    espeak: Espeak, lang: str
) -> None:
    seconds = {
        speed: measure(trim(await espeak.render(CALL, lang, speed))).seconds  # type: ignore[arg-type]
        for speed in ("slow", "normal", "fast")
    }
    assert seconds["slow"] > seconds["normal"] * 1.15
    assert seconds["normal"] > seconds["fast"] * 1.15


async def test_cantonese_and_mandarin_are_different_speech(espeak: Espeak) -> None:
    mandarin = trim(await espeak.render(CALL, "cmn", "normal"))
    cantonese = trim(await espeak.render(CALL, "yue", "normal"))
    assert abs(len(mandarin) - len(cantonese)) / RATE > 0.3
    # not the same sounds either: compare the loudness contours over the common length
    n = min(len(mandarin), len(cantonese)) // 480 * 480
    a = np.abs(mandarin[:n]).reshape(-1, 480).mean(axis=1)
    b = np.abs(cantonese[:n]).reshape(-1, 480).mean(axis=1)
    assert np.corrcoef(a, b)[0, 1] < 0.8


async def test_the_same_text_gives_the_same_audio(espeak: Espeak) -> None:
    first = await espeak.render("暂停服务", "cmn", "normal")
    again = await espeak.render("暂停服务", "cmn", "normal")
    assert np.array_equal(first, again)


async def test_an_utterance_from_clips_is_said_whole(voice: Voice) -> None:
    pieces = call_pieces(DEFAULT_TEMPLATES["cmn"], number="A012", window="12")
    assert [p.text for p in pieces] == ["请", "A", "零", "一", "二", "号到", "十二", "号窗口办理"]
    pcm = await voice.say(pieces, "cmn", "normal")
    speech = measure(pcm)
    assert 2.0 < speech.seconds < 8.0 and speech.voiced > 0.5
    assert voice.stats["espeak_fallback"] == 1
    # every clip is on disk now, and the second saying comes from the cache alone
    again = await voice.say(pieces, "cmn", "normal")
    assert np.array_equal(pcm, again)
    assert voice.stats["from_espeak-ng"] == 1


async def test_clips_on_disk_are_wav_that_sox_reads_as_speech(voice: Voice, tmp_path: Path) -> None:
    await voice.say(call_pieces(DEFAULT_TEMPLATES["yue"], number="B7", window="3"), "yue", "slow")
    path = voice.cache.path("espeak-ng", "yue", "slow", "號窗口辦理")
    stat = sox_stat(path)
    assert 0.4 < stat["Length (seconds)"] < 3.0
    assert stat["RMS     amplitude"] > 0.05
    out = tmp_path / "whole.wav"
    out.write_bytes(wav_bytes(voice.cache.get("espeak-ng", "yue", "slow", "號窗口辦理")))  # type: ignore[arg-type]
    assert sox_stat(out)["Length (seconds)"] == pytest.approx(stat["Length (seconds)"], abs=0.01)


async def test_clips_survive_a_restart(voice: Voice, tmp_path: Path) -> None:
    said = await voice.say(
        call_pieces(DEFAULT_TEMPLATES["cmn"], number="C3", window="2"), "cmn", "fast"
    )
    reopened = Voice(ClipCache(voice.cache.root), Espeak("/nonexistent/espeak-ng"))
    again = await reopened.say(
        call_pieces(DEFAULT_TEMPLATES["cmn"], number="C3", window="2"), "cmn", "fast"
    )
    assert np.array_equal(said, again)


async def test_a_missing_espeak_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SynthesisError, match="cannot be started"):
        await Espeak(str(tmp_path / "no-espeak")).render("请", "cmn", "normal")
