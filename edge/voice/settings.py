"""How each calling area is called aloud right now: the hall's voice setup, then the switches
set on the edge (the admin side's remote silent switch, §4.2.3 (3)), which win until changed.

A switch is a write like any other: one transaction, an idempotency key, a `voice.changed`
event in the log (so the cloud learns it), kept across restarts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.queue import QueueEngine, QueueError
from edge.queue.store import Transaction
from sync.voice import Language, Languages, Speed

__all__ = ["AreaSettings", "VoiceChange", "area_settings", "change_area", "voice_status"]


@dataclass(frozen=True)
class AreaSettings:
    area: str
    languages: tuple[Language, ...]
    speed: Speed
    repeat: int
    silent: bool
    overridden: bool  # some switch was set on the edge

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "languages": list(self.languages)}


class VoiceChange(BaseModel):
    """What the admin side may switch for an area; `null` hands a setting back to the setup."""

    model_config = ConfigDict(extra="forbid")

    silent: bool | None = None
    speed: Speed | None = None
    languages: Languages | None = None
    repeat: int | None = Field(None, ge=1, le=5)


def area_settings(engine: QueueEngine, area: str) -> AreaSettings:
    voice = engine.hall.setup.voice
    own = voice.area(area)
    row = engine.conn.execute("SELECT * FROM voice_settings WHERE area = ?", (area,)).fetchone()

    def pick(name: str, default: Any) -> Any:
        if row is not None and row[name] is not None:
            return json.loads(row[name]) if name == "languages" else row[name]
        value = getattr(own, name) if own is not None else None
        return default if value is None else value

    return AreaSettings(
        area=area,
        languages=tuple(pick("languages", voice.languages)),
        speed=pick("speed", voice.speed),
        repeat=int(pick("repeat", voice.repeat)),
        silent=bool(pick("silent", voice.silent)),
        overridden=row is not None,
    )


def voice_status(engine: QueueEngine) -> list[dict[str, Any]]:
    return [area_settings(engine, a).as_json() for a in engine.hall.areas]


def change_area(
    engine: QueueEngine, area: str, change: VoiceChange, *, actor: str, key: str | None
) -> dict[str, Any]:
    """Set (or, with null, clear) the area's switches; answers the area's settings."""
    if area not in engine.hall.areas:
        raise QueueError("unknown_area")
    fields = change.model_fields_set

    def body(tx: Transaction) -> dict[str, Any]:
        row = tx.one("SELECT * FROM voice_settings WHERE area = ?", (area,))
        current: dict[str, Any] = {
            name: (row[name] if row is not None else None)
            for name in ("silent", "speed", "languages", "repeat")
        }
        for name in fields:
            value = getattr(change, name)
            current[name] = json.dumps(value) if name == "languages" and value else value
            if name == "silent" and value is not None:
                current[name] = int(value)
        if all(v is None for v in current.values()):
            tx.run("DELETE FROM voice_settings WHERE area = ?", (area,))
        else:
            tx.run(
                "INSERT INTO voice_settings "
                "(area, silent, speed, languages, repeat, changed_at, changed_by) "
                "VALUES (:area, :silent, :speed, :languages, :repeat, :at, :by) "
                "ON CONFLICT (area) DO UPDATE SET silent = :silent, speed = :speed, "
                "languages = :languages, repeat = :repeat, changed_at = :at, changed_by = :by",
                {**current, "area": area, "at": tx.now_ms, "by": actor},
            )
        settings = _settings_in(engine, tx, area)
        tx.event("voice.changed", {"voice": settings, "changed": sorted(fields), "by": actor})
        return {"voice": settings}

    return engine.store.write(engine.clock.now_ms(), "setVoice", body, principal=actor, key=key)


def _settings_in(engine: QueueEngine, tx: Transaction, area: str) -> dict[str, Any]:
    # the transaction's connection is the engine's: the read sees the row just written
    assert tx.conn is engine.conn
    return area_settings(engine, area).as_json()
