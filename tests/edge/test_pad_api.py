"""The Pad's operations over a real aiohttp server: badge photos, screenshots on the Pad, the
Pad's spoken prompts rendered by real espeak-ng, and what a Pad reads when it starts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from aiohttp.test_utils import TestClient
from PIL import Image

from edge.api.app import create_app
from edge.api.pad import PHOTOS
from edge.clock import ManualClock
from edge.queue import QueueEngine
from edge.voice.audio import decode
from edge.voice.cache import ClipCache
from edge.voice.calling import VoiceCalling
from edge.voice.speech import Voice
from edge.voice.synth import Espeak
from tests.edge.test_api import ClientFactory, api_clients, bearer, error_code, login


def picture(fmt: str, size: tuple[int, int] = (120, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 40)).save(out, format=fmt)
    return out.getvalue()


def noisy_png(min_bytes: int) -> bytes:
    """A real PNG at least `min_bytes` long (random pixels do not compress)."""
    side = int((min_bytes / 3) ** 0.5) + 16
    pixels = np.random.default_rng(5).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=0)
    return out.getvalue()


@pytest.fixture
async def pad_client(
    engine: QueueEngine, aiohttp_client: ClientFactory, tmp_path: Path
) -> TestClient[Any, Any]:
    """The edge API with voice (real espeak-ng, clips in a temporary folder) and a photo folder."""
    voice = Voice(ClipCache(tmp_path / "clips"), Espeak())
    app = create_app(engine, api_clients(), voice=VoiceCalling(engine, voice, []))
    app[PHOTOS] = tmp_path / "photos"
    return await aiohttp_client(app)


async def take_and_call(client: TestClient[Any, Any], staff: dict[str, str]) -> str:
    resp = await client.post(
        "/api/tickets", json={"business_type": "license"}, headers=bearer("kiosk-main")
    )
    ticket: str = (await resp.json())["ticket"]["id"]
    assert (await client.post("/api/windows/w1/call-next", headers=staff)).status == 200
    return ticket


def events_of(engine: QueueEngine, kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in engine.store.events_after(0, 5000) if e.type == kind]


# ----------------------------------------------------------------------- badge photos


async def test_the_admin_side_uploads_a_badge_photo_that_pads_and_displays_read(
    pad_client: TestClient[Any, Any], tmp_path: Path
) -> None:
    png = picture("PNG")
    resp = await pad_client.put("/api/staff/s1/photo", data=png, headers=bearer("admin"))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["photo"] == {"staff": "s1", "content_type": "image/png",
                                            "bytes": len(png)}  # fmt: skip
    for reader in (bearer("pad-w1"), bearer("display-main"), bearer("admin")):
        got = await pad_client.get("/api/staff/s1/photo", headers=reader)
        assert got.status == 200
        assert got.content_type == "image/png"
        assert await got.read() == png
    staff = await login(pad_client, "w2", "102")
    assert (await pad_client.get("/api/staff/s1/photo", headers=staff)).status == 200

    state = await (await pad_client.get("/api/windows/w2/pad", headers=staff)).json()
    assert state["photo"] is False, "李强 at window 2 has none"
    await login(pad_client, "w1", "101")
    state = await (await pad_client.get("/api/windows/w1/pad", headers=bearer("pad-w1"))).json()
    assert state["photo"] is True, "张敏 at window 1 has one"

    jpeg = picture("JPEG")
    resp = await pad_client.put("/api/staff/s1/photo", data=jpeg, headers=bearer("admin"))
    assert resp.status == 200
    got = await pad_client.get("/api/staff/s1/photo", headers=bearer("pad-w1"))
    assert got.content_type == "image/jpeg" and await got.read() == jpeg
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["s1.jpg"]


async def test_a_staff_member_without_a_photo_gets_a_404_and_the_badge_shows_initials(
    pad_client: TestClient[Any, Any],
) -> None:
    resp = await pad_client.get("/api/staff/s2/photo", headers=bearer("pad-w1"))
    assert resp.status == 404 and await error_code(resp) == "not_found"
    resp = await pad_client.get("/api/staff/nobody/photo", headers=bearer("pad-w1"))
    assert resp.status == 404


async def test_only_real_pictures_of_at_most_2_mb_are_kept(
    pad_client: TestClient[Any, Any], tmp_path: Path
) -> None:
    png = picture("PNG")
    refused = {
        "gif": picture("GIF"),
        "text": b"hello, not a picture",
        "empty": b"",
        "png magic, broken body": png[:8] + b"\x00" * 200,
        "cut-off png": png[: len(png) // 2],
        "jpeg magic on a png": b"\xff\xd8\xff" + png[3:],
        "over 2 MB": noisy_png(2 * 1024 * 1024 + 1),
    }
    for what, data in refused.items():
        resp = await pad_client.put("/api/staff/s1/photo", data=data, headers=bearer("admin"))
        assert resp.status == 400, what
        assert await error_code(resp) == "invalid_request", what
    assert not (tmp_path / "photos").exists() or not any((tmp_path / "photos").iterdir())


async def test_only_the_admin_side_uploads_photos_and_kiosks_do_not_read_them(
    pad_client: TestClient[Any, Any],
) -> None:
    png = picture("PNG")
    staff = await login(pad_client, "w1", "101")
    for headers in (bearer("pad-w1"), bearer("display-main"), bearer("kiosk-main"), staff):
        resp = await pad_client.put("/api/staff/s1/photo", data=png, headers=headers)
        assert resp.status == 403 and await error_code(resp) == "forbidden"
    assert (await pad_client.put("/api/staff/s1/photo", data=png)).status == 401
    resp = await pad_client.put("/api/staff/nobody/photo", data=png, headers=bearer("admin"))
    assert resp.status == 404
    resp = await pad_client.get("/api/staff/s1/photo", headers=bearer("kiosk-main"))
    assert resp.status == 403


async def test_without_a_configured_folder_photos_go_beside_the_nodes_database(
    engine: QueueEngine, aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(engine, api_clients()))
    resp = await client.put("/api/staff/s3/photo", data=picture("PNG"), headers=bearer("admin"))
    assert resp.status == 200
    assert (tmp_path / "photos" / "s3.png").is_file()  # the engine's database is in tmp_path


# ----------------------------------------------------------------------- screenshots


async def test_staff_show_a_screenshot_on_their_pad_and_take_it_off(
    pad_client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    staff = await login(pad_client, "w1", "101")
    png = picture("PNG", (800, 500))
    resp = await pad_client.post(
        "/api/windows/w1/screenshot?seconds=20",
        data=png,
        headers={**staff, "Idempotency-Key": "shot-1"},
    )
    assert resp.status == 200, await resp.text()
    shot = (await resp.json())["screenshot"]
    assert shot["seconds"] == 20 and shot["seconds_left"] == 20
    assert shot["until"] == engine.clock.now_ms() + 20_000
    again = await pad_client.post(
        "/api/windows/w1/screenshot?seconds=20",
        data=png,
        headers={**staff, "Idempotency-Key": "shot-1"},
    )
    assert (await again.json())["screenshot"]["id"] == shot["id"], "a double click shows it once"
    (event,) = events_of(engine, "window.screenshot")
    assert event["window"] == "w1" and event["id"] == shot["id"] and event["until"] == shot["until"]

    url = f"/api/windows/w1/screenshot/{shot['id']}"
    got = await pad_client.get(url, headers=bearer("pad-w1"))
    assert got.status == 200 and got.content_type == "image/png" and await got.read() == png
    state = await (await pad_client.get("/api/windows/w1/pad", headers=bearer("pad-w1"))).json()
    assert state["screenshot"]["id"] == shot["id"]

    resp = await pad_client.delete("/api/windows/w1/screenshot", headers=staff)
    assert resp.status == 200 and (await resp.json())["screenshot"] is None
    (cleared,) = events_of(engine, "window.screenshot_cleared")
    assert cleared["window"] == "w1" and cleared["id"] == shot["id"]
    assert (await pad_client.get(url, headers=bearer("pad-w1"))).status == 404
    state = await (await pad_client.get("/api/windows/w1/pad", headers=bearer("pad-w1"))).json()
    assert state["screenshot"] is None
    resp = await pad_client.delete("/api/windows/w1/screenshot", headers=staff)
    assert resp.status == 200
    assert len(events_of(engine, "window.screenshot_cleared")) == 1, "nothing left to clear"


async def test_a_screenshot_times_out_on_the_hall_clock(
    pad_client: TestClient[Any, Any], clock: ManualClock
) -> None:
    staff = await login(pad_client, "w1", "101")
    resp = await pad_client.post("/api/windows/w1/screenshot", data=picture("JPEG"), headers=staff)
    assert (await resp.json())["screenshot"]["seconds"] == 30  # the default
    clock.advance(29)
    state = await (await pad_client.get("/api/windows/w1/pad", headers=bearer("pad-w1"))).json()
    assert state["screenshot"]["seconds_left"] == 1
    clock.advance(1)
    state = await (await pad_client.get("/api/windows/w1/pad", headers=bearer("pad-w1"))).json()
    assert state["screenshot"] is None


async def test_only_the_windows_staff_send_screenshots_and_only_its_pad_sees_them(
    pad_client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    png = picture("PNG")
    other_staff = await login(pad_client, "w2", "102")
    for headers in (bearer("pad-w1"), bearer("admin"), bearer("display-main"), other_staff):
        resp = await pad_client.post("/api/windows/w1/screenshot", data=png, headers=headers)
        assert resp.status == 403, headers
        resp = await pad_client.delete("/api/windows/w1/screenshot", headers=headers)
        assert resp.status == 403, headers
    assert (await pad_client.post("/api/windows/w1/screenshot", data=png)).status == 401
    staff = await login(pad_client, "w1", "101")
    resp = await pad_client.post("/api/windows/w9/screenshot", data=png, headers=staff)
    assert resp.status == 404
    for what, data, seconds in (
        ("gif", picture("GIF"), "10"),
        ("over 4 MB", noisy_png(4 * 1024 * 1024 + 1), "10"),
        ("seconds not a number", png, "soon"),
        ("seconds too long", png, "6000"),
    ):
        resp = await pad_client.post(
            f"/api/windows/w1/screenshot?seconds={seconds}", data=data, headers=staff
        )
        assert resp.status == 400, what
    assert events_of(engine, "window.screenshot") == []

    shot = (
        await (await pad_client.post("/api/windows/w1/screenshot", data=png, headers=staff)).json()
    )["screenshot"]
    url = f"/api/windows/w1/screenshot/{shot['id']}"
    for headers, status in (
        (bearer("pad-w1"), 200),
        (bearer("admin"), 200),
        (staff, 200),
        (bearer("pad-w2"), 403),
        (other_staff, 403),
        (bearer("display-main"), 403),
    ):
        assert (await pad_client.get(url, headers=headers)).status == status, headers
    wrong = await pad_client.get("/api/windows/w1/screenshot/not-it", headers=bearer("pad-w1"))
    assert wrong.status == 404


async def test_the_relay_delivers_the_screenshot_event_on_the_areas_events_channel(
    pad_client: TestClient[Any, Any],
) -> None:
    staff = await login(pad_client, "w1", "101")
    async with pad_client.ws_connect("/api/live?token=token-of-admin") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        await ws.send_json({"type": "subscribe", "channels": ["events:main"]})
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        resp = await pad_client.post(
            "/api/windows/w1/screenshot", data=picture("PNG"), headers=staff
        )
        shot = (await resp.json())["screenshot"]
        message = await ws.receive_json(timeout=5)
        assert message["type"] == "event" and message["channel"] == "events:main"
        assert message["data"]["type"] == "window.screenshot"
        assert message["data"]["id"] == shot["id"]


# ----------------------------------------------------------------------- voice prompts


async def test_the_pad_gets_its_prompts_as_spoken_wav(pad_client: TestClient[Any, Any]) -> None:
    lengths = {}
    for name in ("one_meter_line", "paused", "backstage", "evaluate", "thanks"):
        resp = await pad_client.get(f"/api/windows/w1/prompts/{name}.wav", headers=bearer("pad-w1"))
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "audio/wav"
        data = await resp.read()
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
        info = soundfile.info(io.BytesIO(data))
        assert info.samplerate == 24_000 and info.channels == 1
        pcm = decode(data)
        frames = pcm[: len(pcm) // 480 * 480].reshape(-1, 480)
        voiced = float((np.sqrt((frames**2).mean(axis=1)) > 0.02).mean())
        assert len(pcm) / 24_000 > 0.4, name
        assert voiced > 0.3, f"{name} is mostly silence"
        lengths[name] = len(pcm)
    assert lengths["one_meter_line"] != lengths["thanks"]


async def test_an_area_with_two_languages_says_the_prompt_in_both(
    pad_client: TestClient[Any, Any],
) -> None:
    url = "/api/windows/w1/prompts/thanks.wav"
    one = decode(await (await pad_client.get(url, headers=bearer("pad-w1"))).read())
    resp = await pad_client.patch(
        "/api/voice/areas/main", json={"languages": ["cmn", "yue"]}, headers=bearer("admin")
    )
    assert resp.status == 200
    both = decode(await (await pad_client.get(url, headers=bearer("pad-w1"))).read())
    assert len(both) > len(one) * 1.6


async def test_prompts_are_refused_to_others_and_unknown_names(
    pad_client: TestClient[Any, Any],
) -> None:
    url = "/api/windows/w1/prompts/thanks.wav"
    assert (await pad_client.get(url, headers=bearer("pad-w2"))).status == 403
    assert (await pad_client.get(url, headers=bearer("kiosk-main"))).status == 403
    assert (await pad_client.get(url)).status == 401
    staff = await login(pad_client, "w1", "101")
    assert (await pad_client.get(url, headers=staff)).status == 200
    for name in ("hello.wav", "thanks.mp3", "thanks", "..%2Fthanks.wav"):
        resp = await pad_client.get(f"/api/windows/w1/prompts/{name}", headers=bearer("pad-w1"))
        assert resp.status == 404, name


async def test_with_voice_disabled_the_prompt_is_a_clear_503(
    engine: QueueEngine, aiohttp_client: ClientFactory
) -> None:
    client = await aiohttp_client(create_app(engine, api_clients()))
    resp = await client.get("/api/windows/w1/prompts/thanks.wav", headers=bearer("pad-w1"))
    assert resp.status == 503
    body = await resp.json()
    assert body["error"]["code"] == "voice_disabled"
    assert body["error"]["message"] == "本节点未启用语音播报"
    state = await (await client.get("/api/windows/w1/pad", headers=bearer("pad-w1"))).json()
    assert state["voice"] is False


# ----------------------------------------------------------------------- the Pad's state


async def test_a_pad_that_starts_late_still_asks_for_the_awaited_evaluation(
    pad_client: TestClient[Any, Any], clock: ManualClock
) -> None:
    staff = await login(pad_client, "w1", "101")
    url = "/api/windows/w1/pad"
    state = await (await pad_client.get(url, headers=bearer("pad-w1"))).json()
    assert state == {"window": "w1", "evaluation_seconds": 60, "voice": True, "photo": False,
                     "screenshot": None, "evaluation": None}  # fmt: skip
    ticket = await take_and_call(pad_client, staff)
    await pad_client.post("/api/windows/w1/finish", json={"request_evaluation": True},
                          headers=staff)  # fmt: skip
    clock.advance(10)
    state = await (await pad_client.get(url, headers=bearer("pad-w1"))).json()
    assert state["evaluation"] == {"ticket": ticket, "number": "A001", "seconds_left": 50}
    clock.advance(50)
    state = await (await pad_client.get(url, headers=bearer("pad-w1"))).json()
    assert state["evaluation"] is None, "the wait is over"

    second = await take_and_call(pad_client, staff)
    await pad_client.post("/api/windows/w1/finish", json={"request_evaluation": True},
                          headers=staff)  # fmt: skip
    resp = await pad_client.post(f"/api/tickets/{second}/evaluation", json={"level": "basic"},
                                 headers=bearer("pad-w1"))  # fmt: skip
    assert resp.status == 200
    state = await (await pad_client.get(url, headers=bearer("pad-w1"))).json()
    assert state["evaluation"] is None, "evaluated"
    assert (await pad_client.get(url, headers=bearer("pad-w2"))).status == 403
    assert (await pad_client.get(url, headers=bearer("display-main"))).status == 403


async def test_the_pad_waits_as_long_as_the_hall_sets(
    pad_client: TestClient[Any, Any], engine: QueueEngine
) -> None:
    setup = engine.hall.setup
    changed = setup.model_copy(
        update={"version": 2, "hall": setup.hall.model_copy(update={"evaluation_gate_seconds": 15})}
    )
    resp = await pad_client.put(
        "/api/setup", data=json.dumps(changed.model_dump(mode="json")), headers=bearer("admin")
    )
    assert resp.status == 200, await resp.text()
    state = await (await pad_client.get("/api/windows/w1/pad", headers=bearer("pad-w1"))).json()
    assert state["evaluation_seconds"] == 15
