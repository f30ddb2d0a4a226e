"""The portal's pages of a hall's own settings (HallInfo: hours, weekdays, assignment, the
evaluation gate, auto-call…) and voice: the hall's, and each calling area's own, where what an
area leaves empty follows the hall's. Part of the hall configuration pages
(`cloud.portal.hall_pages`), on the services of cloud/hallconfig/settings.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from cloud.calls import origin
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.hallconfig.access import check_hall
from cloud.hallconfig.pieces import PIECES, get_piece, list_pieces
from cloud.hallconfig.settings import (
    read_settings,
    read_voice,
    write_area_voice,
    write_settings,
    write_voice,
)
from cloud.hallconfig.tables import hall_settings
from cloud.identity.principal import Principal
from cloud.portal.forms import FormErrors
from cloud.portal.hall_common import checked, hall_context, refused
from cloud.portal.hall_forms import (
    FORMS,
    area_voice_body,
    area_voice_values,
    contract_errors,
    describe_voice,
    read_form,
    values_of,
)
from cloud.portal.render import now_ms, page, redirect, render
from cloud.setups import lock_hall
from sync.hallsetup import HallInfo
from sync.voice import AreaVoice, VoiceSetup

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Add these pages to the app."""
    base = "/portal/halls/{hall}"
    app.router.add_get(base, page(_settings))
    app.router.add_post(base, page(_save_settings))
    app.router.add_get(base + "/voice", page(_voice))
    app.router.add_post(base + "/voice", page(_save_voice))
    app.router.add_get(base + "/voice/areas/{area}", page(_area_voice))
    app.router.add_post(base + "/voice/areas/{area}", page(_save_area_voice))
    app.router.add_post(base + "/voice/areas/{area}/clear", page(_clear_area_voice))


async def _settings(request: web.Request, me: Principal) -> web.StreamResponse:
    hall = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "view")
        current = await read_settings(conn, hall)
    fields = FORMS["settings"]
    return await _whole_form(request, me, "settings", values_of(fields, current), FormErrors())


async def _save_settings(request: web.Request, me: Principal) -> web.StreamResponse:
    hall = request.match_info["hall"]
    fields = FORMS["settings"]
    form = await request.post()
    body, values, errors = read_form(fields, form, creating=False, table=hall_settings)
    async with request.app[ENGINE].connect() as conn:
        department = await check_hall(conn, me, hall, "edit")
        current = await read_settings(conn, hall)
    if not errors:
        errors = checked(HallInfo, fields, {**current, **body, "id": hall})
    if not errors:
        try:
            async with request.app[ENGINE].begin() as conn:
                await lock_hall(conn, hall)
                await write_settings(conn, hall, body, replace=False, department=department,
                                     origin=origin(request, me), now_ms=now_ms())  # fmt: skip
        except ApiError as exc:
            refused(fields, exc, errors)
    if errors:
        return await _whole_form(request, me, "settings", values, errors, status=422)
    return redirect(f"/portal/halls/{hall}", "saved")


async def _voice(request: web.Request, me: Principal) -> web.StreamResponse:
    """The hall's voice, and below it each calling area's own voice settings."""
    hall = request.match_info["hall"]
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "view")
        voice = (await read_voice(conn, hall)).model_dump(mode="json")
    fields = FORMS["voice"]
    return await _whole_form(request, me, "voice", values_of(fields, voice), FormErrors())


async def _area_voice(request: web.Request, me: Principal) -> web.StreamResponse:
    hall, area = request.match_info["hall"], request.match_info["area"]
    async with request.app[ENGINE].connect() as conn:
        await check_hall(conn, me, hall, "edit")
        await get_piece(conn, PIECES["areas"], hall, area)  # 404 for an area the hall lacks
        own = (await read_voice(conn, hall)).area(area)
    return await _area_voice_form(request, me, area_voice_values(own), FormErrors())


async def _save_area_voice(request: web.Request, me: Principal) -> web.StreamResponse:
    """A calling area's own voice from its form: what is left empty follows the hall's."""
    hall, area = request.match_info["hall"], request.match_info["area"]
    fields = FORMS["area-voice"]
    async with request.app[ENGINE].connect() as conn:
        department = await check_hall(conn, me, hall, "edit")
        await get_piece(conn, PIECES["areas"], hall, area)
    form = await request.post()
    body, values, errors = read_form(fields, form, creating=False)
    own: AreaVoice | None = None
    if not errors:
        plain = area_voice_body(body, area)
        try:
            own = AreaVoice.model_validate(plain)
        except ValidationError as exc:
            errors = contract_errors(fields, exc, plain)
    if own is not None:
        try:
            async with request.app[ENGINE].begin() as conn:
                await lock_hall(conn, hall)
                await write_area_voice(conn, hall, area, own, department=department,
                                       origin=origin(request, me), now_ms=now_ms())  # fmt: skip
        except ApiError as exc:
            refused(fields, exc, errors)
    if errors:
        return await _area_voice_form(request, me, values, errors, status=422)
    return redirect(f"/portal/halls/{hall}/voice", "saved")


