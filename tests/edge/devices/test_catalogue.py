"""The whole firmware-profile catalogue loads, and every installable model is consistent."""

from __future__ import annotations

from edge.devices.profiles import KINDS, load_catalogue


def test_every_profile_of_every_kind_loads_and_cites_its_sources() -> None:
    catalogue = load_catalogue()
    seen = {kind: catalogue.kind(kind) for kind in KINDS}
    assert all(seen.values()), f"a kind without profiles: {[k for k, v in seen.items() if not v]}"
    for kind, profiles in seen.items():
        for profile_id, profile in profiles.items():
            assert profile.id == profile_id
            assert profile.source, f"{kind}/{profile_id} cites no source"
            if profile.inherits is not None:
                assert profile.inherits in profiles, f"{kind}/{profile_id}: unknown parent"


def test_the_catalogue_ships_what_the_hall_needs() -> None:
    catalogue = load_catalogue()
    printers = [p for p in catalogue.kind("printers").values() if not p.abstract]
    widths = sorted(p.paper_width_mm for p in printers)  # type: ignore[attr-defined]
    assert widths.count(80) >= 2 and widths.count(58) >= 1
    leds = [p for p in catalogue.kind("leds").values() if not p.abstract]
    window_protocols = {p.protocol for p in leds if p.role == "window"}  # type: ignore[attr-defined]
    assert len(window_protocols) >= 2
    assert any(p.role == "central" for p in leds)  # type: ignore[attr-defined]
    assert catalogue.kind("scanners") and catalogue.kind("card-readers")
