"""The edge's HTTP API: one table of operations gives the routes and the OpenAPI document."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from edge.api import schemas
from edge.api.auth import Authenticator, LoginGuard, Principal, verify_password
from edge.api.caller import CALLER_OPERATIONS
from edge.api.common import AUTH, BUS, CATALOGUE, ENGINE, GUARD, REGISTRY, Handler, Operation
from edge.api.common import body_of as _body
from edge.api.common import engine_of as _engine
from edge.api.common import idempotency_key as _key
from edge.api.common import require as _require
from edge.api.devices import DEVICE_OPERATIONS
from edge.api.kiosk import KIOSK_OPERATIONS, QR_BASE
from edge.api.pad import PAD_OPERATIONS
from edge.api.relay import RelaySettings, setup_relay
from edge.api.static import setup_static
from edge.api.sync import SYNC_OPERATIONS
from edge.api.voice import VOICE, VOICE_OPERATIONS
from edge.config import ApiClient
from edge.devices.bus import DeviceBus
from edge.devices.profiles import Catalogue, load_catalogue
from edge.devices.registry import DeviceRegistry
from edge.queue import QueueEngine, QueueError
from edge.voice.calling import VoiceCalling
from sync.hallsetup import HallSetup

__all__ = ["ENGINE", "OPERATIONS", "Operation", "create_app", "openapi_document"]

log = logging.getLogger(__name__)

_STAFF_WINDOW = ("staff",)
_READ_WINDOW = ("staff", "pad", "display", "admin")


def _window_principal(request: web.Request) -> tuple[str, Principal]:
    window = request.match_info["window"]
    principal = _require(request)
    _engine(request).require_window(window)  # 401, then 404 for an unknown window, then 403
    if principal.kind not in _STAFF_WINDOW:
        raise QueueError("forbidden")
    if principal.window != window:
        raise QueueError("forbidden", "this session belongs to another window")
    return window, principal


# ----------------------------------------------------------------------- handlers


async def health(request: web.Request) -> Any:
    engine = _engine(request)
    return {"status": "ok", "configured": engine.configured}


async def openapi(request: web.Request) -> Any:
    return openapi_document()


async def list_services(request: web.Request) -> Any:
    principal = _require(request)
    services = _engine(request).list_services(
        request.match_info["area"],
        search=request.query.get("search", "")[:32],
        department=request.query.get("department", "")[:64],
    )
    answer: dict[str, Any] = {"services": services}
    if principal.kind == "kiosk":
        answer["printer"] = _kiosk_printer(request, principal.id)
    return answer


def _kiosk_printer(request: web.Request, kiosk: str) -> dict[str, Any]:
    """The kiosk's printer as the kiosk must know it: print, or offer a paperless ticket."""
    printers = [
        d for d in request.app[REGISTRY].devices() if d.kind == "printer" and d.attached_to == kiosk
    ]
    if not printers:
        # nothing to print on: the kiosk gives paperless tickets only
        return {"device": None, "status": "none", "paperless": True}
    bus = request.app.get(BUS)
    status = bus.printer_status(printers[0].id) if bus is not None else "unknown"
    return {
        "device": printers[0].id,
        "status": status,
        "paperless": status in ("paper_out", "offline"),
    }


async def queue_status(request: web.Request) -> Any:
    _require(request)
    return _engine(request).queue_status(request.match_info["area"])


async def issue_ticket(request: web.Request) -> Any:
    principal = _require(request, "kiosk", "staff", "cloud")
    body = await _body(request, schemas.IssueTicketRequest)
    engine = _engine(request)
    if principal.kind == "kiosk":
        if body.area and body.area != principal.area:
            raise QueueError("forbidden", "a kiosk issues tickets for its own calling area")
        area, source = principal.area, "kiosk"
    elif principal.kind == "staff":
        staff = engine.hall.staff.get(principal.staff)
        if staff is None or not staff.can_issue_tickets:
            raise QueueError("forbidden", "this staff member may not take tickets for citizens")
        area, source = body.area or principal.area, "staff"
    else:
        if not body.area:
            raise QueueError("invalid_request", "area is required for a remote ticket")
        area, source = body.area, "remote"
    ticket = engine.issue_ticket(
        area=area,
        business_type=body.business_type,
        source=source,  # type: ignore[arg-type]
        actor=principal.actor,
        green_channel=body.green_channel,
        phone=body.phone,
        id_number=body.id_number.upper(),
        key=_key(request),
    )
    return web.json_response({"ticket": ticket}, status=201, dumps=_dumps)


