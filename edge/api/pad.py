"""The edge API for the window Pad (评价器, §5.1.5, §5.2): badge photos, screenshots, prompts.

- A staff member's badge photo (工作牌照片) is a JPEG or PNG the admin side uploads; it is kept
  in the node's data folder (`PHOTOS`) and read by the Pads, displays and staff.
- A screenshot (剪刀截屏) is an image the staff member captured and annotated in the caller
  client; the edge keeps the latest one per window in memory and commits `window.screenshot`
  (and `window.screenshot_cleared`) so that the Pad, watching `events:<area>`, shows it on top.
- A prompt (一米线, 暂停服务, 后台处理中, 请评价, 感谢评价) is rendered by the edge's voice in the
  area's languages and speed, as a WAV file the Pad's page plays.
- `padState` is what a Pad needs when it starts or reconnects: how long it waits for an
  evaluation, whether it can speak, whether its staff member has a photo, the screenshot shown
  now, an evaluation still awaited.
"""

from __future__ import annotations

import io
import secrets
import sqlite3
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from edge.api.auth import Principal
from edge.api.common import Operation, engine_of, idempotency_key, require
from edge.api.voice import VOICE
from edge.queue import QueueEngine, QueueError
from edge.queue.store import Transaction
from edge.voice.audio import wav_bytes
from edge.voice.calling import Announcement
from edge.voice.settings import area_settings
from edge.voice.synth import SynthesisError
from sync.voice import PROMPTS, Piece

__all__ = [
    "PAD_OPERATIONS",
    "PHOTOS",
    "PHOTO_MAX_BYTES",
    "SCREENSHOT_MAX_BYTES",
    "image_type",
]

PHOTOS = web.AppKey("staff_photos", Path)  # the node's `<data_dir>/photos`
PHOTO_MAX_BYTES = 2 * 1024 * 1024
SCREENSHOT_MAX_BYTES = 4 * 1024 * 1024
SCREENSHOT_SECONDS = 30  # how long a screenshot stays when the staff member does not say
SCREENSHOT_SECONDS_MAX = 600
EVALUATION_SECONDS = 60  # the Pad's wait for an evaluation when the hall sets none
_MAX_PIXELS = 40_000_000  # a picture larger than this is refused before it is decoded
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg"}
_NO_CACHE = {"Cache-Control": "no-cache"}


def image_type(data: bytes) -> str:
    """`image/png` or `image/jpeg` when `data` is a whole, readable picture of that kind (by
    its magic bytes and by Pillow); QueueError `invalid_request` otherwise."""
    magic = next((kind for prefix, kind in _MAGIC.items() if data.startswith(prefix)), None)
    if magic is None:
        raise QueueError("invalid_request", "the picture must be a PNG or JPEG file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as picture:
                width, height = picture.size
                kind = _FORMATS.get(picture.format or "")
                if width * height > _MAX_PIXELS:
                    raise QueueError("invalid_request", "the picture has too many pixels")
                picture.load()  # decodes every byte: a cut-off file fails here
    except QueueError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning) as exc:
        raise QueueError("invalid_request", f"the picture cannot be read: {exc}") from exc
    if kind != magic:
        raise QueueError("invalid_request", "the picture must be a PNG or JPEG file")
    return kind


# ----------------------------------------------------------------------- badge photos


async def put_staff_photo(request: web.Request) -> Any:
    require(request, "admin")
    staff = _staff(request)
    data = await _upload(request, PHOTO_MAX_BYTES)
    kind = image_type(data)
    folder = _photo_folder(request)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{staff}{_SUFFIX[kind]}"
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)  # a reader never sees half a photo
        for other in _SUFFIX.values():
            if other != target.suffix:
                (folder / f"{staff}{other}").unlink(missing_ok=True)
    except OSError as exc:
        raise QueueError("storage_unavailable", f"photo not stored: {exc}") from exc
    return {"photo": {"staff": staff, "content_type": kind, "bytes": len(data)}}


async def get_staff_photo(request: web.Request) -> Any:
    require(request, "pad", "staff", "admin", "display")
    staff = _staff(request)
    found = _photo_of(request, staff)
    if found is None:
        raise QueueError("not_found", f"no photo of {staff}")
    path, kind = found
    return web.Response(body=path.read_bytes(), content_type=kind, headers=_NO_CACHE)


# ----------------------------------------------------------------------- screenshots


