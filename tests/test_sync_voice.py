"""The voice contract: numbers read aloud, phrase templates checked, settings per area."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sync.hallsetup import HallSetup
from sync.voice import DEFAULT_TEMPLATES, VoiceSetup, call_pieces, cardinal, spoken_characters
from tests.edge.hall import small_hall


@pytest.mark.parametrize(
    ("number", "said"),
    [
        (0, "零"), (3, "三"), (10, "十"), (12, "十二"), (20, "二十"), (101, "一百零一"),
        (110, "一百一十"), (1005, "一千零五"), (2340, "二千三百四十"), (9999, "九千九百九十九"),
    ],
)  # fmt: skip
def test_window_numbers_are_read_as_chinese_cardinals(number: int, said: str) -> None:
    assert cardinal(number) == said


def test_ticket_numbers_are_read_one_character_at_a_time() -> None:
    assert spoken_characters("a012") == ["A", "零", "一", "二"]
    assert spoken_characters("GB 90") == ["G", "B", "九", "零"]


def test_a_window_that_is_not_a_number_is_spelled() -> None:
    pieces = call_pieces("请{number}号到{window}号窗口", number="A1", window="B3")
    assert [p.text for p in pieces] == ["请", "A", "一", "号到", "B", "三", "号窗口"]


def test_names_in_a_template_are_single_clips() -> None:
    pieces = call_pieces(
        "请{number}号到{window_name}办理{service}", number="C9", window="", window_name="综合窗口",
        service="社保卡",
    )  # fmt: skip
    assert [p.text for p in pieces] == ["请", "C", "九", "号到", "综合窗口", "办理", "社保卡"]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("请到{window}号窗口", "does not say the ticket"),
        ("请{number}号到{room}号窗口", "unknown field 'room'"),
        ("请{number号", "phrase template"),
    ],
)
def test_bad_templates_are_refused_with_the_reason(template: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        VoiceSetup(templates={**DEFAULT_TEMPLATES, "cmn": template})


def test_voice_settings_must_name_areas_of_the_hall() -> None:
    raw = small_hall().model_dump(mode="json")
    raw["voice"] = {"areas": [{"area": "main", "silent": True}, {"area": "basement"}]}
    with pytest.raises(ValidationError, match="voice: unknown area 'basement'"):
        HallSetup.model_validate(raw)
    raw["voice"] = {"areas": [{"area": "main", "languages": ["yue", "yue"]}]}
    with pytest.raises(ValidationError, match="listed twice"):
        HallSetup.model_validate(raw)


def test_a_setup_without_voice_gets_the_default_voice() -> None:
    raw = small_hall().model_dump(mode="json")
    del raw["voice"]
    setup = HallSetup.model_validate(raw)
    assert setup.voice.languages == ["cmn"] and setup.voice.repeat == 2
    assert setup.voice.template("main", "yue") == DEFAULT_TEMPLATES["yue"]