async def check_in_booking(request: web.Request) -> Any:
    principal = _require(request, "kiosk", "staff")
    body = await _body(request, schemas.CheckInRequest)
    ticket = _engine(request).check_in_booking(
        area=principal.area,
        actor=principal.actor,
        phone=body.phone,
        id_number=body.id_number.upper(),
        code=body.code,
        key=_key(request),
    )
    return web.json_response({"ticket": ticket}, status=201, dumps=_dumps)


async def return_for_supplement(request: web.Request) -> Any:
    principal = _require(request, "kiosk", "staff")
    body = await _body(request, schemas.SupplementReturnRequest)
    ticket = _engine(request).return_for_supplement(
        area=principal.area, code=body.code, actor=principal.actor, key=_key(request)
    )
    return web.json_response({"ticket": ticket}, status=201, dumps=_dumps)


async def window_login(request: web.Request) -> Any:
    engine = _engine(request)
    window = request.match_info["window"]
    engine.require_window(window)
    body = await _body(request, schemas.LoginRequest)
    hall = engine.hall
    if body.card_no:
        principal = _require(request, "pad", "admin")
        if principal.kind == "pad" and principal.window != window:
            raise QueueError("forbidden", "a card reader logs in to its own window")
        staff = hall.staff_by_card.get(body.card_no)
        if staff is None:
            raise QueueError("login_failed")
    else:
        guard = request.app[GUARD]
        guard.check(body.staff_no)
        candidate = hall.staff_by_no.get(body.staff_no)
        if candidate is None or not await verify_password(candidate, body.password):
            guard.failed(body.staff_no)
            raise QueueError("login_failed")
        guard.succeeded(body.staff_no)
        staff = candidate
    return engine.window_login(window, staff)


def _window_action(
    call: Callable[[QueueEngine, str, str, str | None], dict[str, Any]],
) -> Handler:
    async def handler(request: web.Request) -> Any:
        window, principal = _window_principal(request)
        return call(_engine(request), window, principal.actor, _key(request))

    return handler


async def finish_ticket(request: web.Request) -> Any:
    window, principal = _window_principal(request)
    body = await _body(request, schemas.FinishRequest)
    return _engine(request).finish(
        window, principal.actor, request_evaluation=body.request_evaluation, key=_key(request)
    )


async def transfer_ticket(request: web.Request) -> Any:
    window, principal = _window_principal(request)
    body = await _body(request, schemas.TransferRequest)
    return _engine(request).transfer(
        window,
        principal.actor,
        business_type=body.business_type,
        priority=body.priority,
        key=_key(request),
    )


async def window_status(request: web.Request) -> Any:
    window = request.match_info["window"]
    principal = _require(request, *_READ_WINDOW)
    status = _engine(request).window_status(window)
    if principal.kind in ("staff", "pad") and principal.window != window:
        raise QueueError("forbidden")
    return status


def _window_list(
    read: Callable[[QueueEngine, str, str, int], list[dict[str, Any]]],
) -> Handler:
    async def handler(request: web.Request) -> Any:
        window = request.match_info["window"]
        principal = _require(request, "staff", "admin")
        if principal.kind == "staff" and principal.window != window:
            raise QueueError("forbidden")
        search = request.query.get("search", "")[:32]
        try:
            limit = min(max(int(request.query.get("limit", "1000")), 1), 5000)
        except ValueError as exc:
            raise QueueError("invalid_request", "limit is an integer") from exc
        return {"tickets": read(_engine(request), window, search, limit)}

    return handler


async def submit_evaluation(request: web.Request) -> Any:
    principal = _require(request, "pad", "cloud")
    engine = _engine(request)
    ticket_id = request.match_info["ticket"]
    body = await _body(request, schemas.EvaluationRequest)
    ticket = engine.ticket(ticket_id)
    if principal.kind == "pad" and ticket["window"] != principal.window:
        raise QueueError("forbidden", "a Pad evaluates the tickets of its own window")
    return engine.evaluate(ticket_id, body.level, principal.actor, key=_key(request))


async def get_ticket(request: web.Request) -> Any:
    _require(request, "staff", "admin", "cloud")
    return {"ticket": _engine(request).ticket(request.match_info["ticket"])}


async def void_ticket(request: web.Request) -> Any:
    principal = _require(request, "admin")
    return _engine(request).void_ticket(
        request.match_info["ticket"], principal.actor, key=_key(request)
    )


async def apply_setup(request: web.Request) -> Any:
    _require(request, "admin", "cloud")
    raw = await request.read()
    try:
        setup = HallSetup.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise QueueError("invalid_setup", problems=problems) from exc
    return _engine(request).apply_setup(setup)


