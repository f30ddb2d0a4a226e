"""LED profiles: every model file loads, and a wrong one is refused with a clear reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.devices.led.profile import LedProfile
from edge.devices.profiles import PROFILES_DIR, ProfileError, _merged, _read, load_catalogue

LEDS = PROFILES_DIR / "leds"


def raw_profiles() -> dict[str, dict[str, Any]]:
    return {path.stem: _read(path) for path in sorted(Path(LEDS).glob("*.toml"))}


def valid(profile_id: str = "onbon-bx-5k1-window-128x16") -> dict[str, Any]:
    return _merged("leds", profile_id, raw_profiles(), [])


def refusal(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        LedProfile.model_validate(document)
    return str(caught.value)


@pytest.mark.parametrize("profile_id", sorted(raw_profiles()))
def test_every_led_profile_validates_and_cites_its_sources(profile_id: str) -> None:
    profile = LedProfile.model_validate(valid(profile_id))
    assert profile.id == profile_id
    assert profile.source, "each profile says where its facts come from"
    assert len(profile.areas()) == profile.capabilities.lines


def test_the_hall_has_window_bars_of_two_protocols_and_a_central_screen() -> None:
    models = [
        LedProfile.model_validate(valid(pid))
        for pid, raw in raw_profiles().items()
        if not raw.get("abstract")
    ]
    window = {p.protocol for p in models if p.role == "window"}
    assert {"onbon-bx-font", "modbus-numeric"} <= window
    assert any(p.role == "central" and p.transport("tcp") for p in models)


def test_the_catalogue_loader_finds_the_led_models() -> None:
    catalogue = load_catalogue()
    assert "onbon-bx-5k1-window-128x16" in catalogue.kind("leds")
    assert catalogue.get("leds", "led-485-046").capabilities.chinese is False  # type: ignore[attr-defined]


def test_an_unknown_protocol_is_refused_naming_the_choices() -> None:
    message = refusal({**valid(), "protocol": "onbon-bx-graphic"})
    assert "protocol" in message and "onbon-bx-font" in message


def test_an_unknown_key_is_refused() -> None:
    document = valid()
    document["capabilities"] = {**document["capabilities"], "brightness": 7}
    message = refusal(document)
    assert "capabilities.brightness" in message and "Extra inputs are not permitted" in message


def test_a_checksum_the_protocol_does_not_use_is_refused() -> None:
    document = valid()
    document["frame"] = {**document["frame"], "checksum": "crc16-modbus"}
    assert "frame.checksum 'crc16-modbus' is not one of ['crc16-arc']" in refusal(document)


def test_a_serial_huidu_screen_is_refused() -> None:
    document = {**valid("huidu-sdk2-hall-192x96"), "transports": [{"type": "serial"}]}
    assert "transport 'serial' is not one of ['tcp']" in refusal(document)


def test_onbon_areas_must_fall_on_8_pixel_columns_and_inside_the_screen() -> None:
    document = valid()
    document["layout"] = {"areas": [{"x": 4, "y": 0, "width": 128, "height": 16}]}
    message = refusal(document)
    assert "multiples of 8" in message and "outside 128×16" in message


def test_a_segment_display_with_a_chinese_font_is_refused() -> None:
    document = valid("led-485-046")
    document["capabilities"] = {**document["capabilities"], "chinese": True}
    assert "segment display has no font" in refusal(document)


def test_the_loader_names_the_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "leds"
    folder.mkdir()
    for path in Path(LEDS).glob("*.toml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    broken = folder / "onbon-bx-5k1-window-128x16.toml"
    broken.write_text("colour = 'red'\n" + broken.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"onbon-bx-5k1-window-128x16\.toml: colour"):
        load_catalogue(tmp_path)
