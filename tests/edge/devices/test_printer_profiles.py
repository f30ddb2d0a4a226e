"""Printer profiles: the shipped catalogue validates, and a broken file says what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.devices import profiles
from edge.devices.printer.profile import PrinterProfile

SHIPPED = profiles.PROFILES_DIR / "printers"


def catalogue(root: Path = profiles.PROFILES_DIR) -> dict[str, PrinterProfile]:
    found = profiles.load_catalogue(root).kind("printers")
    return {k: v for k, v in found.items() if isinstance(v, PrinterProfile)}


def with_file(tmp_path: Path, name: str, text: str) -> Path:
    shutil.copytree(SHIPPED, tmp_path / "printers")
    (tmp_path / "printers" / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_every_shipped_model_validates_and_names_its_sources():
    found = catalogue()
    models = {k: p for k, p in found.items() if not p.abstract}
    assert {"xprinter-xp-80c", "rongta-rp326", "zjiang-pos-5890"} <= set(models)
    assert sorted(p.paper_width_mm for p in models.values()) == [58, 80, 80]
    for profile in models.values():
        assert profile.inherits == "escpos-cn" and found["escpos-cn"].abstract
        assert profile.source and profile.transports
        assert profile.columns("A") * profile.font_a.width <= profile.dots_per_line
    assert any("escpos-printer-db" in s for s in models["rongta-rp326"].source)
    assert any("escpos-printer-db" in s for s in models["zjiang-pos-5890"].source)


def test_a_child_keeps_what_it_does_not_override():
    found = catalogue()
    zjiang = found["zjiang-pos-5890"]
    assert zjiang.dots_per_line == 384 and zjiang.encoding == "gb18030"
    assert not zjiang.capabilities.qr and zjiang.capabilities.raster_image
    assert found["rongta-rp326"].capabilities.qr and found["rongta-rp326"].chinese_mode == "fs_and"


def test_an_unknown_key_is_refused_with_the_file_and_the_key(tmp_path):
    root = with_file(
        tmp_path,
        "bad-printer.toml",
        'id = "bad-printer"\nname = "X"\nvendor = "Y"\ninherits = "escpos-cn"\n'
        'print_speed = 250\n[[transports]]\ntype = "tcp"\nport = 9100\n',
    )
    with pytest.raises(
        profiles.ProfileError, match=r"bad-printer\.toml: print_speed: Extra inputs"
    ):
        catalogue(root)


def test_an_encoding_the_driver_cannot_send_is_refused(tmp_path):
    root = with_file(
        tmp_path,
        "sjis-printer.toml",
        'id = "sjis-printer"\nname = "X"\nvendor = "Y"\ninherits = "escpos-cn"\n'
        'encoding = "shift_jis"\n[[transports]]\ntype = "tcp"\nport = 9100\n',
    )
    with pytest.raises(profiles.ProfileError, match=r"sjis-printer\.toml: encoding: .*gb18030"):
        catalogue(root)


def test_a_capability_typo_is_refused(tmp_path):
    root = with_file(
        tmp_path,
        "typo-printer.toml",
        'id = "typo-printer"\nname = "X"\nvendor = "Y"\ninherits = "escpos-cn"\n'
        '[capabilities]\nqrcode = true\n[[transports]]\ntype = "tcp"\nport = 9100\n',
    )
    with pytest.raises(profiles.ProfileError, match=r"capabilities\.qrcode"):
        catalogue(root)


def test_a_model_without_a_transport_is_refused(tmp_path):
    root = with_file(
        tmp_path, "lonely.toml", 'id = "lonely"\nname = "X"\nvendor = "Y"\ninherits = "escpos-cn"\n'
    )
    with pytest.raises(profiles.ProfileError, match="at least one transport"):
        catalogue(root)