async def load_bookings(request: web.Request) -> Any:
    _require(request, "admin", "cloud")
    body = await _body(request, schemas.BookingsRequest)
    engine = _engine(request)
    unknown = sorted({b.business_type for b in body.bookings} - set(engine.hall.types))
    if unknown:
        raise QueueError("unknown_business_type", business_types=unknown)
    return {"loaded": engine.load_bookings(body.bookings)}


async def list_events(request: web.Request) -> Any:
    _require(request, "admin", "cloud")
    try:
        after = int(request.query.get("after", "0"))
        limit = min(max(int(request.query.get("limit", "500")), 1), 5000)
    except ValueError as exc:
        raise QueueError("invalid_request", "after and limit are integers") from exc
    events = _engine(request).store.events_after(after, limit)
    return {"events": [e.as_json() for e in events]}


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/health", "health", "Is the node up", health, auth=False),
    Operation("GET", "/api/openapi.json", "openapi", "This document", openapi, auth=False),
    Operation(
        "GET", "/api/areas/{area}/services", "listServices",
        "Business types a kiosk of the area offers, with waiting counts (§4.1.2)", list_services,
        query=("search", "department"),
    ),
    Operation(
        "GET", "/api/areas/{area}/status", "queueStatus",
        "What the central display shows: waiting, next numbers, latest calls (§4.2.2)",
        queue_status,
    ),
    Operation(
        "POST", "/api/tickets", "issueTicket",
        "Take a ticket at a kiosk, for a citizen (staff), or remotely (cloud)",
        issue_ticket, schemas.IssueTicketRequest,
    ),
    Operation(
        "POST", "/api/checkins", "checkInBooking",
        "Check in a booking by phone, ID number or booking code", check_in_booking,
        schemas.CheckInRequest,
    ),
    Operation(
        "POST", "/api/supplements/return", "returnForSupplement",
        "A citizen returns for 补证补件 with the code the staff gave", return_for_supplement,
        schemas.SupplementReturnRequest,
    ),
    Operation(
        "POST", "/api/windows/{window}/login", "windowLogin",
        "Staff log in to a window (staff number and password, or card by the window's device)",
        window_login, schemas.LoginRequest, auth=False,
    ),
    Operation(
        "POST", "/api/windows/{window}/logout", "windowLogout", "Staff log out of the window",
        _window_action(QueueEngine.window_logout),
    ),
    Operation(
        "GET", "/api/windows/{window}", "windowStatus",
        "Window state: staff, current ticket, auto-call countdown, evaluation gate",
        window_status,
    ),
    Operation(
        "POST", "/api/windows/{window}/call-next", "callNext", "下一位: call the next ticket",
        _window_action(QueueEngine.call_next),
    ),
    Operation(
        "POST", "/api/windows/{window}/recall", "recall", "重呼: call the current ticket again",
        _window_action(QueueEngine.recall),
    ),
    Operation(
        "POST", "/api/windows/{window}/finish", "finishTicket",
        "结束 or 结束并评价 the current ticket", finish_ticket, schemas.FinishRequest,
    ),
    Operation(
        "POST", "/api/windows/{window}/transfer", "transferTicket",
        "转移 the current ticket to another business type", transfer_ticket,
        schemas.TransferRequest,
    ),
    Operation(
        "POST", "/api/windows/{window}/supplement", "supplementTicket",
        "补证补件: park the ticket and give the citizen a code to come back to this staff member",
        _window_action(QueueEngine.supplement),
    ),
    Operation(
        "POST", "/api/windows/{window}/abandon", "abandonTicket", "弃号: the citizen did not come",
        _window_action(QueueEngine.abandon),
    ),
    Operation(
        "POST", "/api/windows/{window}/pause", "pauseWindow", "暂停服务",
        _window_action(QueueEngine.pause),
    ),
    Operation(
        "POST", "/api/windows/{window}/resume", "resumeWindow", "恢复服务",
        _window_action(QueueEngine.resume),
    ),
    Operation(
        "POST", "/api/windows/{window}/backstage", "startBackstage", "后台处理中",
        _window_action(QueueEngine.backstage),
    ),
    Operation(
        "POST", "/api/windows/{window}/one-meter-line", "promptOneMeterLine", "一米线提示",
        _window_action(QueueEngine.one_meter_line),
    ),
    Operation(
        "GET", "/api/windows/{window}/waiting", "listWaiting",
        "等候列表 in calling order, with search", _window_list(QueueEngine.waiting_for_window),
        query=("search", "limit"),
    ),
    Operation(
        "GET", "/api/windows/{window}/called", "listCalled",
        "已呼叫 today at this window, latest first, with search",
        _window_list(QueueEngine.called_by_window), query=("search",),
    ),
    Operation("GET", "/api/tickets/{ticket}", "getTicket", "One ticket", get_ticket),
    Operation(
        "POST", "/api/tickets/{ticket}/evaluation", "submitEvaluation",
        "The citizen's evaluation from the window's Pad", submit_evaluation,
        schemas.EvaluationRequest,
    ),
    Operation(
        "POST", "/api/tickets/{ticket}/void", "voidTicket", "废号: withdraw a waiting ticket",
        void_ticket,
    ),
    Operation(
        "PUT", "/api/setup", "applySetup", "Apply a hall configuration version", apply_setup,
        HallSetup,
    ),
    Operation(
        "POST", "/api/bookings", "loadBookings", "Add or replace bookings in the local copy",
        load_bookings, schemas.BookingsRequest,
    ),
    Operation(
        "GET", "/api/events", "listEvents", "The event log after a sequence number", list_events,
        query=("after", "limit"),
    ),
)  # fmt: skip
OPERATIONS += DEVICE_OPERATIONS
OPERATIONS += VOICE_OPERATIONS
OPERATIONS += KIOSK_OPERATIONS
OPERATIONS += PAD_OPERATIONS
OPERATIONS += CALLER_OPERATIONS
OPERATIONS += SYNC_OPERATIONS


