"""A hall's own settings (HallInfo: name, hours, working weekdays, assignment mode, evaluation
gate, auto-call, green channel age…) and its voice (VoiceSetup: languages, speed, repeats,
the call templates and prompts of the hall and of each calling area), as one row of
`hall_settings`, the voice columns of `hall_areas` and the rows of `hall_phrases`.

A hall without a settings row has HallInfo's defaults under its registered name. The calendar
dates of HallInfo are not authored here: the calendar fills them when a version is stored.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.audit import Origin, record
from cloud.db import halls
from cloud.errors import ApiError
from cloud.hallconfig.pieces import contract_problem
from cloud.hallconfig.tables import hall_areas, hall_phrases, hall_settings
from sync.hallsetup import HallInfo
from sync.voice import AreaVoice, VoiceSetup

__all__ = [
    "CALENDAR_FIELDS",
    "SETTINGS_FIELDS",
    "read_settings",
    "read_voice",
    "write_area_voice",
    "write_settings",
    "write_voice",
]

# filled from the hall's calendar when a version is stored (cloud/setups.py)
CALENDAR_FIELDS = ("closed_dates", "extra_working_dates")
SETTINGS_FIELDS = tuple(f for f in HallInfo.model_fields if f not in {"id", *CALENDAR_FIELDS})

_CALL = "call"  # the name of a call template among the phrases
_HALL_WIDE = ""  # the area of the hall's own phrases
_VOICE_COLUMNS = ("languages", "speed", "repeat", "silent")


async def read_settings(conn: AsyncConnection, hall: str) -> dict[str, Any]:
    """The hall's settings as HallInfo's JSON, without the calendar dates."""
    row = (await conn.execute(sa.select(hall_settings).where(hall_settings.c.hall == hall))).first()
    if row is None:
        name = await conn.scalar(sa.select(halls.c.name).where(halls.c.id == hall))
        if name is None:
            raise ApiError("unknown_hall", hall)
        info = HallInfo(id=hall, name=name).model_dump(mode="json")
        return {k: v for k, v in info.items() if k not in CALENDAR_FIELDS}
    return {"id": hall, **{f: row._mapping[f] for f in SETTINGS_FIELDS}}


async def write_settings(
    conn: AsyncConnection,
    hall: str,
    body: dict[str, Any],
    *,
    replace: bool,
    department: str | None,
    origin: Origin,
    now_ms: int,
) -> dict[str, Any]:
    """Set the hall's settings: all of them (`replace`, what the body leaves out takes its
    default) or the ones the body gives; 422 for settings the contract refuses."""
    if body.get("id", hall) != hall:
        raise ApiError("invalid_hall_config", "大厅编号不能修改")
    given = [f for f in CALENDAR_FIELDS if f in body]
    if given:
        raise ApiError("invalid_hall_config", f"{given[0]} 由行事历维护，请在行事历中修改")
    before = await read_settings(conn, hall)
    base = {"id": hall, "name": before["name"]} if replace else before
    try:
        info = HallInfo.model_validate({**base, **body, "id": hall})
    except ValidationError as exc:
        raise ApiError("invalid_hall_config", contract_problem(exc, "大厅设置")) from None
    after = {k: v for k, v in info.model_dump(mode="json").items() if k not in CALENDAR_FIELDS}
    values = {f: after[f] for f in SETTINGS_FIELDS}
    for name, value in values.items():
        length = getattr(hall_settings.c[name].type, "length", None)
        if isinstance(value, str) and length is not None and len(value) > length:
            raise ApiError("invalid_hall_config", f"大厅设置：{name} 不能超过 {length} 个字符")
    await _ensure_row(conn, hall, department=department, actor=origin.actor, now_ms=now_ms)
    await conn.execute(
        sa.update(hall_settings)
        .where(hall_settings.c.hall == hall)
        .values(**values, department_id=department, updated_at=now_ms)
    )
    await record(conn, origin, action="update", resource="hall_settings", resource_id=hall,
                 hall=hall, old=before, new=after, now_ms=now_ms)  # fmt: skip
    return after


async def read_voice(conn: AsyncConnection, hall: str) -> VoiceSetup:
    """The hall's voice as the contract has it; defaults where nothing is authored."""
    row = (await conn.execute(sa.select(hall_settings).where(hall_settings.c.hall == hall))).first()
    phrases: dict[str, dict[str, dict[str, str]]] = {}
    for area, language, name, text in await conn.execute(
        sa.select(
            hall_phrases.c.area, hall_phrases.c.language, hall_phrases.c.name, hall_phrases.c.text
        ).where(hall_phrases.c.hall == hall)
    ):
        phrases.setdefault(area, {}).setdefault(language, {})[name] = text
    default = VoiceSetup()
    own = phrases.get(_HALL_WIDE, {})
    voice: dict[str, Any] = {
        "templates": {**default.templates, **_templates(own)},
        "prompts": {
            lang: {**texts, **{k: v for k, v in own.get(lang, {}).items() if k != _CALL}}
            for lang, texts in default.prompts.items()
        },
        "areas": [],
    }
    if row is not None:
        voice.update({c: row._mapping[f"voice_{c}"] for c in _VOICE_COLUMNS})
    areas = await conn.execute(
        sa.select(hall_areas)
        .where(hall_areas.c.hall == hall)
        .order_by(hall_areas.c.sort, hall_areas.c.id)
    )
    for area in areas:
        settings = {c: area._mapping[f"voice_{c}"] for c in _VOICE_COLUMNS}
        templates = _templates(phrases.get(area.id, {}))
        if templates or any(v is not None for v in settings.values()):
            voice["areas"].append({"area": area.id, **settings, "templates": templates})
    return VoiceSetup.model_validate(voice)