async def _clear_area_voice(request: web.Request, me: Principal) -> web.StreamResponse:
    """The area follows the hall's voice again."""
    hall, area = request.match_info["hall"], request.match_info["area"]
    async with request.app[ENGINE].begin() as conn:
        department = await check_hall(conn, me, hall, "edit")
        await lock_hall(conn, hall)
        await write_area_voice(conn, hall, area, None, department=department,
                               origin=origin(request, me), now_ms=now_ms())  # fmt: skip
    return redirect(f"/portal/halls/{hall}/voice?" + urlencode({"cleared": area}))


async def _save_voice(request: web.Request, me: Principal) -> web.StreamResponse:
    """The hall's voice from the form; the calling areas' own voice settings stay."""
    hall = request.match_info["hall"]
    fields = FORMS["voice"]
    form = await request.post()
    body, values, errors = read_form(fields, form, creating=False)
    async with request.app[ENGINE].connect() as conn:
        department = await check_hall(conn, me, hall, "edit")
        current = await read_voice(conn, hall)
    voice: VoiceSetup | None = None
    if not errors:
        whole = {**body, "areas": [a.model_dump(mode="json") for a in current.areas]}
        try:
            voice = VoiceSetup.model_validate(whole)
        except ValidationError as exc:
            errors = contract_errors(fields, exc, whole)
    if voice is not None:
        try:
            async with request.app[ENGINE].begin() as conn:
                await lock_hall(conn, hall)
                await write_voice(conn, hall, voice, department=department,
                                  origin=origin(request, me), now_ms=now_ms())  # fmt: skip
        except ApiError as exc:
            refused(fields, exc, errors)
    if errors:
        return await _whole_form(request, me, "voice", values, errors, status=422)
    return redirect(f"/portal/halls/{hall}/voice", "saved")


async def _whole_form(
    request: web.Request,
    me: Principal,
    tab: str,
    values: dict[str, Any],
    errors: FormErrors,
    *,
    status: int = 200,
) -> web.Response:
    """The settings or voice tab: one form of the hall's own; the voice tab lists the calling
    areas' own voice settings below it."""
    hall = request.match_info["hall"]
    areas: list[dict[str, Any]] = []
    async with request.app[ENGINE].connect() as conn:
        context = await hall_context(conn, me, hall, tab)
        if tab == "voice":
            areas = await _area_voices(conn, hall)
    cleared = next((a for a in areas if a["id"] == request.query.get("cleared")), None)
    if cleared is not None and not cleared["own"]:
        context["flash"] = f"{cleared['name']}已恢复为沿用大厅的语音设置"
    action = f"/portal/halls/{hall}" + ("/voice" if tab == "voice" else "")
    return await render(
        request, "hall_settings.html", me, status=status, fields=FORMS[tab], values=values,
        errors=errors.by_field, action=action, options={}, areas=areas,
        area_fields=FORMS["area-voice"], **context,
    )  # fmt: skip


async def _area_voices(conn: AsyncConnection, hall: str) -> list[dict[str, Any]]:
    """Each calling area with what its own voice sets (`own`, by field) and the hall's voice
    it follows otherwise (`hall`, by field)."""
    voice = await read_voice(conn, hall)
    halls_own = describe_voice(voice)
    found = []
    for area in await list_pieces(conn, PIECES["areas"], hall):
        own = voice.area(area["id"])
        texts = describe_voice(own) if own is not None else {}
        found.append({
            "id": area["id"], "name": area["name"], "hall": halls_own,
            "own": {k: v for k, v in texts.items() if v},
        })  # fmt: skip
    return found


async def _area_voice_form(
    request: web.Request,
    me: Principal,
    values: dict[str, Any],
    errors: FormErrors,
    *,
    status: int = 200,
) -> web.Response:
    """A calling area's own voice: each field with the hall's setting it follows when empty."""
    hall, area = request.match_info["hall"], request.match_info["area"]
    async with request.app[ENGINE].connect() as conn:
        context = await hall_context(conn, me, hall, "voice")
        item = await get_piece(conn, PIECES["areas"], hall, area)
        halls_own = describe_voice(await read_voice(conn, hall))
    return await render(
        request, "hall_area_voice.html", me, status=status, fields=FORMS["area-voice"],
        values=values, errors=errors.by_field, area=item, halls_own=halls_own,
        action=f"/portal/halls/{hall}/voice/areas/{area}", back=f"/portal/halls/{hall}/voice",
        **context,
    )  # fmt: skip
