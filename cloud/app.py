"""The cloud's HTTP API: the admin calls (`/api/…`) and the halls' sync (`/sync/v1/…`).

Stateless: every worker answers every request from the database, so several of them can run
behind a load balancer (or share one port, `api.reuse_port`). The only thing a worker keeps is
its cache of verified hall secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cloud import calendar_refresh, hallconfig, portal, resources, workflow
from cloud.audit import AuditQuery, audit_page
from cloud.auth import HallAuth
from cloud.bookings import booking_page, parse_booking, save_booking
from cloud.calendars import calendar_routes
from cloud.calls import answer, now_ms, read_body
from cloud.config import CloudConfig
from cloud.context import CONFIG, ENGINE
from cloud.db import migrate_async, open_engine
from cloud.errors import ApiError
from cloud.halls import register_hall, replace_secret, set_disabled, sync_status
from cloud.identity import api as identity_api
from cloud.identity.guard import guard
from cloud.identity.principal import authorize, current_principal
from cloud.ingest import (
    EpochConflict,
    SyncGap,
    apply_batch,
    out_of_range,
    read_mark,
    record_heartbeat,
)
from cloud.noshow import list_penalties, mark_no_shows, run_periodically
from cloud.reports import hall_counts
from cloud.setups import newest_setup, store_setup
from cloud.signing import Signing, load_signing
from sync.protocol import BatchAck, EventBatch, Heartbeat, SigningKeys

__all__ = ["CONFIG", "ENGINE", "create_app"]

log = logging.getLogger(__name__)

HALL_AUTH = web.AppKey("hall_auth", HallAuth)
SIGNING = web.AppKey("signing", Signing)

_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_M = TypeVar("_M", bound=BaseModel)


class NewHall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=_ID, description="the hall's id; a ULID when absent")
    name: str = Field(min_length=1, max_length=200)


class HallChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool


def create_app(config: CloudConfig) -> web.Application:
    app = web.Application(
        client_max_size=int(config.api.max_body_mb * 1024 * 1024), middlewares=[_errors]
    )
    app[CONFIG] = config
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_signing)
    app.cleanup_ctx.append(_no_show_rounds)
    app.cleanup_ctx.append(_calendar_rounds)
    app.router.add_post("/api/halls", _register_hall)
    app.router.add_patch("/api/halls/{hall}", _change_hall)
    app.router.add_post("/api/halls/{hall}/secret", _replace_secret)
    app.router.add_get("/api/halls/{hall}/sync", _hall_sync)
    app.router.add_get("/api/halls/{hall}/counts", _hall_counts)
    app.router.add_put("/api/halls/{hall}/setup", _put_setup)
    app.router.add_routes(calendar_routes(now_ms))
    app.router.add_get("/api/audit", _audit)
    app.router.add_post("/api/halls/{hall}/bookings", _post_booking)
    app.router.add_get("/api/halls/{hall}/penalties", _hall_penalties)
    app.router.add_post("/api/no-shows/run", _run_no_shows)
    app.router.add_get("/api/signing/public-keys", _public_keys)
    app.router.add_get("/api/health", _health)
    identity_api.setup(app)
    resources.setup(app)
    workflow.setup(app)
    hallconfig.setup(app)
    portal.setup(app)
    app.router.add_post("/sync/v1/events", _post_events)
    app.router.add_get("/sync/v1/mark", _get_mark)
    app.router.add_post("/sync/v1/heartbeat", _post_heartbeat)
    app.router.add_get("/sync/v1/config", _get_config)
    app.router.add_get("/sync/v1/bookings", _get_bookings)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if config.database.migrate_on_start:
        await migrate_async(config.database.url)
    engine = open_engine(config.database.url, pool_size=config.database.pool_size)
    app[ENGINE] = engine
    app[HALL_AUTH] = HallAuth(engine, config.api.token_cache_seconds)
    yield
    await engine.dispose()


async def _signing(app: web.Application) -> AsyncIterator[None]:
    signing = load_signing(app[CONFIG].signing, app[CONFIG].database.url)
    app[SIGNING] = signing
    log.info("booking tokens are signed by the key whose public key is %s", signing.public_keys[0])
    yield


async def _no_show_rounds(app: web.Application) -> AsyncIterator[None]:
    """Every worker runs the no-show rounds (cloud/noshow.py: safe side by side)."""
    config = app[CONFIG].bookings
    task = None
    if config.no_show_interval_seconds > 0:
        task = asyncio.create_task(
            run_periodically(
                app[ENGINE],
                grace_minutes=config.no_show_grace_minutes,
                interval=config.no_show_interval_seconds,
            )
        )
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _calendar_rounds(app: web.Application) -> AsyncIterator[None]:
    """Every worker keeps the halls' calendar dates current (cloud/calendar_refresh.py: safe
    side by side)."""
    hours = app[CONFIG].bookings.calendar_refresh_hours
    task = None
    if hours > 0:
        task = asyncio.create_task(
            calendar_refresh.run_periodically(app[ENGINE], interval=hours * 3600)
        )
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _health(request: web.Request) -> web.Response:
    return answer({"ok": True})


async def _register_hall(request: web.Request) -> web.Response:
    # a new hall belongs to no org unit yet: only the scope `all` reaches it
    _, origin = await guard(request, "hall.manage", whole=True)
    body = await read_body(request, NewHall)
    result = await register_hall(request.app[ENGINE], body.id, body.name, now_ms(), origin)
    log.info("hall %s registered", result["hall"]["id"])
    return answer(result, status=201)


async def _change_hall(request: web.Request) -> web.Response:
    hall = request.match_info["hall"]
    _, origin = await guard(request, "hall.manage", hall)
    body = await read_body(request, HallChange)
    result = await set_disabled(request.app[ENGINE], hall, body.disabled, now_ms(), origin)
    return answer(result)


async def _replace_secret(request: web.Request) -> web.Response:
    """A new secret for the hall, answered once; the old one is refused from now on."""
    hall = request.match_info["hall"]
    _, origin = await guard(request, "hall.manage", hall)
    result = await replace_secret(request.app[ENGINE], hall, now_ms(), origin)
    log.warning("hall %s: its secret was replaced by %s", hall, origin.actor)
    return answer(result)


async def _hall_sync(request: web.Request) -> web.Response:
    await guard(request, "hall.read", request.match_info["hall"])
    result = await sync_status(request.app[ENGINE], request.match_info["hall"], now_ms())
    return answer(result)


async def _hall_counts(request: web.Request) -> web.Response:
    await guard(request, "hall.read", request.match_info["hall"])
    counts = await hall_counts(
        request.app[ENGINE], request.match_info["hall"], request.query.get("day")
    )
    return answer(counts.as_json())


async def _put_setup(request: web.Request) -> web.Response:
    hall = request.match_info["hall"]
    _, origin = await guard(request, "hall.manage", hall)
    result = await store_setup(request.app[ENGINE], hall, await request.read(), now_ms(), origin)
    return answer(result, status=201)


async def _post_booking(request: web.Request) -> web.Response:
    hall = request.match_info["hall"]
    _, origin = await guard(request, "hall.manage", hall)
    body = parse_booking(await request.read())
    key = request.app[SIGNING].key
    result, created = await save_booking(request.app[ENGINE], hall, body, key, now_ms(), origin)
    return answer({"booking": result, "token": result["token"]}, status=201 if created else 200)


async def _audit(request: web.Request) -> web.Response:
    """The audit log, newest first, filtered; page on with `before_id=<next_before_id>`. With
    a scope narrower than `all`, the caller reads one hall of theirs at a time (`hall=`)."""
    principal = await current_principal(request)
    if authorize(principal, "audit.read") != "all":
        await guard(request, "audit.read", request.query.get("hall") or "")

    def text(name: str) -> str | None:
        value = request.query.get(name) or None
        if value is not None and len(value) > 200:
            raise ApiError("invalid_request", f"{name} 过长")
        return value

    def number(name: str) -> int | None:
        return _int_query(request, name, 0) if name in request.query else None

    query = AuditQuery(
        resource=text("resource"),
        resource_id=text("resource_id"),
        hall=text("hall"),
        actor=text("actor"),
        since=number("since"),
        until=number("until"),
        before_id=number("before_id"),
        limit=max(1, min(_int_query(request, "limit", 100), 1000)),
    )
    return answer(await audit_page(request.app[ENGINE], query))


async def _hall_penalties(request: web.Request) -> web.Response:
    hall = request.match_info["hall"]
    await guard(request, "hall.read", hall)
    return answer({"hall": hall, "penalties": await list_penalties(request.app[ENGINE], hall)})


async def _run_no_shows(request: web.Request) -> web.Response:
    """A no-show round now (operators, tests); what it marked (every hall: scope `all`)."""
    await guard(request, "no_show.run", whole=True)
    grace = request.app[CONFIG].bookings.no_show_grace_minutes
    marked = await mark_no_shows(request.app[ENGINE], grace_minutes=grace, now_ms=now_ms())
    return answer({"marked": [m.as_json() for m in marked], "count": len(marked)})


async def _public_keys(request: web.Request) -> web.Response:
    keys = SigningKeys(keys=request.app[SIGNING].public_keys)
    return web.Response(text=keys.model_dump_json(), content_type="application/json")


async def _get_config(request: web.Request) -> web.Response:
    hall = await request.app[HALL_AUTH].hall(request.headers.get("Authorization"))
    after = _int_query(request, "after", 0)
    async with request.app[ENGINE].connect() as conn:
        newest = await newest_setup(conn, hall, after)
    if newest is None:
        return web.Response(status=204)
    version, body = newest
    # the body as stored: the edge validates it with its own model and reports what it refuses
    return answer({"v": 1, "version": version, "setup": body})


async def _get_bookings(request: web.Request) -> web.Response:
    hall = await request.app[HALL_AUTH].hall(request.headers.get("Authorization"))
    config = request.app[CONFIG].bookings
    cursor = request.query.get("cursor") or None
    if cursor is not None and len(cursor) > 200:
        raise ApiError("invalid_request", "游标无效")
    limit = min(_int_query(request, "limit", config.page_size), config.page_size)
    page = await booking_page(
        request.app[ENGINE],
        hall,
        cursor,
        request.app[SIGNING].key,
        window_days=config.window_days,
        limit=max(limit, 1),
        now=dt.datetime.now(dt.UTC),
    )
    return web.Response(text=page.model_dump_json(), content_type="application/json")


def _int_query(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError("invalid_request", f"{name} 不是整数") from None
    if not 0 <= value < 2**63:
        raise ApiError("invalid_request", f"{name} 超出范围")
    return value


async def _post_events(request: web.Request) -> web.Response:
    hall = await request.app[HALL_AUTH].hall(request.headers.get("Authorization"))
    batch = await read_body(request, EventBatch)
    wrong = out_of_range(batch)
    if wrong is not None:
        raise ApiError("invalid_request", wrong)
    if batch.hall != hall:
        raise ApiError("forbidden", f"批次属于大厅 {batch.hall}")
    try:
        ack = await apply_batch(request.app[ENGINE], hall, batch, now_ms())
    except SyncGap as gap:
        detail = f"云端标记为 {gap.mark}，批次从 {batch.after} 之后开始"
        raise ApiError("sync_gap", detail, **_ack(gap.epoch, gap.mark)) from None
    except EpochConflict as conflict:
        detail = f"云端记录的起点为 {conflict.epoch_start}"
        raise ApiError("epoch_conflict", detail, **_ack(conflict.epoch, conflict.mark)) from None
    return web.Response(text=ack.model_dump_json(), content_type="application/json")


def _ack(epoch: str, mark: int) -> dict[str, Any]:
    """A refused batch's answer carries the BatchAck fields beside `error`: where to resume."""
    return BatchAck(epoch=epoch, mark=mark).model_dump(mode="json")