@dataclass(frozen=True)
class Screenshot:
    id: str
    window: str
    content_type: str
    data: bytes
    seconds: int
    until: int  # hall time in ms

    def as_json(self, now_ms: int) -> dict[str, Any]:
        left = max(0, -(-(self.until - now_ms) // 1000))
        return {"id": self.id, "window": self.window, "seconds": self.seconds, "until": self.until,
                "seconds_left": left}  # fmt: skip


@dataclass
class _PadMemory:
    """What the Pad operations keep in memory for one app: screenshots and rendered prompts."""

    screenshots: dict[str, Screenshot] = field(default_factory=dict)
    prompts: dict[tuple[Any, ...], bytes] = field(default_factory=dict)


_MEMORY: weakref.WeakKeyDictionary[web.Application, _PadMemory] = weakref.WeakKeyDictionary()


async def post_screenshot(request: web.Request) -> Any:
    window, principal = _window_reader(request, "staff")
    seconds = _seconds(request.query.get("seconds"))
    data = await _upload(request, SCREENSHOT_MAX_BYTES)
    kind = image_type(data)
    engine = engine_of(request)
    shown = _memory(request).screenshots
    now = engine.clock.now_ms()

    def body(tx: Transaction) -> dict[str, Any]:
        shot = Screenshot(secrets.token_urlsafe(9), window, kind, data, seconds,
                          now + seconds * 1000)  # fmt: skip
        tx.event("window.screenshot", {"window": window, "id": shot.id, "seconds": seconds,
                                       "until": shot.until, "by": principal.actor})  # fmt: skip
        shown[window] = shot
        return {"screenshot": shot.as_json(now)}

    return engine.store.write(
        now, "showScreenshot", body, principal=principal.actor, key=idempotency_key(request)
    )


async def get_screenshot(request: web.Request) -> Any:
    window, _ = _window_reader(request, "pad", "staff", "admin")
    shot = _memory(request).screenshots.get(window)
    if shot is None or shot.id != request.match_info["id"]:
        raise QueueError("not_found", "this screenshot is no longer shown")
    return web.Response(body=shot.data, content_type=shot.content_type, headers=_NO_CACHE)


async def delete_screenshot(request: web.Request) -> Any:
    window, principal = _window_reader(request, "staff")
    engine = engine_of(request)
    shown = _memory(request).screenshots
    shot = shown.get(window)
    if shot is None:
        return {"screenshot": None}

    def body(tx: Transaction) -> dict[str, Any]:
        tx.event("window.screenshot_cleared", {"window": window, "id": shot.id,
                                               "by": principal.actor})  # fmt: skip
        shown.pop(window, None)
        return {"screenshot": None}

    return engine.store.write(engine.clock.now_ms(), "dismissScreenshot", body,
                              principal=principal.actor)  # fmt: skip


# ----------------------------------------------------------------------- voice prompts


async def get_prompt(request: web.Request) -> Any:
    window, _ = _window_reader(request, "pad", "staff", "admin")
    name, _dot, suffix = request.match_info["file"].rpartition(".")
    if suffix != "wav" or name not in PROMPTS:
        raise QueueError("not_found", f"prompts are {', '.join(p + '.wav' for p in PROMPTS)}")
    calling = request.app.get(VOICE)
    if calling is None:
        raise QueueError("voice_disabled", "voice.enabled is off in the node's configuration")
    engine = engine_of(request)
    at = engine.hall.windows[window]
    settings = area_settings(engine, at.area)
    prompts = engine.hall.setup.voice.prompts
    lines = [(lang, [Piece(prompts[lang][name], 0)]) for lang in settings.languages]
    cache = _memory(request).prompts
    key = (settings.speed, tuple((lang, pieces[0].text) for lang, pieces in lines))
    wav = cache.get(key)
    if wav is None:
        announcement = Announcement(0, name, at.area, at.id, settings, lines, 1)
        try:
            wav = wav_bytes(await calling.render(announcement))
        except SynthesisError as exc:
            raise QueueError("not_found", f"the prompt cannot be said now: {exc}") from exc
        if len(cache) > 64:
            cache.clear()
        cache[key] = wav
    return web.Response(body=wav, content_type="audio/wav", headers=_NO_CACHE)


# ----------------------------------------------------------------------- the Pad's state


async def pad_state(request: web.Request) -> Any:
    window, _ = _window_reader(request, "pad", "staff", "admin")
    engine = engine_of(request)
    now = engine.clock.now_ms()
    seconds = engine.hall.hall.evaluation_gate_seconds or EVALUATION_SECONDS
    shot = _memory(request).screenshots.get(window)
    staff = engine.window_status(window)["staff"]
    return {
        "window": window,
        "evaluation_seconds": seconds,
        "voice": request.app.get(VOICE) is not None,
        "photo": staff is not None and _photo_of(request, staff["id"]) is not None,
        "screenshot": shot.as_json(now) if shot is not None and shot.until > now else None,
        "evaluation": _awaited_evaluation(engine, window, now, seconds),
    }


def _awaited_evaluation(
    engine: QueueEngine, window: str, now: int, seconds: int
) -> dict[str, Any] | None:
    """The window's last ticket when it was finished with an evaluation request less than
    `seconds` ago and is not evaluated yet (a Pad that starts then still asks)."""
    day = engine.hall.local(now).day_text
    row: sqlite3.Row | None = engine.conn.execute(
        "SELECT t.id, t.number, t.finished_at FROM calls c JOIN tickets t ON t.id = c.ticket_id "
        "WHERE c.window = ? AND c.day = ? ORDER BY c.at DESC LIMIT 1",
        (window, day),
    ).fetchone()
    if row is None:
        return None
    ticket = engine.conn.execute(
        "SELECT status, evaluation, evaluation_requested FROM tickets WHERE id = ?", (row["id"],)
    ).fetchone()
    finished = row["finished_at"]
    if (
        ticket["status"] != "finished"
        or not ticket["evaluation_requested"]
        or ticket["evaluation"] is not None
        or finished is None
        or finished + seconds * 1000 <= now
    ):
        return None
    left = -(-(finished + seconds * 1000 - now) // 1000)
    return {"ticket": row["id"], "number": row["number"], "seconds_left": left}


# ----------------------------------------------------------------------- helpers


def _window_reader(request: web.Request, *kinds: str) -> tuple[str, Principal]:
    """The window of the path and its caller: a Pad or staff session only of that window."""
    window = request.match_info["window"]
    principal = require(request, *kinds)
    engine_of(request).require_window(window)
    if principal.kind in ("pad", "staff") and principal.window != window:
        raise QueueError("forbidden", "a Pad or staff session belongs to another window")
    return window, principal


def _staff(request: web.Request) -> str:
    staff = request.match_info["staff"]
    if staff not in engine_of(request).hall.staff:
        raise QueueError("not_found", f"no staff member {staff}")
    return staff


def _photo_of(request: web.Request, staff: str) -> tuple[Path, str] | None:
    folder = _photo_folder(request)
    for kind, suffix in _SUFFIX.items():
        path = folder / f"{staff}{suffix}"
        if path.is_file():
            return path, kind
    return None


def _photo_folder(request: web.Request) -> Path:
    """`PHOTOS` when the node set it; otherwise `photos/` beside the node's database."""
    folder = request.app.get(PHOTOS)
    if folder is not None:
        return folder
    row = engine_of(request).conn.execute("PRAGMA database_list").fetchone()
    if row is None or not row["file"]:
        raise QueueError("storage_unavailable", "this node keeps no data folder for photos")
    return Path(row["file"]).parent / "photos"


async def _upload(request: web.Request, limit: int) -> bytes:
    """The request body, refused (nothing stored) when it is empty or longer than `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise QueueError("invalid_request", f"the picture is larger than {limit // 1048576} MB")
    data = await request.content.read(limit + 1)
    if len(data) > limit:
        raise QueueError("invalid_request", f"the picture is larger than {limit // 1048576} MB")
    if not data:
        raise QueueError("invalid_request", "the body is the picture (PNG or JPEG)")
    return data


def _seconds(text: str | None) -> int:
    if text is None or text == "":
        return SCREENSHOT_SECONDS
    try:
        seconds = int(text)
    except ValueError as exc:
        raise QueueError("invalid_request", "seconds is a whole number") from exc
    if not 1 <= seconds <= SCREENSHOT_SECONDS_MAX:
        raise QueueError("invalid_request", f"seconds is 1 to {SCREENSHOT_SECONDS_MAX}")
    return seconds


def _memory(request: web.Request) -> _PadMemory:
    memory = _MEMORY.get(request.app)
    if memory is None:
        memory = _MEMORY[request.app] = _PadMemory()
    return memory


PAD_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET", "/api/windows/{window}/pad", "padState",
        "What the window's Pad needs on start: evaluation wait, voice, screenshot, evaluation",
        pad_state,
    ),
    Operation(
        "PUT", "/api/staff/{staff}/photo", "putStaffPhoto",
        "工作牌照片: the body is a JPEG or PNG picture of at most 2 MB", put_staff_photo,
    ),
    Operation(
        "GET", "/api/staff/{staff}/photo", "getStaffPhoto",
        "The staff member's badge photo (404 when there is none)", get_staff_photo,
    ),
    Operation(
        "POST", "/api/windows/{window}/screenshot", "showScreenshot",
        "剪刀截屏: show a PNG or JPEG (at most 4 MB) on the window's Pad for `seconds`",
        post_screenshot, query=("seconds",),
    ),
    Operation(
        "DELETE", "/api/windows/{window}/screenshot", "dismissScreenshot",
        "Take the screenshot off the window's Pad", delete_screenshot,
    ),
    Operation(
        "GET", "/api/windows/{window}/screenshot/{id}", "getScreenshot",
        "The picture of a screenshot the window's Pad shows", get_screenshot,
    ),
    Operation(
        "GET", "/api/windows/{window}/prompts/{file}", "getPadPrompt",
        "A Pad prompt as WAV: one_meter_line.wav, paused.wav, backstage.wav, evaluate.wav, "
        "thanks.wav, in the area's languages and speed",
        get_prompt,
    ),
)  # fmt: skip
