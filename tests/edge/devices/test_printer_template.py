"""The ticket template as the cloud authors it: a sensible default, mistakes refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sync.tickettemplate import DEFAULT_TEMPLATE, FIELDS, QrElement, TicketTemplate


def test_the_default_template_shows_every_field_and_the_qr_code():
    kinds = {e.kind for e in DEFAULT_TEMPLATE.elements}
    assert kinds == {*FIELDS, "qr"}
    assert [e.line for e in DEFAULT_TEMPLATE.ordered()] == sorted(
        e.line for e in DEFAULT_TEMPLATE.elements
    )
    assert (
        TicketTemplate.model_validate_json(DEFAULT_TEMPLATE.model_dump_json()) == DEFAULT_TEMPLATE
    )


def test_a_template_round_trips_and_takes_a_label():
    template = TicketTemplate.model_validate(
        {"elements": [{"kind": "waiting", "line": 0, "format": "前面还有 {waiting} 人等候"},
                      {"kind": "qr", "line": 1, "module_size": 8, "error_correction": "Q"}]}
    )  # fmt: skip
    assert isinstance(template.ordered()[1], QrElement)


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"kind": "number", "line": 0, "colour": "red"}, "Extra inputs"),
        ({"kind": "number", "line": 0, "format": "{nmber}"}, "unknown field"),
        ({"kind": "number", "line": 0, "format": "{number"}, "bad format"),
        ({"kind": "number", "line": 0, "width": 9}, "less than or equal to 8"),
        ({"kind": "number", "line": 0, "effect": "blink"}, "effect"),
        ({"kind": "number", "line": 0, "font": "C"}, "font"),
        ({"kind": "logo", "line": 0}, "kind"),
    ],
)
def test_a_mistake_in_an_element_is_refused(element, message):
    with pytest.raises(ValidationError, match=message):
        TicketTemplate.model_validate({"elements": [element]})


def test_an_element_twice_or_a_line_twice_is_refused():
    with pytest.raises(ValidationError, match="'number' appears twice"):
        TicketTemplate.model_validate(
            {"elements": [{"kind": "number", "line": 0}, {"kind": "number", "line": 1}]}
        )
    with pytest.raises(ValidationError, match="line 3 is used twice"):
        TicketTemplate.model_validate(
            {"elements": [{"kind": "number", "line": 3}, {"kind": "time", "line": 3}]}
        )
