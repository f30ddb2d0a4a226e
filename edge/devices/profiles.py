"""Firmware profiles: one declarative TOML file per device model, validated on load.

A profile file lives in `firmware-profiles/<kind>/<id>.toml`; its file name is its id. It may
`inherits = "<parent id>"` another profile of the same kind: the parent's tables are merged
under the child's, key by key. The merged document is validated by the kind's model (unknown
keys refused), so a model that differs from another only in data is a new file, never code.
Drivers ask a profile what it can do (`profile.capabilities`), never which model it is.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "KINDS",
    "PROFILES_DIR",
    "Catalogue",
    "ProfileBase",
    "ProfileError",
    "SerialTransport",
    "TcpTransport",
    "UsbTransport",
    "load_catalogue",
]

PROFILES_DIR = Path(__file__).resolve().parent.parent.parent / "firmware-profiles"

# kind -> "module:Model"; the folder of a kind's files is its name.
KINDS: dict[str, str] = {
    "printers": "edge.devices.printer.profile:PrinterProfile",
    "leds": "edge.devices.led.profile:LedProfile",
    "scanners": "edge.devices.readers:ScannerProfile",
    "card-readers": "edge.devices.readers:CardReaderProfile",
}


class ProfileError(Exception):
    """A profile file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SerialTransport(_Strict):
    type: Literal["serial"] = "serial"
    baudrate: int = Field(9600, description="bits per second")
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1


class TcpTransport(_Strict):
    type: Literal["tcp"] = "tcp"
    port: int = Field(ge=1, le=65535, description="the device's TCP port")


class UsbTransport(_Strict):
    type: Literal["usb"] = "usb"
    vendor_id: int = Field(ge=0, le=0xFFFF)
    product_id: int = Field(ge=0, le=0xFFFF)


class ProfileBase(_Strict):
    """What every profile has, whatever its kind."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="= the file name")
    name: str = Field(min_length=1, description="the model as its vendor names it")
    vendor: str = Field(min_length=1)
    version: int = Field(1, ge=1, description="version of this profile file")
    inherits: str | None = Field(None, description="parent profile id, same kind")
    source: list[str] = Field(
        default_factory=list, description="where the facts come from (manual, repository)"
    )
    abstract: bool = Field(False, description="a parent only, not a model to install")


class Catalogue:
    """Every profile of every kind, merged and validated."""

    def __init__(self, profiles: dict[str, dict[str, ProfileBase]]) -> None:
        self._profiles = profiles

    def kind(self, kind: str) -> dict[str, ProfileBase]:
        return dict(self._profiles.get(kind, {}))

    def get(self, kind: str, profile_id: str) -> ProfileBase:
        try:
            return self._profiles[kind][profile_id]
        except KeyError as exc:
            raise ProfileError(f"no {kind} profile {profile_id!r}") from exc

    def __iter__(self) -> Any:
        for kind, profiles in sorted(self._profiles.items()):
            for profile in profiles.values():
                yield kind, profile


def load_catalogue(root: Path = PROFILES_DIR) -> Catalogue:
    """Load, merge and validate every profile under `root`; the first problem raises."""
    profiles: dict[str, dict[str, ProfileBase]] = {}
    for kind, target in KINDS.items():
        folder = root / kind
        raw = {path.stem: _read(path) for path in sorted(folder.glob("*.toml"))}
        model = _model(target)
        loaded: dict[str, ProfileBase] = {}
        for profile_id in raw:
            merged = _merged(kind, profile_id, raw, [])
            try:
                profile = model.model_validate(merged)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                raise ProfileError(f"{folder / profile_id}.toml: {problems}") from exc
            if profile.id != profile_id:
                raise ProfileError(f"{folder / profile_id}.toml: id {profile.id!r} ≠ file name")
            loaded[profile_id] = profile
        profiles[kind] = loaded
    return Catalogue(profiles)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc


def _merged(
    kind: str, profile_id: str, raw: dict[str, dict[str, Any]], chain: list[str]
) -> dict[str, Any]:
    if profile_id in chain:
        raise ProfileError(f"{kind}: inheritance loop {' → '.join([*chain, profile_id])}")
    if profile_id not in raw:
        raise ProfileError(f"{kind}/{chain[-1]}.toml inherits unknown profile {profile_id!r}")
    own = raw[profile_id]
    parent_id = own.get("inherits")
    if parent_id is None:
        return dict(own)
    parent = _merged(kind, parent_id, raw, [*chain, profile_id])
    parent.pop("abstract", None)
    return _deep_merge(parent, own)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _model(target: str) -> type[ProfileBase]:
    module_name, _, class_name = target.partition(":")
    model = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(model, type) and issubclass(model, ProfileBase)
    return model
