"""The project's foundation: layout rules, documented configuration, the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from edge.config import reference

ROOT = Path(__file__).resolve().parent.parent


def test_edge_and_cloud_never_import_each_other() -> None:
    pattern = {"edge": r"^\s*(from|import)\s+cloud\b", "cloud": r"^\s*(from|import)\s+edge\b"}
    for package, regex in pattern.items():
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(regex, text, re.M), f"{path} crosses the edge/cloud line"


def test_every_config_key_is_documented() -> None:
    documented = (ROOT / "docs" / "edge-config.md").read_text(encoding="utf-8")
    assert documented == reference(), "run `hall edge config-reference > docs/edge-config.md`"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```")[1].strip().splitlines()
    commands = [line.split("#")[0].strip() for line in block[1:] if line.strip()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in ci


def test_hall_command_lists_its_subcommands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smarthall", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "demo" in out and "edge" in out


def test_the_device_bus_document_matches_the_code() -> None:
    from sync.devicebus import reference as topics

    documented = (ROOT / "docs" / "device-bus.md").read_text(encoding="utf-8")
    assert documented == topics(), "run `hall device topics > docs/device-bus.md`"