# ----------------------------------------------------------------------- application


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _error(error: QueueError) -> web.Response:
    return web.json_response(error.as_json(), status=error.status, dumps=_dumps)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    store = request.app[ENGINE].store
    try:
        try:
            result = await handler(request)
        finally:
            await store.durable()  # answer only what is committed
    except QueueError as exc:
        return _error(exc)
    except sqlite3.Error:
        log.exception("storage failed in %s %s", request.method, request.path)
        return _error(QueueError("storage_unavailable"))
    except web.HTTPMethodNotAllowed:
        return web.json_response(
            {"error": {"code": "method_not_allowed", "message": "不支持的请求方法"}},
            status=405,
            dumps=_dumps,
        )
    except web.HTTPNotFound:
        return _error(QueueError("not_found", request.path))
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return web.json_response(
            {"error": {"code": "internal_error", "message": "系统内部错误,请稍后重试"}},
            status=500,
            dumps=_dumps,
        )
    if isinstance(result, web.StreamResponse):
        return result
    return web.json_response(result, dumps=_dumps)


def create_app(
    engine: QueueEngine,
    clients: list[ApiClient],
    *,
    registry: DeviceRegistry | None = None,
    bus: DeviceBus | None = None,
    catalogue: Catalogue | None = None,
    voice: VoiceCalling | None = None,
    relay: RelaySettings | None = None,
    qr_base: str = "",
) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=8 * 1024 * 1024)
    app[ENGINE] = engine
    if registry is None:
        hall = engine.hall.hall.id if engine.configured else "unconfigured"
        registry = DeviceRegistry(engine.store, prefix="smarthall", hall=hall)
    app[REGISTRY] = registry
    app[CATALOGUE] = catalogue if catalogue is not None else load_catalogue()
    if bus is not None:
        app[BUS] = bus
    if voice is not None:
        app[VOICE] = voice
    app[QR_BASE] = qr_base  # where a ticket's QR code leads: <qr_base>/t/<ticket id>
    app[AUTH] = Authenticator(clients, engine)
    app[GUARD] = LoginGuard()
    app.on_startup.append(_group_commit_on)
    app.on_cleanup.append(_group_commit_off)
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)
    setup_relay(app, relay)  # the screens' live data: /api/live
    setup_static(app)  # the screens themselves: /screen/…, /ui/…
    return app


async def _group_commit_on(app: web.Application) -> None:
    app[ENGINE].store.group_commit = True


async def _group_commit_off(app: web.Application) -> None:
    store = app[ENGINE].store
    store.flush()
    store.group_commit = False


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for every operation in `OPERATIONS`."""
    paths: dict[str, dict[str, Any]] = {}
    schemas_: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
    }
    error_ref = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    }
    for op in OPERATIONS:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(op.path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in op.query
        ]
        if op.method == "POST":
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "a repeat with the same key takes effect once (防连点)",
                    "schema": {"type": "string", "maxLength": 128},
                }
            )
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "done",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "4XX": {"description": "refused; nothing changed", **error_ref},
            },
        }
        if op.method == "POST" and op.operation_id in (
            "issueTicket",
            "checkInBooking",
            "returnForSupplement",
        ):
            entry["responses"]["201"] = entry["responses"].pop("200")
        if op.body is not None:
            schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                schemas_[name] = definition
            schemas_[op.body.__name__] = schema
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}
                    }
                },
            }
        if op.auth:
            entry["security"] = [{"bearer": []}]
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "smarthall edge API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas_,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
