"""The default ticket drawn from its ESC/POS bytes matches the reviewed reference image.

To redraw the reference after a deliberate change: SMARTHALL_UPDATE_REFERENCE=1 pytest this
file, then look at the PNG before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from edge.devices.printer.fonts import CjkFontMissing, find_cjk_font
from edge.devices.printer.image import render_png
from tests.edge.devices.test_printer_escpos import job, printers  # noqa: F401 (fixture)

REFERENCE = Path(__file__).parent / "reference" / "ticket-80mm.png"
REFERENCE_FONT = "wqy-zenhei.ttc"  # the font the reference was drawn with


@pytest.fixture(scope="module")
def font() -> Path:
    try:
        return find_cjk_font()[0]
    except CjkFontMissing as exc:  # scripts/setup installs fonts-wqy-zenhei
        pytest.fail(str(exc))


def ink(image: Image.Image) -> float:
    histogram = image.convert("L").histogram()
    return histogram[0] / (image.width * image.height)


def test_the_default_ticket_looks_like_the_reference(printers, font, tmp_path):  # noqa: F811
    profile = printers["xprinter-xp-80c"]
    drawn = render_png(job(profile), profile, tmp_path / "ticket.png")
    assert (tmp_path / "ticket.png").stat().st_size > 0
    assert drawn.width == round(80 / 25.4 * 203)
    if os.environ.get("SMARTHALL_UPDATE_REFERENCE"):
        drawn.save(REFERENCE, format="PNG", optimize=True)
    reference = Image.open(REFERENCE)
    assert drawn.size == reference.size
    assert 0.04 < ink(drawn) < 0.25  # text and a QR code, not a blank or black strip
    if font.name != REFERENCE_FONT:  # another CJK font: glyphs differ, the layout does not
        assert ink(drawn) == pytest.approx(ink(reference), rel=0.3)
        return
    diff = ImageChops.difference(drawn.convert("L"), reference.convert("L"))
    differing = sum(diff.point(lambda v: 1 if v else 0).histogram()[1:])
    assert differing / (drawn.width * drawn.height) < 0.01


def test_the_58mm_ticket_fits_its_paper(printers, font):  # noqa: F811
    profile = printers["zjiang-pos-5890"]
    drawn = render_png(job(profile), profile)
    assert drawn.width == round(58 / 25.4 * 203)
    margin = (drawn.width - profile.dots_per_line) // 2
    edges = drawn.crop((0, 0, margin - 1, drawn.height)).convert("L")
    assert edges.getextrema() == (255, 255)  # nothing printed outside the printable width
