"""The simulated controller shows what a real one would make of the driver's frames."""

from __future__ import annotations

import pytest

from edge.devices.led import LedEncodeError, LedSimulator
from edge.devices.led.profile import Area
from edge.devices.led.protocol import AreaText, protocol_for
from tests.edge.devices.test_led_frames import led_profile


@pytest.mark.parametrize(
    ("profile_id", "text"),
    [
        ("onbon-bx-5k1-window-128x16", "A012号到3号窗口"),
        ("led-485-046", "A012 3"),
        ("huidu-sdk2-hall-192x96", "请 A012 号到 3 号窗口"),
    ],
)
def test_each_protocol_shows_a_call_and_answers_a_ping(profile_id: str, text: str) -> None:
    profile = led_profile(profile_id)
    driver_side, simulator = protocol_for(profile), LedSimulator(profile)
    for frame in driver_side.session():
        reply, _ = driver_side.parse_reply(simulator.feed(frame.data) or b"")
        if frame.reply:
            assert reply is not None
            driver_side.accept(reply)
    item = AreaText(profile.areas()[0], text)
    simulator.feed(b"".join(f.data for f in driver_side.show([item])))
    assert simulator.screen[0] == text
    [ping] = driver_side.ping()
    reply, used = driver_side.parse_reply(simulator.feed(ping.data))
    assert reply is not None and reply.ok and used > 0


def test_a_cleared_segment_display_shows_nothing() -> None:
    profile = led_profile("led-485-046")
    protocol, simulator = protocol_for(profile), LedSimulator(profile)
    simulator.feed(
        b"".join(f.data for f in protocol.show([AreaText(Area(x=0, y=0, width=1, height=1), "B7")]))
    )
    simulator.feed(b"".join(f.data for f in protocol.clear()))
    assert simulator.shown == "" and [c.kind for c in simulator.commands] == ["show", "clear"]


def test_frames_for_another_screen_on_the_bus_are_ignored() -> None:
    mine, other = (
        led_profile("onbon-bx-5k1-window-128x16"),
        led_profile("onbon-bx-5k1-window-128x16", frame={"address": 2}),
    )
    simulator = LedSimulator(mine)
    simulator.feed(
        b"".join(
            f.data for f in protocol_for(other).show([AreaText(other.whole_screen(), "暂停服务")])
        )
    )
    assert simulator.screen == [] and simulator.commands == []


def test_a_font_card_keeps_at_most_four_areas() -> None:
    profile = led_profile("onbon-bx-5k1-window-128x16")
    with pytest.raises(LedEncodeError, match="1 to 4 areas"):
        protocol_for(profile).show([AreaText(profile.whole_screen(), "x")] * 5)
