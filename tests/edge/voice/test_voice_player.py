"""Voice players on the device bus: a window's Pad speaker says its prompts, an area's amplifier
its calls, each in order, over a real Mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from edge.devices.bus import DeviceBus
from edge.devices.registry import DeviceRegistry
from edge.devices.voice_agent import VoicePlayerAgent, WavFolder
from edge.queue import QueueEngine
from edge.voice.audio import decode
from edge.voice.calling import DevicePlayers, VoiceCalling
from edge.voice.speech import Voice
from tests.conftest import Mosquitto, stop, until
from tests.edge.voice.conftest import measure

PREFIX, HALL = "smarthall", "test-hall"


def player(device: str, mosquitto: Mosquitto, out: Path) -> VoicePlayerAgent:
    return VoicePlayerAgent(
        device=device, sink=WavFolder(out), host=mosquitto.host, port=mosquitto.port,
        prefix=PREFIX, hall=HALL, heartbeat_seconds=0.5, interval=0.05,
    )  # fmt: skip


def device_events(engine: QueueEngine, type_: str) -> list[dict[str, object]]:
    return [
        e.payload
        for e in engine.store.events_after(0, 10_000)
        if e.type == "device.event" and e.payload["type"] == type_
    ]


async def test_prompts_reach_the_windows_player_and_calls_the_areas(
    engine: QueueEngine, voice: Voice, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    now = engine.clock.now_ms()
    registry.register(now, device_id="pad-w1", kind="voice_player", area="main", window="w1")
    registry.register(now, device_id="pad-w2", kind="voice_player", area="main", window="w2")
    registry.register(now, device_id="amp-main", kind="voice_player", area="main")
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL
    )
    calling = VoiceCalling(engine, voice, [DevicePlayers(registry, bus)])
    pad1, pad2, amp = (
        player(name, mosquitto, tmp_path / name) for name in ("pad-w1", "pad-w2", "amp-main")
    )
    tasks = [asyncio.create_task(t.run()) for t in (bus, calling, pad1, pad2, amp)]
    try:
        await asyncio.wait_for(
            asyncio.gather(
                bus.subscribed(), pad1.ready.wait(), pad2.ready.wait(), amp.ready.wait()
            ),
            10,
        )
        engine.window_login("w1", engine.hall.staff["s1"])
        engine.issue_ticket(area="main", business_type="license", source="kiosk", actor="kiosk:k")
        engine.call_next("w1", "staff:x")
        engine.one_meter_line("w1", "staff:x")
        engine.finish("w1", "staff:x", request_evaluation=True)
        await until(lambda: len(amp.played) == 1 and len(pad1.played) == 2)
        called = engine.store.events_after(0, 10_000)
        seq = {e.type: e.seq for e in called}
        assert amp.played == [f"voice-{seq['ticket.called']}"]
        assert pad1.played == [
            f"voice-{seq['window.one_meter_line']}",
            f"voice-{seq['ticket.finished']}",
        ]
        assert pad2.played == []
        # what the players wrote is the speech the edge rendered: a call said twice, a prompt once
        call = measure(decode((tmp_path / "amp-main" / f"{amp.played[0]}.wav").read_bytes()))
        prompt = measure(decode((tmp_path / "pad-w1" / f"{pad1.played[0]}.wav").read_bytes()))
        assert call.seconds > 2 * prompt.seconds > 1.0
        assert call.voiced > 0.4 and prompt.voiced > 0.4
        await until(lambda: len(device_events(engine, "voice.played")) == 3)
        texts = {str(e["data"]["text"]) for e in device_events(engine, "voice.played")}  # type: ignore[index]
        assert "请在一米线外等候" in texts and "请您对本次服务进行评价" in texts
    finally:
        await stop(tasks)


async def test_a_player_refuses_audio_it_cannot_read_and_plays_on(
    engine: QueueEngine, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    from sync.devicebus import DeviceCommand

    registry = DeviceRegistry(engine.store, prefix=PREFIX, hall=HALL)
    registry.register(engine.clock.now_ms(), device_id="pad-w1", kind="voice_player", window="w1")
    bus = DeviceBus(
        engine.store, host=mosquitto.host, port=mosquitto.port, prefix=PREFIX, hall=HALL
    )
    pad = player("pad-w1", mosquitto, tmp_path / "pad")
    tasks = [asyncio.create_task(t.run()) for t in (bus, pad)]
    try:
        await asyncio.wait_for(asyncio.gather(bus.subscribed(), pad.ready.wait()), 10)
        bus.command("pad-w1", "play", DeviceCommand(id="bad-1", data={"audio": "bm90IGF1ZGlv"}))
        bus.command("pad-w1", "play", DeviceCommand(id="bad-2", data={"audio": "%%%"}))
        bus.command("pad-w1", "play", DeviceCommand(id="bad-3", data={}))
        import base64

        from edge.voice.audio import opus_bytes

        tone = np.sin(np.arange(12_000) / 24_000 * 2 * np.pi * 440).astype(np.float32) * 0.5
        audio = base64.b64encode(opus_bytes(tone)).decode()
        bus.command("pad-w1", "play", DeviceCommand(id="good", data={"audio": audio}))
        await until(lambda: pad.played == ["good"])
        await until(lambda: len(device_events(engine, "voice.failed")) == 3)
        assert (
            abs(measure(decode((tmp_path / "pad" / "good.wav").read_bytes())).seconds - 0.5) < 0.05
        )
    finally:
        await stop(tasks)
