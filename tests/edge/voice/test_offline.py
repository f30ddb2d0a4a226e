"""With no network and no synthesizer at all, a prepared hall still calls every number."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.config import EdgeConfig
from edge.queue import QueueEngine
from edge.voice.cache import ClipCache
from edge.voice.calling import VoiceCalling
from edge.voice.prepare import hall_clips
from edge.voice.settings import VoiceChange, change_area
from edge.voice.speech import Voice
from edge.voice.synth import EdgeTts, Espeak
from tests.conftest import free_port
from tests.edge.hall import small_hall
from tests.edge.voice.conftest import measure


def prepare(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "setup.json").write_text(small_hall().model_dump_json(), "utf-8")
    (tmp_path / "edge.toml").write_text(
        '[node]\nsetup_file = "setup.json"\n[voice]\nedge_tts = false\n', "utf-8"
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "smarthall",
            "voice",
            "prepare",
            "--config",
            "edge.toml",
            *extra,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prepare_renders_every_clip_once(tmp_path: Path) -> None:
    first = prepare(tmp_path, "--engine", "espeak-ng")
    assert first.returncode == 0, first.stderr
    needed = hall_clips(small_hall())
    # ten digits (windows 1–4 are said with them), four prefixes, the phrase's three parts and
    # five prompts, in two languages at three speeds
    assert len(needed) == (10 + 4 + 3 + 5) * 2 * 3
    assert f"{len(needed)} clips" in first.stdout and f"espeak-ng {len(needed)}" in first.stdout
    cache = ClipCache(EdgeConfig().data_path(tmp_path) / "voice")
    assert cache.count() == {"espeak-ng": len(needed)}
    again = prepare(tmp_path, "--engine", "espeak-ng")
    assert f"present {len(needed)}" in again.stdout


async def test_a_prepared_hall_calls_with_no_network_and_no_synthesizer(
    tmp_path: Path, engine: QueueEngine
) -> None:
    assert prepare(tmp_path, "--engine", "espeak-ng").returncode == 0
    nowhere = f"ws://127.0.0.1:{free_port()}/consumer/speech?TrustedClientToken=x"
    voice = Voice(
        ClipCache(EdgeConfig().data_path(tmp_path) / "voice"),
        Espeak(str(tmp_path / "espeak-ng-is-not-installed")),
        EdgeTts(nowhere, timeout=1.0),
    )
    calling = VoiceCalling(engine, voice, [])
    engine.window_login("w3", engine.hall.staff["s3"])
    engine.issue_ticket(area="annex", business_type="card", source="kiosk", actor="kiosk:k")
    engine.call_next("w3", "staff:x")
    engine.one_meter_line("w3", "staff:x")
    events = engine.store.events_after(0, 10_000)
    call = next(e for e in events if e.type == "ticket.called")
    prompt = next(e for e in events if e.type == "window.one_meter_line")
    seconds: dict[tuple[str, str], float] = {}
    for language in ("cmn", "yue"):
        for speed in ("normal", "fast", "slow"):
            change = VoiceChange(languages=[language], speed=speed, repeat=1)  # type: ignore[arg-type]
            change_area(engine, "annex", change, actor="admin:a", key=None)
            for event in (call, prompt):
                announcement = calling.announcement(event)
                assert announcement is not None
                speech = measure(await calling.render(announcement))
                assert speech.seconds > 1.0 and speech.voiced > 0.4
                if event is call:
                    seconds[language, speed] = speech.seconds
    for language in ("cmn", "yue"):
        assert seconds[language, "slow"] > seconds[language, "normal"] > seconds[language, "fast"]
    assert voice.stats["espeak_fallback"] == 0
    assert voice.stats["from_espeak-ng"] == 12
