"""The cloud's configuration file: paths in it are relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.config import ConfigError, load_config


def test_relative_paths_are_beside_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "cloud.toml"
    path.write_text('[database]\nurl = "sqlite+aiosqlite:///cloud.sqlite3"\n', encoding="utf-8")
    config = load_config(path)
    assert config.database.url == f"sqlite+aiosqlite:///{tmp_path / 'cloud.sqlite3'}"
    assert config.uploads.dir == str(tmp_path / "uploads")
    assert config.signing.private_key_file == str(tmp_path / "signing.key")

    path.write_text('[uploads]\ndir = "files"\nmax_mb = 5\n', encoding="utf-8")
    assert load_config(path).uploads.dir == str(tmp_path / "files")
    path.write_text('[uploads]\ndir = "/srv/files"\n', encoding="utf-8")
    assert load_config(path).uploads.dir == "/srv/files"


def test_an_unknown_key_is_refused_with_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "cloud.toml"
    path.write_text("[uploads]\nmax_size = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"uploads\.max_size"):
        load_config(path)
