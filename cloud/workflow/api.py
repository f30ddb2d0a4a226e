"""The workflow's HTTP API under `/api/workflow/`: flows (workflow.design), submitting and
acting on instances, the work table's lists and the supervisors' view. Every call is made as
the caller's principal (`current_principal`) and checked by the service it calls."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cloud.calls import answer, now_ms, origin, read_body
from cloud.context import ENGINE
from cloud.errors import ApiError
from cloud.identity.principal import authorize, current_principal
from cloud.workflow import engine, flows, lists

__all__ = ["page_of", "routes"]

_M = TypeVar("_M", bound=BaseModel)


class NewInstance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_key: str = Field(min_length=1, max_length=64)
    form: dict[str, Any] = Field(default_factory=dict)
    record_id: str | None = Field(None, max_length=64)
    title: str | None = Field(None, max_length=200)


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    comment: str | None = Field(None, max_length=2000)


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(None, max_length=2000)


class Resubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form: dict[str, Any]
    comment: str | None = Field(None, max_length=2000)


class Delegation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(None, max_length=2000)


def routes() -> list[web.RouteDef]:
    base = "/api/workflow"
    return [
        web.get(f"{base}/flows", _flow_list),
        web.post(f"{base}/flows", _flow_create),
        web.get(f"{base}/flows/{{code}}", _flow_get),
        web.put(f"{base}/flows/{{code}}", _flow_update),
        web.delete(f"{base}/flows/{{code}}", _flow_delete),
        web.post(f"{base}/instances", _start),
        web.get(f"{base}/instances/{{id}}", _instance),
        web.post(f"{base}/instances/{{id}}/withdraw", _withdraw),
        web.post(f"{base}/instances/{{id}}/resubmit", _resubmit),
        web.post(f"{base}/instances/{{id}}/urge", _urge),
        web.post(f"{base}/tasks/{{id}}/act", _act),
        web.post(f"{base}/tasks/{{id}}/delegate", _delegate),
        web.get(f"{base}/todo", _todo),
        web.get(f"{base}/involved", _involved),
        web.get(f"{base}/done", _done),
        web.get(f"{base}/supervise", _supervise),
    ]


def page_of(request: web.Request) -> lists.Page:
    try:
        return lists.Page(int(request.query.get("page", "1")), int(request.query.get("size", "20")))
    except ValueError:
        raise ApiError("invalid_request", "page 和 size 必须是整数") from None


# ---------------------------------------------------------------------------- handlers


async def _flow_list(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    return answer({"flows": await flows.flow_list(request.app[ENGINE], principal)})


async def _flow_create(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    authorize(principal, flows.DESIGN)
    body = await read_body(request, flows.FlowDefinition)
    result = await flows.create_flow(
        request.app[ENGINE],
        principal,
        body,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result, status=201)


async def _flow_get(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    authorize(principal, flows.DESIGN)
    version = request.query.get("version")
    if version is not None and not version.isdigit():
        raise ApiError("invalid_request", "version 必须是整数")
    async with request.app[ENGINE].connect() as conn:
        result = await flows.flow_view(
            conn, request.match_info["code"], int(version) if version else None
        )
    return answer(result)


async def _flow_update(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    authorize(principal, flows.DESIGN)
    body = await read_body(request, flows.FlowDefinition)
    if body.code != request.match_info["code"]:
        raise ApiError("invalid_request", "流程编号与地址不一致")
    result = await flows.update_flow(
        request.app[ENGINE],
        principal,
        body,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result)


async def _flow_delete(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    await flows.disable_flow(
        request.app[ENGINE],
        principal,
        request.match_info["code"],
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return web.Response(status=204)


async def _start(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    body = await read_body(request, NewInstance)
    result = await engine.start(
        request.app[ENGINE],
        principal,
        business_key=body.business_key,
        form=body.form,
        record_id=body.record_id,
        title=body.title,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result, status=201)


async def _instance(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    result = await lists.instance_view(
        request.app[ENGINE], principal, request.match_info["id"], now_ms=now_ms()
    )
    return answer(result)


async def _withdraw(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    body = await _optional(request, Note)
    result = await engine.withdraw(
        request.app[ENGINE],
        principal,
        request.match_info["id"],
        comment=body.comment,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result)


async def _resubmit(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    body = await read_body(request, Resubmission)
    result = await engine.resubmit(
        request.app[ENGINE],
        principal,
        request.match_info["id"],
        form=body.form,
        comment=body.comment,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result)


async def _urge(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    body = await _optional(request, Note)
    result = await engine.urge(
        request.app[ENGINE],
        principal,
        request.match_info["id"],
        comment=body.comment,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result)


async def _act(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    body = await read_body(request, Action)
    result = await engine.act(
        request.app[ENGINE],
        principal,
        request.match_info["id"],
        decision=body.decision,
        comment=body.comment,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result)


async def _delegate(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    body = await read_body(request, Delegation)
    result = await engine.delegate(
        request.app[ENGINE],
        principal,
        request.match_info["id"],
        to_user=body.to,
        comment=body.comment,
        now_ms=now_ms(),
        origin=origin(request, principal),
    )
    return answer(result)


async def _todo(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    return answer(await lists.todo(request.app[ENGINE], principal, page_of(request)))


async def _involved(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    return answer(await lists.involved(request.app[ENGINE], principal, page_of(request)))


async def _done(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    return answer(await lists.done(request.app[ENGINE], principal, page_of(request)))


async def _supervise(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    result = await lists.supervise(
        request.app[ENGINE], principal, page_of(request), now_ms=now_ms()
    )
    return answer(result)


async def _optional(request: web.Request, model: type[_M]) -> _M:
    """A body that may be left out entirely."""
    if not (await request.read()).strip():
        return model()
    return await read_body(request, model)