async def write_voice(
    conn: AsyncConnection,
    hall: str,
    voice: VoiceSetup,
    *,
    department: str | None,
    origin: Origin,
    now_ms: int,
) -> VoiceSetup:
    """Replace the hall's voice; 422 `hall_config_reference` for an area the hall lacks."""
    before = await read_voice(conn, hall)
    known = set(
        (await conn.scalars(sa.select(hall_areas.c.id).where(hall_areas.c.hall == hall))).all()
    )
    missing = [a.area for a in voice.areas if a.area not in known]
    if missing:
        raise ApiError(
            "hall_config_reference", f"语音设置：本大厅没有叫号区域 {'、'.join(missing)}"
        )
    await _ensure_row(conn, hall, department=department, actor=origin.actor, now_ms=now_ms)
    await conn.execute(
        sa.update(hall_settings)
        .where(hall_settings.c.hall == hall)
        .values(**_voice_values(voice), updated_at=now_ms)
    )
    await conn.execute(
        sa.update(hall_areas)
        .where(hall_areas.c.hall == hall)
        .values(**{f"voice_{c}": None for c in _VOICE_COLUMNS})
    )
    for area in voice.areas:
        await conn.execute(
            sa.update(hall_areas)
            .where(hall_areas.c.hall == hall, hall_areas.c.id == area.area)
            .values(**_voice_values(area), updated_at=now_ms)
        )
    await conn.execute(sa.delete(hall_phrases).where(hall_phrases.c.hall == hall))
    rows = [_phrase(hall, _HALL_WIDE, lang, _CALL, text) for lang, text in voice.templates.items()]
    rows += [
        _phrase(hall, _HALL_WIDE, lang, name, text)
        for lang, texts in voice.prompts.items()
        for name, text in texts.items()
    ]
    rows += [
        _phrase(hall, area.area, lang, _CALL, text)
        for area in voice.areas
        for lang, text in area.templates.items()
    ]
    await conn.execute(sa.insert(hall_phrases), rows)
    after = voice.model_dump(mode="json")
    await record(conn, origin, action="update", resource="hall_voice", resource_id=hall,
                 hall=hall, old=before.model_dump(mode="json"), new=after,
                 now_ms=now_ms)  # fmt: skip
    return voice


async def write_area_voice(
    conn: AsyncConnection,
    hall: str,
    area: str,
    own: AreaVoice | None,
    *,
    department: str | None,
    origin: Origin,
    now_ms: int,
) -> VoiceSetup:
    """Set one calling area's own voice settings (`own`; None, or nothing set in it: the area
    follows the hall's again), the hall's voice and the other areas' as they are; 404
    `unknown_hall_config` for an area the hall lacks."""
    found = await conn.scalar(
        sa.select(hall_areas.c.id).where(hall_areas.c.hall == hall, hall_areas.c.id == area)
    )
    if found is None:
        raise ApiError("unknown_hall_config", f"叫号区域 {area}")
    if own is not None and own.area != area:
        raise ApiError("invalid_hall_config", f"语音设置：应为叫号区域 {area} 的设置")
    current = await read_voice(conn, hall)
    areas = [a for a in current.areas if a.area != area]
    if own is not None and (
        own.templates or any(getattr(own, c) is not None for c in _VOICE_COLUMNS)
    ):
        areas.append(own)  # read back in the areas' order
    voice = current.model_copy(update={"areas": areas})
    return await write_voice(conn, hall, voice, department=department, origin=origin,
                             now_ms=now_ms)  # fmt: skip


# ---------------------------------------------------------------------------- helpers


async def _ensure_row(
    conn: AsyncConnection, hall: str, *, department: str | None, actor: str, now_ms: int
) -> None:
    """The hall's settings row, made with the defaults when there is none yet."""
    found = await conn.scalar(sa.select(hall_settings.c.hall).where(hall_settings.c.hall == hall))
    if found is not None:
        return
    defaults = await read_settings(conn, hall)
    await conn.execute(
        sa.insert(hall_settings).values(
            hall=hall,
            **{f: defaults[f] for f in SETTINGS_FIELDS},
            **_voice_values(VoiceSetup()),
            department_id=department,
            created_by=actor,
            created_at=now_ms,
            updated_at=now_ms,
        )
    )


def _voice_values(voice: VoiceSetup | AreaVoice) -> dict[str, Any]:
    plain = voice.model_dump(mode="json")
    return {f"voice_{c}": plain[c] for c in _VOICE_COLUMNS}


def _templates(texts: dict[str, dict[str, str]]) -> dict[str, str]:
    return {lang: names[_CALL] for lang, names in texts.items() if _CALL in names}


def _phrase(hall: str, area: str, language: str, name: str, text: str) -> dict[str, str]:
    return {"hall": hall, "area": area, "language": language, "name": name, "text": text}