async def _post_heartbeat(request: web.Request) -> web.Response:
    hall = await request.app[HALL_AUTH].hall(request.headers.get("Authorization"))
    beat = await read_body(request, Heartbeat)
    try:
        ack = await record_heartbeat(request.app[ENGINE], hall, beat, now_ms())
    except SyncGap as gap:
        detail = f"云端标记为 {gap.mark}，心跳声称已提交到 {beat.mark}"
        raise ApiError("sync_gap", detail, **_ack(gap.epoch, gap.mark)) from None
    return web.Response(text=ack.model_dump_json(), content_type="application/json")


async def _get_mark(request: web.Request) -> web.Response:
    hall = await request.app[HALL_AUTH].hall(request.headers.get("Authorization"))
    epoch = request.query.get("epoch", "")
    if not epoch or len(epoch) > 64:
        raise ApiError("invalid_request", "缺少 epoch 参数")
    mark = await read_mark(request.app[ENGINE], hall, epoch)
    return web.Response(text=mark.model_dump_json(), content_type="application/json")


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return answer(exc.body(), status=exc.status)
    except web.HTTPException as exc:
        code = _HTTP_CODES.get(exc.status)
        if code is None or exc.status < 400:
            raise
        return answer(ApiError(code).body(), status=exc.status)
