"""The edge API's voice operations: each area's voice settings, and the remote silent switch."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from edge.api.common import Operation, body_of, engine_of, idempotency_key, require
from edge.voice.calling import VoiceCalling
from edge.voice.settings import VoiceChange, change_area, voice_status

__all__ = ["VOICE", "VOICE_OPERATIONS"]

VOICE = web.AppKey("voice", VoiceCalling)


async def get_voice(request: web.Request) -> Any:
    require(request, "admin", "cloud", "staff")
    answer: dict[str, Any] = {"areas": voice_status(engine_of(request))}
    calling = request.app.get(VOICE)
    answer["enabled"] = calling is not None
    if calling is not None:
        answer["stats"] = dict(calling.stats) | dict(calling.voice.stats)
        answer["clips"] = calling.voice.cache.count()
        answer["last_error"] = calling.voice.last_error
    return answer


async def set_voice(request: web.Request) -> Any:
    principal = require(request, "admin", "cloud")
    change = await body_of(request, VoiceChange)
    return change_area(
        engine_of(request),
        request.match_info["area"],
        change,
        actor=f"{principal.kind}:{principal.id}",
        key=idempotency_key(request),
    )


VOICE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET", "/api/voice", "getVoice",
        "Voice settings of every calling area, with the clip cache and counters", get_voice,
    ),
    Operation(
        "PATCH", "/api/voice/areas/{area}", "setVoice",
        "Switch an area's voice: silent (无声叫号), speed, languages, repeats; null resets",
        set_voice, VoiceChange,
    ),
)  # fmt: skip
